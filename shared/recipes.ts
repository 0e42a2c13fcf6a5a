import type { TrainingParams } from './schemas';

/**
 * Named training recipes, as job parameters (all with the same LeNet-5). Figures and how they were
 * measured: docs/benchmarks.md.
 *  - `default`: the schema's defaults (Adam from 0.0005 with cosine decay, ±2 px shifts, 20 epochs).
 *  - `keras`: the seed project's classic Keras recipe (Adam at a constant 0.001, no augmentation,
 *    20 epochs). Named after Keras, not "seed", which is the random seed's parameter.
 *  - `fast`: the shortest run found to reach 99% test accuracy reliably: 6 epochs of cosine decay from
 *    0.0007 on standardised pixels, labels smoothed by 0.1, ±1 px shifts, all 60,000 images for
 *    training (no validation pass). 99% comes at epoch 4 or 5.
 */
export const RECIPES = {
  default: {},
  keras: { learningRate: 0.001, lrSchedule: 'constant', augmentShift: 0 },
  fast: {
    epochs: 6,
    batchSize: 32,
    learningRate: 0.0007,
    lrSchedule: 'cosine',
    normalizeInputs: true,
    labelSmoothing: 0.1,
    augmentShift: 1,
    validationSplit: 0,
  },
} satisfies Record<string, Partial<TrainingParams>>;

export type RecipeName = keyof typeof RECIPES;

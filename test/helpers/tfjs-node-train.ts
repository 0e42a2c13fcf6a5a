/**
 * The tfjs-node side of test/integration/backend-checkpoints.test.ts, in its own process (with
 * LENET_NATIVE=0: libtensorflow and the oneDNN addon never share a process). Loads the checkpoint
 * in FROM on tfjs-node ('tensorflow' backend, built by local/tfjs-node/build.sh), trains it from
 * epoch START to EPOCHS with trainOnBatch ('layers' route) on the first SUBSET training images,
 * and saves it to TO. Prints one JSON line: {backend, route, iterations}.
 *
 *   LENET_NATIVE=0 npx tsx test/helpers/tfjs-node-train.ts FROM TO START EPOCHS SUBSET
 */
import { loadTfjsNode } from '../bench/tfjs-node';

const [from, to, start, epochs, subset] = process.argv.slice(2);
const loaded = await loadTfjsNode();
if (!loaded.ok) throw new Error(loaded.reason);
const { loadDatasetFromDir, mnistDataDir } = await import('../../shared/dataset');
const { take } = await import('../../shared/idx');
const { disposeModel } = await import('../../shared/model');
const { TrainingParams } = await import('../../shared/schemas');
const { train } = await import('../../functions/trainer/loop/train');
const { readStepSettings } = await import('../../functions/trainer/config');
const { loadCheckpointFiles, saveCheckpointFiles } = await import('./checkpoint-files');

const data = await loadDatasetFromDir(mnistDataDir());
const model = await loadCheckpointFiles(from);
const routes: string[] = [];
const params = TrainingParams.parse({
  epochs: Number(epochs),
  trainSubset: Number(subset),
  validationSplit: 0,
  augmentShift: 0,
  learningRate: 0.001,
  lrSchedule: 'constant',
  threads: 1,
});
await train(model, take(data.train, Number(subset)), {
  params,
  backend: 'tensorflow',
  startEpoch: Number(start),
  step: 'layers',
  // LENET_NATIVE=0 from the caller: libtensorflow and the oneDNN addon never share this process.
  native: readStepSettings().native,
  hooks: { onRoute: (r) => void routes.push(r) },
});
await saveCheckpointFiles(model, to);
const iterations = (await model.optimizer.getWeights())[0].tensor.dataSync()[0];
disposeModel(model);
console.log(JSON.stringify({ backend: (await import('@tensorflow/tfjs-core')).getBackend(), route: routes[0], iterations }));

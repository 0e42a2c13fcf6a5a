/**
 * tfjs-node as built by local/tfjs-node/build.sh (against the TensorFlow C API of the
 * tensorflow-cpu 2.21.0 wheel) into the git-ignored .tfjs-node/: never a dependency of the project.
 *
 * `loadTfjsNode()` loads it into this process, where it registers the 'tensorflow' backend with the
 * project's own tfjs-core (tfjs keeps one engine per process, whichever copy of tfjs-core registers).
 * Run as a script, it is the bench's 'tfjs-node' route, in its own process (libtensorflow bundles its
 * own oneDNN, which should not share a process with the native addon's):
 *
 *   npx tsx test/bench/tfjs-node.ts --batches 200 --warmup 10     → one JSON line {imagesPerSecond, ...}
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { shimNodeUtilForTfjsNode } from '../../shared/tfjs-node-shim';

export const TFJS_NODE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '.tfjs-node');

/** Loads the locally built tfjs-node and activates its backend, or returns why it cannot. */
export async function loadTfjsNode(): Promise<{ ok: true; version: string } | { ok: false; reason: string }> {
  const manifest = path.join(TFJS_NODE_DIR, 'package.json');
  if (!existsSync(path.join(TFJS_NODE_DIR, 'node_modules', '@tensorflow', 'tfjs-node', 'package.json'))) {
    return { ok: false, reason: `tfjs-node is not built (${TFJS_NODE_DIR} is missing): run local/tfjs-node/build.sh` };
  }
  try {
    shimNodeUtilForTfjsNode(); // its ops fail on Node >= 23 without it
    const tfn = createRequire(manifest)('@tensorflow/tfjs-node') as { version: Record<string, string> };
    if (!(await tf.setBackend('tensorflow'))) return { ok: false, reason: 'tfjs-node loaded but its backend did not initialise' };
    return { ok: true, version: tfn.version['tfjs-node'] ?? 'unknown' };
  } catch (err) {
    return { ok: false, reason: `tfjs-node did not load: ${(err as Error).message.split('\n')[0]}` };
  }
}

async function main() {
  const { values } = parseArgs({ options: { batches: { type: 'string', default: '200' }, warmup: { type: 'string', default: '10' } } });
  const loaded = await loadTfjsNode();
  if (!loaded.ok) {
    console.log(JSON.stringify({ error: loaded.reason }));
    return;
  }
  // Imported after the backend is active, so the model's variables live in TensorFlow.
  const { buildLeNet5, disposeModel } = await import('../../shared/model');
  const { loadDatasetFromDir, mnistDataDir } = await import('../../shared/dataset');
  const { batchArrays, shuffledIndices } = await import('../../functions/trainer/loop/data');
  const { createStepper } = await import('../../functions/trainer/steps/stepper');
  const data = await loadDatasetFromDir(mnistDataDir());
  const [batches, warmup, batchSize] = [Number(values.batches), Number(values.warmup), 32];
  const model = buildLeNet5({ seed: 1 });
  const stepper = await createStepper(model, { mode: 'layers', maxBatch: batchSize });
  const order = shuffledIndices(data.train.count, 1);
  const batch = (b: number) => batchArrays(data.train, order.subarray(b * batchSize, (b + 1) * batchSize));
  for (let b = 0; b < warmup; b++) await stepper.step(batch(b));
  const t0 = performance.now();
  for (let b = 0; b < batches; b++) await stepper.step(batch(warmup + b));
  const seconds = (performance.now() - t0) / 1000;
  await stepper.dispose();
  disposeModel(model);
  console.log(
    JSON.stringify({
      imagesPerSecond: (batches * batchSize) / seconds,
      route: 'layers (trainOnBatch)',
      tfjsNode: loaded.version,
      tensors: tf.memory().numTensors,
    }),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();

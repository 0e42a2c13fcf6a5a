/**
 * Checkpoints move between backends: one written by the native oneDNN route (wasm backend process)
 * resumes on tfjs-node (TensorFlow 2.21's C API, 'layers' route, in a child process), and one
 * written there resumes on the native route, with the weights, Adam state and predictions of
 * training on either side. Needs tfjs-node built from source by local/tfjs-node/build.sh (into the
 * git-ignored .tfjs-node/, from the tensorflow-cpu wheel of a local venv) and the native addon;
 * without them it skips and says why. CI builds both on Node 24 and runs it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { loadNativeAddon } from '../../functions/trainer/steps/native/native-step';
import { train } from '../../functions/trainer/loop/train';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { take } from '../../shared/idx';
import { buildLeNet5, disposeModel } from '../../shared/model';
import { TrainingParams } from '../../shared/schemas';
import { TFJS_NODE_DIR } from '../bench/tfjs-node';
import { loadCheckpointFiles, saveCheckpointFiles } from '../helpers/checkpoint-files';
import { relError } from '../helpers/numeric';

const SUBSET = 640; // 20 batches of 32 per epoch
const built = existsSync(path.join(TFJS_NODE_DIR, 'node_modules', '@tensorflow', 'tfjs-node', 'lib'));
const { addon, error } = loadNativeAddon();
const skip = !built
  ? `tfjs-node is not built here (${TFJS_NODE_DIR}): run local/tfjs-node/build.sh (needs a venv with tensorflow-cpu==2.21.0)`
  : !addon
    ? `native addon unavailable: ${error}`
    : false;
if (skip) console.log(`# backend-checkpoints: skipped: ${skip}`);

await initTrainingBackend('wasm');
const data = await loadDatasetFromDir(mnistDataDir());
const subset = take(data.train, SUBSET);
const params = (epochs: number) =>
  TrainingParams.parse({
    epochs,
    trainSubset: SUBSET,
    validationSplit: 0,
    augmentShift: 0,
    learningRate: 0.001,
    lrSchedule: 'constant',
    threads: 1,
  });

/** Trains a checkpoint on tfjs-node from epoch `start` to `epochs` in a child process; its route and Adam iteration count. */
function onTfjsNode(from: string, to: string, start: number, epochs: number): { backend: string; route: string; iterations: number } {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', 'test/helpers/tfjs-node-train.ts', from, to, String(start), String(epochs), String(SUBSET)],
    { encoding: 'utf8', env: { ...process.env, LENET_NATIVE: '0', TF_CPP_MIN_LOG_LEVEL: '3' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

async function onNative(from: string, to: string, start: number, epochs: number): Promise<string[]> {
  const model = await loadCheckpointFiles(from);
  const routes: string[] = [];
  await train(model, subset, {
    params: params(epochs),
    backend: 'wasm',
    startEpoch: start,
    step: 'native',
    hooks: { onRoute: (r) => void routes.push(r) },
  });
  await saveCheckpointFiles(model, to);
  disposeModel(model);
  return routes;
}

const state = async (model: tfl.LayersModel) => ({
  weights: model.getWeights().map((w) => Float32Array.from(w.dataSync())),
  adam: (await model.optimizer.getWeights()).map(({ name, tensor }) => ({
    name: name.replace(/^[^/]+/, ''),
    values: Float32Array.from(tensor.dataSync()),
  })),
});

/** Both checkpoints' weights, Adam state and test predictions agree (they trained the same batches on different backends). */
async function assertSame(dirA: string, dirB: string, what: string, iterations: number) {
  const [a, b] = [await loadCheckpointFiles(dirA), await loadCheckpointFiles(dirB)];
  const [sa, sb] = [await state(a), await state(b)];
  sa.weights.forEach((w, i) =>
    assert.ok(relError(sb.weights[i], w) < 2e-3, `${what}: weight ${i} differs by ${relError(sb.weights[i], w)}`),
  );
  assert.deepEqual(
    sb.adam.map((s) => s.name),
    sa.adam.map((s) => s.name),
  );
  assert.equal(sa.adam[0].values[0], iterations, `${what}: Adam iterations`);
  assert.equal(sb.adam[0].values[0], iterations, `${what}: Adam iterations`);
  sa.adam.slice(1).forEach((s, i) => assert.ok(relError(sb.adam[i + 1].values, s.values) < 2e-2, `${what}: ${s.name}`));
  const test200 = take(data.test, 200);
  const xs = tf.tensor4d(test200.images, [200, 28, 28, 1]);
  const [pa, pb] = tf.tidy(() => [a.predict(xs) as tf.Tensor2D, b.predict(xs) as tf.Tensor2D]);
  const [probsA, probsB] = [pa.dataSync(), pb.dataSync()];
  const [digitsA, digitsB] = [tf.argMax(pa, 1), tf.argMax(pb, 1)].map((t) => {
    const d = Array.from(t.dataSync());
    t.dispose();
    return d;
  });
  const agree = digitsA.filter((d, i) => d === digitsB[i]).length;
  assert.ok(agree >= 199, `${what}: predictions agree on ${agree} of 200 test images`);
  let maxDiff = 0;
  for (let i = 0; i < probsA.length; i++) maxDiff = Math.max(maxDiff, Math.abs(probsA[i] - probsB[i]));
  assert.ok(maxDiff < 1e-2, `${what}: probabilities differ by up to ${maxDiff}`);
  tf.dispose([xs, pa, pb]);
  disposeModel(a);
  disposeModel(b);
}

test('a native checkpoint resumes on tfjs-node and a tfjs-node checkpoint on the native route, as if trained on one', {
  skip,
}, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lenet-backend-ckpt-'));
  const at = (name: string) => path.join(dir, name);
  try {
    // Epoch 1 on the native route.
    const model = buildLeNet5({ seed: 21, learningRate: 0.001 });
    await train(model, subset, { params: params(1), backend: 'wasm', step: 'native' });
    await saveCheckpointFiles(model, at('native-1'));
    disposeModel(model);
    // Epoch 2 from that checkpoint: on tfjs-node, and on the native route for reference.
    const tfn = onTfjsNode(at('native-1'), at('tfjs-node-2'), 1, 2);
    assert.deepEqual([tfn.backend, tfn.route, tfn.iterations], ['tensorflow', 'layers', 40]);
    assert.match((await onNative(at('native-1'), at('native-2'), 1, 2))[0], /^native/);
    await assertSame(at('native-2'), at('tfjs-node-2'), 'native → tfjs-node', 40);
    // Epoch 3 from the checkpoint tfjs-node wrote: on the native route, and on tfjs-node for reference.
    await onNative(at('tfjs-node-2'), at('native-3'), 2, 3);
    assert.equal(onTfjsNode(at('tfjs-node-2'), at('tfjs-node-3'), 2, 3).iterations, 60);
    await assertSame(at('native-3'), at('tfjs-node-3'), 'tfjs-node → native', 60);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * The oneDNN route (functions/trainer/steps/native/) against the wasm step, on real MNIST:
 * gradients and Adam steps agree, checkpoints move between the routes, and training learns.
 * Skipped (with the reason) when the addon is not built: `npm run build:native`.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { take } from '../../shared/idx';
import { buildLeNet5, compileLeNet5, disposeModel } from '../../shared/model';
import { TrainingParams } from '../../shared/schemas';
import { lenetGradients } from '../../functions/trainer/steps/wasm-step';
import { loadNativeAddon, modelVariables, NativeLeNet, nativeEvaluate } from '../../functions/trainer/steps/native/native-step';
import { createStepper } from '../../functions/trainer/steps/stepper';
import { batchArrays, shuffledIndices } from '../../functions/trainer/loop/data';
import { evaluate } from '../../functions/trainer/loop/evaluate';
import { train } from '../../functions/trainer/loop/train';
import { maxAbsDiff, relError } from '../helpers/numeric';

const { addon, error } = loadNativeAddon();
const skip = addon ? false : `native addon unavailable: ${error}`;
const data = await loadDatasetFromDir(mnistDataDir());
await initTrainingBackend('wasm');

const weightsOf = (model: tfl.LayersModel) => model.getWeights().map((t) => Float32Array.from(t.dataSync()));
/** The optimizer's saved state (iterations, then m and v of every weight), as plain arrays. */
async function adamState(model: tfl.LayersModel): Promise<{ name: string; values: Float32Array }[]> {
  const named = await model.optimizer.getWeights();
  return named.map(({ name, tensor }) => ({ name, values: Float32Array.from(tensor.dataSync()) }));
}
const batchOf = (from: number, n: number) =>
  batchArrays(
    data.train,
    Array.from({ length: n }, (_, i) => from + i),
  );

test('native gradients equal the wasm step on real MNIST batches (1 and 2 threads, full and odd batches)', { skip }, () => {
  const model = buildLeNet5({ seed: 3 });
  const vars = modelVariables(model);
  const net = new NativeLeNet(addon!, vars, model.optimizer, { batch: 32, threads: [1, 2] });
  for (const [n, threads] of [
    [32, 1],
    [32, 2],
    [7, 2],
  ]) {
    const { pixels, labels } = batchOf(200 + n, n);
    const ref = lenetGradients(vars, pixels, labels, 1 / n);
    const mine = net.gradients(pixels, labels, threads, 1 / n);
    assert.ok(
      Math.abs(mine.result.lossSum - ref.result.lossSum) < 1e-4 * n,
      `loss n=${n}: ${mine.result.lossSum} vs ${ref.result.lossSum}`,
    );
    assert.equal(mine.result.correct, ref.result.correct);
    ref.grads.forEach((g, i) => {
      const err = relError(mine.grads[i], g.dataSync());
      assert.ok(err < 1e-4, `${vars[i].name} n=${n} threads=${threads}: relative error ${err}`);
    });
    tf.dispose(ref.grads);
  }
  disposeModel(model);
});

test('native gradients with label smoothing equal the wasm step with it', { skip }, () => {
  const model = buildLeNet5({ seed: 4 });
  const vars = modelVariables(model);
  const net = new NativeLeNet(addon!, vars, model.optimizer, { batch: 32, threads: [2] });
  const { pixels, labels } = batchOf(900, 32);
  const plain = lenetGradients(vars, pixels, labels, 1 / 32);
  const ref = lenetGradients(vars, pixels, labels, 1 / 32, 0.1);
  const mine = net.gradients(pixels, labels, 2, 1 / 32, 0.1);
  assert.ok(Math.abs(mine.result.lossSum - plain.result.lossSum) < 1e-4 * 32, 'the reported loss stays plain cross-entropy');
  ref.grads.forEach((g, i) => {
    const err = relError(mine.grads[i], g.dataSync());
    assert.ok(err < 1e-4, `${vars[i].name}: relative error ${err}`);
  });
  // dense2's bias gradient is the mean of (p − target): smoothing must change it.
  assert.ok(relError(mine.grads[9], plain.grads[9].dataSync()) > 1e-2, 'smoothing left the gradients as they were');
  assert.throws(() => net.gradients(pixels, labels, 2, 1 / 32, 1.5), /smoothing must be from 0 to 1/);
  tf.dispose([...plain.grads, ...ref.grads]);
  disposeModel(model);
});

test('native Adam steps match the wasm step from the same weights (weights and optimizer state)', { skip }, async () => {
  const [wasmModel, nativeModel] = [buildLeNet5({ seed: 11 }), buildLeNet5({ seed: 11 })];
  const start = weightsOf(wasmModel);
  const wasm = await createStepper(wasmModel, { mode: 'wasm', threads: 1, maxBatch: 32 });
  const native = await createStepper(nativeModel, { mode: 'native', threads: 2, maxBatch: 32 });
  assert.equal(native.name, 'native×2');
  const steps = 3;
  for (let s = 0; s < steps; s++) {
    const batch = batchOf(1000 + 32 * s, 32);
    const [a, b] = [await wasm.step(batch), await native.step(batch)];
    assert.ok(Math.abs(a.lossSum - b.lossSum) < 1e-3, `loss at step ${s}`);
  }
  native.sync();
  const [after, afterNative] = [weightsOf(wasmModel), weightsOf(nativeModel)];
  after.forEach((w, i) => {
    // Each step moves a weight by up to the learning rate; the routes agree far more closely.
    const moved = maxAbsDiff(w, start[i]);
    assert.ok(moved > 0.5 * steps * 0.0005, `weight ${i} moved ${moved}`);
    const diff = maxAbsDiff(afterNative[i], w);
    assert.ok(diff < 0.02 * moved, `weight ${i}: routes differ by ${diff}, moved ${moved}`);
  });
  const [stateA, stateB] = [await adamState(wasmModel), await adamState(nativeModel)];
  // The two models' layers are numbered apart ('conv2d_Conv2D1' vs '…7'); the rest of each name must match.
  const role = (name: string) => name.replace(/^[^/]+/, '');
  assert.deepEqual(
    stateB.map((s) => role(s.name)),
    stateA.map((s) => role(s.name)),
  );
  assert.equal(stateA[0].values[0], steps);
  assert.equal(stateB[0].values[0], steps);
  stateA.forEach((s, i) => assert.ok(relError(stateB[i].values, s.values) < 1e-3, `${s.name}: ${relError(stateB[i].values, s.values)}`));
  await Promise.all([wasm.dispose(), native.dispose()]);
  disposeModel(wasmModel);
  disposeModel(nativeModel);
});

/** Saves a model with its optimizer to memory and loads it back, as the checkpoints do through S3. */
async function roundTrip(model: tfl.LayersModel, learningRate: number): Promise<tfl.LayersModel> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
    { includeOptimizer: true },
  );
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved!));
  if (!loaded.optimizer) compileLeNet5(loaded, learningRate);
  return loaded;
}

test('a checkpoint from either route resumes on the other with the same Adam state and weights', { skip }, async () => {
  const params = TrainingParams.parse({
    epochs: 2,
    trainSubset: 640,
    validationSplit: 0,
    augmentShift: 0,
    learningRate: 0.001,
    threads: 1,
  });
  const subset = take(data.train, 640);
  for (const [first, second] of [
    ['native', 'wasm'],
    ['wasm', 'native'],
  ] as const) {
    // Reference: both epochs on `first`, continuously. Then: epoch 1 on `first`, save, load, epoch 2 on `second`.
    const ref = buildLeNet5({ seed: 21, learningRate: 0.001 });
    await train(ref, subset, { params, backend: 'wasm', step: first });
    const model = buildLeNet5({ seed: 21, learningRate: 0.001 });
    const routes: string[] = [];
    await train(model, subset, {
      params: { ...params, epochs: 1 },
      backend: 'wasm',
      step: first,
      hooks: { onRoute: (r) => routes.push(r) },
    });
    const before = await adamState(model);
    const resumed = await roundTrip(model, 0.001);
    const loadedState = await adamState(resumed);
    assert.deepEqual(
      loadedState.map((s) => s.name),
      before.map((s) => s.name),
    );
    loadedState.forEach((s, i) => assert.deepEqual(s.values, before[i].values, `${first} checkpoint: ${s.name} survives the round trip`));
    await train(resumed, subset, { params, backend: 'wasm', step: second, startEpoch: 1, hooks: { onRoute: (r) => routes.push(r) } });
    assert.deepEqual(
      routes.map((r) => r.split('×')[0]),
      [first, second],
    );
    const [a, b] = [weightsOf(ref), weightsOf(resumed)];
    const [stateA, stateB] = [await adamState(ref), await adamState(resumed)];
    assert.equal(stateB[0].values[0], 40, 'iterations after 2 epochs of 20 batches');
    assert.equal(stateA[0].values[0], 40);
    a.forEach((w, i) => {
      const err = relError(b[i], w);
      assert.ok(err < 2e-3, `${first}→${second}: weight ${i} relative difference ${err}`);
    });
    stateA.slice(1).forEach((s, i) => assert.ok(relError(stateB[i + 1].values, s.values) < 2e-2, `${first}→${second}: ${s.name}`));
    disposeModel(ref);
    disposeModel(model);
    disposeModel(resumed);
  }
});

test('a short native training run lowers the loss on real MNIST and the tf variables see it', { skip }, async () => {
  const params = TrainingParams.parse({
    epochs: 3,
    trainSubset: 3000,
    validationSplit: 0.1,
    augmentShift: 0,
    learningRate: 0.001,
    lrSchedule: 'constant',
    threads: 'auto',
  });
  const model = buildLeNet5({ seed: 8, learningRate: 0.001 });
  const metrics: { loss: number; valAccuracy?: number; route?: string }[] = [];
  await train(model, take(data.train, 3000), {
    params,
    backend: 'wasm',
    step: 'auto',
    hooks: { onEpochEnd: async (m) => void metrics.push(m) },
  });
  assert.equal(metrics.length, 3);
  assert.ok(
    metrics.every((m) => m.route === 'native×auto'),
    `routes: ${metrics.map((m) => m.route)}`,
  );
  assert.ok(metrics[2].loss < 0.6 * metrics[0].loss, `loss ${metrics.map((m) => m.loss.toFixed(3))}`);
  // Validation runs on the tf model, so this checks the weights were synced back each epoch.
  assert.ok(metrics[2].valAccuracy! > 0.85, `val accuracy ${metrics[2].valAccuracy}`);
  disposeModel(model);
});

/** The addon disabled (LENET_NATIVE=0 in the trainer's config), as on a machine without it. */
const NO_ADDON = { enabled: false };

test('native evaluation gives the tfjs predict figures on real MNIST test images (odd count, after training)', { skip }, async () => {
  const model = buildLeNet5({ seed: 5 });
  const stepper = await createStepper(model, { mode: 'native', threads: 1, maxBatch: 32 });
  for (let b = 0; b < 30; b++) await stepper.step(batchOf(32 * b, 32));
  stepper.sync();
  const test1013 = take(data.test, 1013);
  const mine = nativeEvaluate(model, test1013);
  assert.ok(mine, 'the addon evaluates buildLeNet5 models');
  const viaEvaluate = await evaluate(model, test1013);
  assert.deepEqual(viaEvaluate, mine, 'evaluate() takes the native route when the addon is built');
  const ref = await evaluate(model, test1013, NO_ADDON);
  // Float rounding may flip an arg-max that is a near tie; nothing more.
  assert.ok(Math.abs(mine.accuracy - ref.accuracy) * 1013 <= 1, `accuracy ${mine.accuracy} vs tfjs ${ref.accuracy}`);
  assert.ok(mine.accuracy > 0.5, `accuracy after 30 steps: ${mine.accuracy}`);
  assert.ok(Math.abs(mine.loss - ref.loss) < 1e-4 * ref.loss + 1e-6, `loss ${mine.loss} vs tfjs ${ref.loss}`);
  await stepper.dispose();
  disposeModel(model);
});

test('the route falls back to the wasm step when the addon is disabled', async () => {
  const model = buildLeNet5({ seed: 1 });
  const stepper = await createStepper(model, { mode: 'auto', native: NO_ADDON, threads: 1, maxBatch: 32 });
  assert.equal(stepper.name, 'wasm');
  assert.match(stepper.fallback ?? '', /LENET_NATIVE=0/);
  await assert.rejects(
    createStepper(model, { mode: 'native', native: NO_ADDON, threads: 1, maxBatch: 32 }),
    /native training step unavailable/,
  );
  await stepper.dispose();
  disposeModel(model);
});

test('native route: shuffled full epoch of batch sizes 32 and a smaller last batch stays finite', { skip }, async () => {
  const model = buildLeNet5({ seed: 2 });
  const stepper = await createStepper(model, { mode: 'native', threads: 'auto', maxBatch: 32 });
  const order = shuffledIndices(1000, 1);
  for (let b = 0; b * 32 < 1000; b++) {
    const r = await stepper.step(batchArrays(data.train, order.subarray(b * 32, (b + 1) * 32)));
    assert.ok(Number.isFinite(r.lossSum));
  }
  stepper.sync();
  for (const w of weightsOf(model)) assert.ok(w.every(Number.isFinite));
  await stepper.dispose();
  disposeModel(model);
});

/** DNNL_VERSION_MAJOR.MINOR.PATCH of a oneDNN include/ folder. */
function headerVersion(include: string): string {
  const text = readFileSync(path.join(include, 'oneapi', 'dnnl', 'dnnl_version.h'), 'utf8');
  return ['MAJOR', 'MINOR', 'PATCH'].map((part) => new RegExp(`#define DNNL_VERSION_${part} (\\d+)`).exec(text)![1]).join('.');
}

test('the addon runs the oneDNN it was compiled against, from the source build:native was asked for', { skip }, () => {
  // The rpath must find the same library as the headers (a stray libdnnl elsewhere would differ).
  assert.equal(addon!.dnnlLoaded, addon!.dnnlVersion);
  if (process.env.LENET_NATIVE_ADDON) return; // another build, outside build/
  const repo = path.join(import.meta.dirname, '..', '..');
  const nativeDir = path.join(repo, 'functions', 'trainer', 'steps', 'native');
  const [source] = readFileSync(path.join(nativeDir, 'build', 'lenet-onednn.txt'), 'utf8').split('\n');
  const include =
    source === 'pypi' ? path.join(repo, '.venv-onednn', 'include') : source === 'system' ? '/usr/include' : path.join(source, 'include');
  assert.equal(addon!.dnnlVersion, headerVersion(include));
  if (source === 'pypi') assert.match(addon!.dnnlVersion, /^3\./);
});

test('a missing addon is reported with the command that builds it', () => {
  assert.match(loadNativeAddon({ addonPath: '/nonexistent/lenet_native.node' }).error ?? '', /not built .*npm run build:native/);
});

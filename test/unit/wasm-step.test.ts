import os from 'node:os';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { take } from '../../shared/idx';
import { buildLeNet5, disposeModel } from '../../shared/model';
import { TrainingParams } from '../../shared/schemas';
import { adamUpdate, lenetStepSupported, lenetGradients } from '../../functions/trainer/steps/wasm-step';
import { createStepper } from '../../functions/trainer/steps/stepper';
import { batchArrays, shuffledIndices } from '../../functions/trainer/loop/data';
import { evaluate } from '../../functions/trainer/loop/evaluate';
import { train } from '../../functions/trainer/loop/train';
import type * as tfl from '@tensorflow/tfjs-layers';
import { maxAbsDiff } from '../helpers/numeric';
import type { EpochMetrics } from '../../shared/documents';

const data = await loadDatasetFromDir(mnistDataDir());

const vars = (model: tfl.LayersModel) => model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
const snapshot = (model: tfl.LayersModel) => model.getWeights().map((t) => Float32Array.from(t.dataSync()));

test('hand-written LeNet-5 gradients equal autodiff of the tfjs-layers model (wasm)', async () => {
  await initTrainingBackend('wasm');
  const model = buildLeNet5({ seed: 5 });
  assert.ok(lenetStepSupported(model));
  for (const n of [32, 7, 1]) {
    const { pixels, labels, oneHot } = batchArrays(
      data.train,
      Array.from({ length: n }, (_, i) => 100 + i * 3),
    );
    const x = tf.tensor4d(pixels, [n, 28, 28, 1]);
    const y = tf.tensor2d(oneHot, [n, 10]);
    const { value, grads } = tf.variableGrads(
      () =>
        tf.tidy(() => {
          const p = model.apply(x, { training: true }) as tf.Tensor;
          return tf.mean(tf.neg(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, 1e-7, 1 - 1e-7))), -1))) as tf.Scalar;
        }),
      vars(model),
    );
    const mine = lenetGradients(vars(model), pixels, labels, 1 / n);
    assert.ok(Math.abs(mine.result.lossSum / n - value.dataSync()[0]) < 1e-5, `loss n=${n}`);
    vars(model).forEach((v, i) => {
      const ref = grads[v.name].dataSync();
      const scale = maxAbsDiff(ref, new Float32Array(ref.length));
      assert.ok(maxAbsDiff(ref, mine.grads[i].dataSync()) <= 1e-4 * scale + 1e-9, `${v.name} n=${n}`);
    });
    tf.dispose([x, y, value, ...Object.values(grads), ...mine.grads]);
  }
  disposeModel(model);
});

test('the fused Adam update equals exact Adam and tf.train.adam, state included (wasm)', async () => {
  await initTrainingBackend('wasm');
  const lr = 0.05;
  const initial = [
    [
      [1, -2],
      [3, 0.5],
    ],
    [0.1, 0, -4],
  ];
  const make = (tag: string) => ({
    v: <tf.Variable[]>[
      tf.variable(tf.tensor2d(initial[0] as number[][]) as tf.Tensor, true, `${tag}/w`),
      tf.variable(tf.tensor1d(initial[1] as number[]) as tf.Tensor, true, `${tag}/b`),
    ],
    opt: tf.train.adam(lr),
  });
  const ref = make('ref');
  const mine = make('mine');
  const steps = [
    [
      [
        [0.5, -1],
        [2, 0],
      ],
      [1, 1e-9, -3],
    ],
    [
      [
        [-0.5, 1],
        [0.1, 0],
      ],
      [3, -1e-9, 0],
    ],
    [
      [
        [0.2, 0.2],
        [0.2, 7],
      ],
      [0, 1, 2],
    ],
  ];
  // Adam in float64, written out from the paper (β1 0.9, β2 0.999, ε 1e-7 as in tf.train.adam).
  const exact = initial.map((w) => (w as number[] | number[][]).flat());
  const m = exact.map((w) => w.map(() => 0));
  const v = exact.map((w) => w.map(() => 0));
  steps.forEach(([gw, gb], s) => {
    const g = [tf.tensor2d(gw as number[][]), tf.tensor1d(gb as number[])];
    ref.opt.applyGradients([
      { name: 'ref/w', tensor: g[0] },
      { name: 'ref/b', tensor: g[1] },
    ]);
    adamUpdate(mine.opt, mine.v, g);
    tf.dispose(g);
    [(gw as number[][]).flat(), gb as number[]].forEach((grad, k) =>
      grad.forEach((gj, j) => {
        m[k][j] = 0.9 * m[k][j] + 0.1 * gj;
        v[k][j] = 0.999 * v[k][j] + 0.001 * gj * gj;
        exact[k][j] -= (lr * m[k][j]) / (1 - 0.9 ** (s + 1)) / (Math.sqrt(v[k][j] / (1 - 0.999 ** (s + 1))) + 1e-7);
      }),
    );
  });
  // Ours stays within float32 rounding of the exact values; tf's own float32 ops drift further, so
  // the two implementations are held to agree within 3e-6.
  mine.v.forEach((w, i) => assert.ok(maxAbsDiff(w.dataSync(), exact[i]) < 5e-7, `exact ${i}: ${maxAbsDiff(w.dataSync(), exact[i])}`));
  ref.v.forEach((w, i) => assert.ok(maxAbsDiff(w.dataSync(), mine.v[i].dataSync()) < 3e-6, `tf ${i}`));
  const [refState, myState] = [await ref.opt.getWeights(), await mine.opt.getWeights()];
  assert.deepEqual(
    myState.map((w) => w.name.replace('mine', 'ref')),
    refState.map((w) => w.name),
  );
  refState.forEach((w, i) => assert.ok(maxAbsDiff(w.tensor.dataSync(), myState[i].tensor.dataSync()) < 1e-6, w.name));
});

test('label smoothing: the wasm step and gradient threads train the same model as trainOnBatch on smoothed targets', async () => {
  await initTrainingBackend('wasm');
  const steps = 15;
  const layers = await trainSteps('layers', 1, steps, 32, 0.1);
  const single = await trainSteps('wasm', 1, steps, 32, 0.1);
  const parallel = await trainSteps('wasm', 2, steps, 32, 0.1);
  const plain = await trainSteps('wasm', 1, steps);
  for (const run of [single, parallel]) {
    run.weights.forEach((w, i) =>
      assert.ok(maxAbsDiff(w, layers.weights[i]) < 2e-4, `${run.name} weight ${i}: ${maxAbsDiff(w, layers.weights[i])}`),
    );
  }
  // The wasm routes report plain cross-entropy whatever the smoothing: the same as each other.
  single.losses.forEach((l, i) => assert.ok(Math.abs(l - parallel.losses[i]) < 1e-3 * 32, `loss at step ${i}`));
  // And smoothing changes the training: far more than the routes differ from each other.
  const moved = Math.max(...plain.weights.map((w, i) => maxAbsDiff(w, single.weights[i])));
  assert.ok(moved > 5e-3, `smoothing moved the weights by ${moved} only`);
});

/** Trains `steps` batches of the same seeded data order with the given route; returns the weights. */
async function trainSteps(mode: 'layers' | 'wasm', threads: number | 'auto', steps: number, batchSize = 32, labelSmoothing?: number) {
  const model = buildLeNet5({ seed: 11 });
  const stepper = await createStepper(model, { mode, threads, maxBatch: batchSize, labelSmoothing });
  const order = shuffledIndices(data.train.count, 4);
  const tensors: number[] = [];
  const losses: number[] = [];
  for (let b = 0; b < steps; b++) {
    const r = await stepper.step(batchArrays(data.train, order.subarray(b * batchSize, (b + 1) * batchSize)));
    losses.push(r.lossSum);
    tensors.push(tf.memory().numTensors);
  }
  const threadsUsed = stepper.takeThreadsUsed();
  await stepper.dispose();
  const weights = snapshot(model);
  // Moment names relative to the model's own variable names (layer name counters differ per model).
  const names = vars(model).map((v) => v.name);
  const optimizerNames = (await model.optimizer.getWeights()).map((w) =>
    w.name.replace(/^(.*)\/([mv])$/, (_, v, k) => `${names.indexOf(v)}/${k}`),
  );
  disposeModel(model);
  return { weights, losses, tensors, optimizerNames, name: stepper.name, threadsUsed };
}

test('wasm step and data-parallel gradient threads train the same model as trainOnBatch (same seed and data order)', async () => {
  await initTrainingBackend('wasm');
  const steps = 25;
  const layers = await trainSteps('layers', 1, steps);
  const single = await trainSteps('wasm', 1, steps);
  const parallel = await trainSteps('wasm', 2, steps);
  const three = await trainSteps('wasm', 3, steps, 31);
  // 'auto' switches between 1 and 2 threads by their timings (both are timed in the first steps).
  const auto = await trainSteps('wasm', 'auto', steps);
  assert.equal(parallel.name, 'wasm×2');
  assert.equal(auto.name, os.availableParallelism() > 1 ? 'wasm×auto' : 'wasm');
  assert.deepEqual([layers.threadsUsed, single.threadsUsed, parallel.threadsUsed], [undefined, 1, 2]);
  assert.ok([1, 2].includes(auto.threadsUsed!), `auto used ${auto.threadsUsed}`);
  for (const run of [single, parallel, auto]) {
    // Same float32 math in a different summation order: differences stay at rounding level, and
    // the bound is far below one step's size (lr 1e-3).
    run.weights.forEach((w, i) =>
      assert.ok(maxAbsDiff(w, layers.weights[i]) < 2e-4, `${run.name} weight ${i}: ${maxAbsDiff(w, layers.weights[i])}`),
    );
    run.losses.forEach((l, i) => assert.ok(Math.abs(l - layers.losses[i]) < 1e-3 * 32, `${run.name} loss at step ${i}`));
    assert.deepEqual(run.optimizerNames, layers.optimizerNames);
    // No tensor leaks across steps (the first step creates the 20 Adam moments).
    assert.ok(
      run.tensors.slice(1).every((t) => t === run.tensors[1]),
      `${run.name} tensors ${run.tensors}`,
    );
  }
  assert.ok(three.tensors.slice(1).every((t) => t === three.tensors[1]));
  assert.ok(three.losses.every(Number.isFinite));
});

test('train() with gradient threads: the epoch metrics and stop hook work as single-threaded', async () => {
  await initTrainingBackend('wasm');
  const subset = take(data.train, 640);
  const metrics: Record<string, EpochMetrics> = {};
  for (const threads of [1, 2]) {
    const model = buildLeNet5({ seed: 2 });
    const params = TrainingParams.parse({ epochs: 1, validationSplit: 0, augmentShift: 1, seed: 2, threads });
    await train(model, subset, {
      params,
      backend: 'wasm',
      hooks: {
        onEpochEnd: async (m) => {
          metrics[threads] = m;
        },
      },
    });
    disposeModel(model);
  }
  assert.ok(Math.abs(metrics[1].loss - metrics[2].loss) < 1e-3, `${metrics[1].loss} vs ${metrics[2].loss}`);
  assert.ok(Math.abs(metrics[1].accuracy - metrics[2].accuracy) <= 2 / 640);
  assert.deepEqual([metrics[1].threads, metrics[2].threads], [1, 2]);

  const model = buildLeNet5({ seed: 2 });
  let batches = 0;
  const outcome = await train(model, subset, {
    params: TrainingParams.parse({ epochs: 1, validationSplit: 0, threads: 2 }),
    backend: 'wasm',
    hooks: { onBatchEnd: () => void batches++, shouldStop: () => batches >= 2 },
  });
  assert.equal(outcome, 'stopped');
  assert.equal(batches, 2);
  disposeModel(model);
});

test('a short run on the portable backend reaches the accuracy of the same run on the cpu backend', async () => {
  // The cpu backend trains slowly: keep this tiny (6 batches of 32).
  const subset = take(data.train, 192);
  const test200 = take(data.test, 500);
  const params = TrainingParams.parse({ epochs: 1, validationSplit: 0, augmentShift: 0, lrSchedule: 'constant', seed: 9 });

  assert.equal(await initTrainingBackend('cpu'), 'cpu');
  const onCpu = buildLeNet5({ seed: 9 });
  await train(onCpu, subset, { params, backend: 'cpu' });
  const cpuWeights = snapshot(onCpu);
  disposeModel(onCpu);

  assert.equal(await initTrainingBackend('wasm'), 'wasm');
  const onWasm = buildLeNet5({ seed: 9 });
  await train(onWasm, subset, { params, backend: 'wasm' });
  const fromCpu = buildLeNet5({ seed: 9 });
  fromCpu.setWeights(cpuWeights.map((w, i) => tf.tensor(w, onWasm.getWeights()[i].shape)));
  snapshot(onWasm).forEach((w, i) => assert.ok(maxAbsDiff(w, cpuWeights[i]) < 1e-4, `weight ${i}`));
  const [wasmAcc, cpuAcc] = [await evaluate(onWasm, test200), await evaluate(fromCpu, test200)];
  assert.ok(cpuAcc.accuracy > 0.3, `cpu run learned something: ${cpuAcc.accuracy}`);
  assert.ok(Math.abs(wasmAcc.accuracy - cpuAcc.accuracy) <= 0.01, `wasm ${wasmAcc.accuracy} vs cpu ${cpuAcc.accuracy}`);
  disposeModel(onWasm);
  disposeModel(fromCpu);
});

/**
 * A hand-written LeNet-5 training step: the forward pass, the backward pass and the Adam update,
 * written out op by op instead of going through tfjs-layers' `trainOnBatch` and the autodiff tape.
 *
 * Why: `trainOnBatch` runs many kernels per step (the tape's generic gradients, per-op Adam with
 * bias-correction ops and assigns, metrics, a clone per weight read), each with engine bookkeeping;
 * on the wasm backend that bookkeeping and the small elementwise kernels cost as much as the
 * convolutions. Here a step is a few dozen ops with no tape, and Adam is one pass per weight
 * (counts and timings: docs/benchmarks.md).
 *
 * It trains the very same `LayersModel`: the gradients are written for the architecture built by
 * `buildLeNet5` (checked by `lenetStepSupported`, otherwise callers keep `trainOnBatch`), the
 * weights are the model's own variables, and the Adam moments are the model optimizer's own
 * (`${name}/m`, `${name}/v`, the iteration count and β powers), so `model.save` with
 * `includeOptimizer` and resuming work as before. Loss and accuracy are Keras' categorical
 * cross-entropy (probabilities clipped to [1e-7, 1 − 1e-7]) and categorical accuracy.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { AvgPoolGrad, Conv2DBackpropFilter, Conv2DBackpropInput } from '@tensorflow/tfjs-core';
import { heapSimd, wasmHeap } from './wasm/heap-simd';
import { IMAGE_SIZE, NUM_CLASSES } from '../../../shared/model';

const EPSILON = 1e-7;

/** The 10 trainable weights in model order: [conv1 kernel, conv1 bias, conv2 …, dense2 bias]. */
export type LeNetWeights = tf.Tensor[];

interface LayerSpec {
  className: string;
  check?: (config: Record<string, unknown>) => boolean;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const conv = (filters: number): LayerSpec => ({
  className: 'Conv2D',
  check: (c) =>
    c.filters === filters &&
    same(c.kernel_size, [5, 5]) &&
    same(c.strides, [1, 1]) &&
    c.padding === 'valid' &&
    (c.data_format ?? 'channelsLast') === 'channelsLast' &&
    same(c.dilation_rate, [1, 1]) &&
    c.activation === 'tanh' &&
    c.use_bias === true,
});
const pool = (strides: number): LayerSpec => ({
  className: 'AveragePooling2D',
  check: (c) =>
    same(c.pool_size, [2, 2]) &&
    same(c.strides, [strides, strides]) &&
    c.padding === 'valid' &&
    (c.data_format ?? 'channelsLast') === 'channelsLast',
});
const dense = (units: number, activation: string): LayerSpec => ({
  className: 'Dense',
  check: (c) => c.units === units && c.activation === activation && c.use_bias === true,
});
const LENET5: LayerSpec[] = [
  conv(6),
  pool(1),
  conv(16),
  pool(2),
  conv(120),
  { className: 'Flatten' },
  dense(84, 'tanh'),
  dense(NUM_CLASSES, 'softmax'),
];

/**
 * True when `model` is the LeNet-5 of `buildLeNet5` (28x28x1 input), compiled with Adam and
 * categorical cross-entropy: the hand-written step computes exactly its gradients.
 */
export function lenetStepSupported(model: tfl.LayersModel): boolean {
  if (model.layers.length !== LENET5.length) return false;
  const ok = LENET5.every((spec, i) => {
    const layer = model.layers[i];
    if (layer.getClassName() !== spec.className) return false;
    const config = snakeConfig(layer.getConfig() as Record<string, unknown>);
    return spec.check ? spec.check(config) : true;
  });
  const input = model.inputs[0]?.shape;
  const optimizer = model.optimizer as unknown as { getClassName?: () => string } | undefined;
  const loss = (model as unknown as { loss?: unknown }).loss;
  return (
    ok &&
    same(input, [null, IMAGE_SIZE, IMAGE_SIZE, 1]) &&
    model.trainableWeights.length === 10 &&
    optimizer?.getClassName?.() === 'Adam' &&
    (loss === 'categoricalCrossentropy' || loss === 'categorical_crossentropy')
  );
}

/** Layer configs come camelCased from getConfig(); compare in the Keras (snake_case) spelling. */
function snakeConfig(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) out[k.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`)] = v;
  const normalise = (v: unknown) => (typeof v === 'number' ? [v, v] : v);
  for (const k of ['kernel_size', 'strides', 'pool_size', 'dilation_rate']) if (k in out) out[k] = normalise(out[k]);
  return out;
}

/** A new float32 tensor of `shape` on the wasm heap, written by `fill`. */
function heapTensor(shape: number[], fill: (out: tf.TensorInfo) => void): tf.Tensor {
  const out = wasmHeap().makeOutput(shape, 'float32');
  fill(out);
  return tf.engine().makeTensorFromTensorInfo(out);
}

/** dy · (1 − y²): the tanh derivative from its output, in one pass. */
function tanhGrad(y: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  return heapTensor(y.shape, (out) => heapSimd().tanhGrad(out, y, dy));
}

/** A bias gradient: dz summed over every axis but the last (channels / units). */
function biasGrad(dz: tf.Tensor): tf.Tensor {
  return heapTensor([dz.shape[dz.shape.length - 1]], (out) => heapSimd().columnSum(out, dz));
}

function convFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: number[]): tf.Tensor4D {
  return tf.engine().runKernel(Conv2DBackpropFilter, { x, dy }, {
    strides: [1, 1],
    pad: 'valid',
    dataFormat: 'NHWC',
    dimRoundingMode: undefined,
    filterShape,
  } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

function convInputGrad(dy: tf.Tensor4D, filter: tf.Tensor, inputShape: number[]): tf.Tensor4D {
  return tf.engine().runKernel(Conv2DBackpropInput, { dy, filter }, {
    strides: [1, 1],
    pad: 'valid',
    dataFormat: 'NHWC',
    dimRoundingMode: undefined,
    inputShape,
  } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

function avgPoolGrad(dy: tf.Tensor4D, input: tf.Tensor4D, strides: number): tf.Tensor4D {
  return tf.engine().runKernel(AvgPoolGrad, { dy, input }, {
    filterSize: [2, 2],
    strides: [strides, strides],
    pad: 'valid',
  } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

export interface StepResult {
  /** Sum over the batch of the per-example cross-entropy. */
  lossSum: number;
  /** Number of examples whose arg-max prediction matches the label. */
  correct: number;
}

/**
 * Gradients of `scale` × Σ (per-example cross-entropy) over the examples in `images`/`labels`
 * w.r.t. the 10 weights (use scale = 1 / batch size for the mean loss), against one-hot labels
 * smoothed towards uniform by `labelSmoothing` (Keras' label_smoothing). Returns new tensors
 * (caller disposes) and the batch's loss sum (plain cross-entropy) and hit count. wasm backend only.
 */
export function lenetGradients(
  weights: LeNetWeights,
  images: Float32Array,
  labels: ArrayLike<number>,
  scale: number,
  labelSmoothing = 0,
): { grads: tf.Tensor[]; result: StepResult } {
  const offTarget = labelSmoothing / NUM_CLASSES;
  const onTarget = 1 - labelSmoothing + offTarget;
  const n = labels.length;
  const [w1, b1, w2, b2, w3, b3, w4, b4, w5, b5] = weights;
  let result: StepResult = { lossSum: 0, correct: 0 };
  const grads = tf.tidy(() => {
    const x = tf.tensor4d(images, [n, IMAGE_SIZE, IMAGE_SIZE, 1]);
    const a1 = tf.tanh(tf.fused.conv2d({ x, filter: w1 as tf.Tensor4D, strides: 1, pad: 'valid', bias: b1 }));
    const p1 = tf.avgPool(a1, 2, 1, 'valid');
    const a2 = tf.tanh(tf.fused.conv2d({ x: p1, filter: w2 as tf.Tensor4D, strides: 1, pad: 'valid', bias: b2 }));
    const p2 = tf.avgPool(a2, 2, 2, 'valid');
    const a3 = tf.tanh(tf.fused.conv2d({ x: p2, filter: w3 as tf.Tensor4D, strides: 1, pad: 'valid', bias: b3 }));
    const f = tf.reshape(a3, [n, -1]) as tf.Tensor2D;
    const a4 = tf.tanh(tf.fused.matMul({ a: f, b: w4 as tf.Tensor2D, bias: b4 }));
    const probs = tf.softmax(tf.fused.matMul({ a: a4, b: w5 as tf.Tensor2D, bias: b5 }));

    // Loss, accuracy and dLoss/dlogits = scale · (p − y) in JS: 10 numbers per example.
    const p = probs.dataSync() as Float32Array;
    const dLogits = new Float32Array(n * NUM_CLASSES);
    let lossSum = 0;
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const row = i * NUM_CLASSES;
      const label = labels[i];
      let best = 0;
      for (let c = 0; c < NUM_CLASSES; c++) {
        if (p[row + c] > p[row + best]) best = c;
        dLogits[row + c] = scale * (p[row + c] - (c === label ? onTarget : offTarget));
      }
      if (best === label) correct++;
      lossSum -= Math.log(Math.min(Math.max(p[row + label], EPSILON), 1 - EPSILON));
    }
    result = { lossSum, correct };

    const dz5 = tf.tensor2d(dLogits, [n, NUM_CLASSES]);
    const dw5 = tf.matMul(a4, dz5, true, false);
    const db5 = biasGrad(dz5);
    const dz4 = tanhGrad(a4, tf.matMul(dz5, w5 as tf.Tensor2D, false, true));
    const dw4 = tf.matMul(f, dz4, true, false);
    const db4 = biasGrad(dz4);
    const dz3 = tanhGrad(a3, tf.reshape(tf.matMul(dz4, w4 as tf.Tensor2D, false, true), a3.shape)) as tf.Tensor4D;
    const dw3 = convFilterGrad(p2, dz3, w3.shape);
    const db3 = biasGrad(dz3);
    const dz2 = tanhGrad(a2, avgPoolGrad(convInputGrad(dz3, w3, p2.shape), a2, 2)) as tf.Tensor4D;
    const dw2 = convFilterGrad(p1, dz2, w2.shape);
    const db2 = biasGrad(dz2);
    const dz1 = tanhGrad(a1, avgPoolGrad(convInputGrad(dz2, w2, p1.shape), a1, 1)) as tf.Tensor4D;
    const dw1 = convFilterGrad(x, dz1, w1.shape);
    const db1 = biasGrad(dz1);
    return [dw1, db1, dw2, db2, dw3, db3, dw4, db4, dw5, db5];
  });
  return { grads, result };
}

/** The parts of tf.AdamOptimizer the hand-written steps read and update (not in its public types). */
export interface AdamInternals {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
  applyGradients(grads: tf.NamedTensorMap): void;
  incrementIterations(): void;
}

/**
 * Applies one Adam step to `variables` with `grads`, updating the optimizer's own state exactly
 * as tf.AdamOptimizer.applyGradients does. On the wasm backend it is one fused SIMD pass per
 * weight over the wasm heap (shared/heap-simd.wat): the moments are updated in place (a buffer
 * shared with another tensor is first copied), the new weights are written to a fresh buffer
 * that the variable is assigned.
 * (Weights must change buffer: the wasm backend caches XNNPACK operators with the packed filter
 * of a conv / matmul keyed by the weight's buffer, so an in-place update would not be seen.)
 * Elsewhere it calls applyGradients.
 */
export function adamUpdate(optimizer: tf.Optimizer, variables: tf.Variable[], grads: tf.Tensor[]): void {
  const adam = optimizer as unknown as AdamInternals;
  if (tf.getBackend() !== 'wasm') {
    const named: tf.NamedTensorMap = {};
    variables.forEach((v, i) => (named[v.name] = grads[i]));
    adam.applyGradients(named);
    return;
  }
  const backend = wasmHeap();
  variables.forEach((v, i) => {
    adam.accumulatedFirstMoment[i] ??= { originalName: `${v.name}/m`, variable: tf.tidy(() => tf.zerosLike(v).variable(false)) };
    adam.accumulatedSecondMoment[i] ??= { originalName: `${v.name}/v`, variable: tf.tidy(() => tf.zerosLike(v).variable(false)) };
  });
  const own = (v: tf.Variable) => {
    if (backend.refCount(v.dataId) > 1) {
      const copy = tf.tidy(() => tf.add(v, 0));
      v.assign(copy);
      copy.dispose();
    }
  };
  for (const v of [adam.accBeta1, adam.accBeta2]) own(v);
  adam.accumulatedFirstMoment.forEach((m) => own(m.variable));
  adam.accumulatedSecondMoment.forEach((m) => own(m.variable));
  const next = variables.map((v) => backend.makeOutput(v.shape, 'float32'));

  const { beta1, beta2, learningRate: lr, epsilon } = adam;
  // Views taken after every allocation above: the wasm heap may have been reallocated.
  const accB1 = backend.typedArrayFromHeap(adam.accBeta1);
  const accB2 = backend.typedArrayFromHeap(adam.accBeta2);
  const constants = { beta1, beta2, step: lr / (1 - accB1[0]), inv2: 1 / (1 - accB2[0]), epsilon };
  const simd = heapSimd(backend);
  variables.forEach((v, i) => {
    simd.adam(v, next[i], adam.accumulatedFirstMoment[i].variable, adam.accumulatedSecondMoment[i].variable, grads[i], constants);
  });
  accB1[0] = accB1[0] * beta1;
  accB2[0] = accB2[0] * beta2;
  variables.forEach((v, i) => {
    const t = tf.engine().makeTensorFromTensorInfo(next[i]);
    v.assign(t);
    t.dispose();
  });
  adam.incrementIterations();
}

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { kernelTuning, registerWasmTrainingKernels } from '../../functions/trainer/steps/wasm/wasm-kernels';
import { buildLeNet5 } from '../../shared/model';

// ---------------------------------------------------------------------------------------------
// Plain nested-loop references (NHWC, filter [KH, KW, Ci, Co]), independent of tfjs.

type Pad = 'valid' | 'same' | number;

/** A convolution's input, filter and stride. */
interface ConvShape {
  N: number;
  H: number;
  W: number;
  Ci: number;
  Co: number;
  KH: number;
  KW: number;
  S: number;
}

/** A ConvShape with its padding resolved: output size and top/left padding. */
interface Geometry extends ConvShape {
  OH: number;
  OW: number;
  top: number;
  left: number;
}

function geometry(shape: ConvShape, pad: Pad): Geometry {
  const { H, W, KH, KW, S } = shape;
  let OH: number, OW: number, top: number, left: number;
  if (pad === 'valid') {
    OH = Math.ceil((H - KH + 1) / S);
    OW = Math.ceil((W - KW + 1) / S);
    top = 0;
    left = 0;
  } else if (pad === 'same') {
    OH = Math.ceil(H / S);
    OW = Math.ceil(W / S);
    top = Math.floor(Math.max((OH - 1) * S + KH - H, 0) / 2);
    left = Math.floor(Math.max((OW - 1) * S + KW - W, 0) / 2);
  } else {
    OH = Math.floor((H + 2 * pad - KH) / S) + 1;
    OW = Math.floor((W + 2 * pad - KW) / S) + 1;
    top = pad;
    left = pad;
  }
  return { ...shape, OH, OW, top, left };
}

/** Calls fn(x, dy, filter base offsets) for every (output pixel, filter tap) that lands inside the input. */
function forEachTap(g: Geometry, fn: (xBase: number, dyBase: number, wBase: number) => void): void {
  for (let n = 0; n < g.N; n++)
    for (let oh = 0; oh < g.OH; oh++)
      for (let ow = 0; ow < g.OW; ow++)
        for (let kh = 0; kh < g.KH; kh++)
          for (let kw = 0; kw < g.KW; kw++) {
            const ih = oh * g.S + kh - g.top;
            const iw = ow * g.S + kw - g.left;
            if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
            fn(((n * g.H + ih) * g.W + iw) * g.Ci, ((n * g.OH + oh) * g.OW + ow) * g.Co, (kh * g.KW + kw) * g.Ci * g.Co);
          }
}

function refBackpropFilter(g: Geometry, x: Float32Array, dy: Float32Array): Float64Array {
  const dw = new Float64Array(g.KH * g.KW * g.Ci * g.Co);
  forEachTap(g, (xb, dyb, wb) => {
    for (let ci = 0; ci < g.Ci; ci++) for (let co = 0; co < g.Co; co++) dw[wb + ci * g.Co + co] += x[xb + ci] * dy[dyb + co];
  });
  return dw;
}

function refBackpropInput(g: Geometry, dy: Float32Array, w: Float32Array): Float64Array {
  const dx = new Float64Array(g.N * g.H * g.W * g.Ci);
  forEachTap(g, (xb, dyb, wb) => {
    for (let ci = 0; ci < g.Ci; ci++) for (let co = 0; co < g.Co; co++) dx[xb + ci] += dy[dyb + co] * w[wb + ci * g.Co + co];
  });
  return dx;
}

function refMatMul(a: Float32Array, b: Float32Array, m: number, k: number, n: number, tA: boolean, tB: boolean): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[tA ? p * m + i : i * k + p] * b[tB ? j * k + p : p * n + j];
      out[i * n + j] = s;
    }
  return out;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= tol * scale)) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]} (tolerance ${tol * scale})`);
    }
  }
}

function randomData(size: number, seed: number): Float32Array {
  // Small LCG so the test data doesn't depend on tfjs.
  let s = seed >>> 0;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function wasmDataIds(): number {
  return (tf.engine().backend as unknown as { numDataIds(): number }).numDataIds();
}

// ---------------------------------------------------------------------------------------------

before(async () => {
  registerWasmTrainingKernels();
  registerWasmTrainingKernels(); // idempotent
  assert.ok(await tf.setBackend('wasm'));
  await tf.ready();
});

interface ConvCase extends ConvShape {
  name: string;
  pad: Pad;
}

const convCases: ConvCase[] = [];
for (const N of [1, 3]) {
  convCases.push(
    { name: `LeNet conv1 batch ${N}`, N, H: 28, W: 28, Ci: 1, Co: 6, KH: 5, KW: 5, S: 1, pad: 'valid' },
    { name: `LeNet conv2 batch ${N}`, N, H: 23, W: 23, Ci: 6, Co: 16, KH: 5, KW: 5, S: 1, pad: 'valid' },
    { name: `LeNet conv3 batch ${N}`, N, H: 9, W: 9, Ci: 16, Co: 120, KH: 5, KW: 5, S: 1, pad: 'valid' },
  );
}
convCases.push(
  { name: 'stride 2 valid, odd remainder', N: 2, H: 12, W: 11, Ci: 3, Co: 4, KH: 5, KW: 3, S: 2, pad: 'valid' },
  { name: 'stride 1 same', N: 2, H: 9, W: 10, Ci: 3, Co: 5, KH: 5, KW: 4, S: 1, pad: 'same' },
  { name: 'stride 2 same', N: 2, H: 11, W: 12, Ci: 4, Co: 3, KH: 3, KW: 5, S: 2, pad: 'same' },
  { name: 'stride 3 valid', N: 1, H: 14, W: 13, Ci: 2, Co: 3, KH: 3, KW: 3, S: 3, pad: 'valid' },
  { name: 'explicit pad 2', N: 2, H: 8, W: 7, Ci: 3, Co: 2, KH: 5, KW: 5, S: 1, pad: 2 },
  { name: '1x1 filter', N: 2, H: 5, W: 6, Ci: 7, Co: 3, KH: 1, KW: 1, S: 1, pad: 'valid' },
);

/** The Conv2DBackpropFilter kernel of the active backend; NHWC unless `attrs` say otherwise. */
const backpropFilter = (inputs: { x: tf.Tensor; dy: tf.Tensor }, attrs: object) =>
  tf.engine().runKernel('Conv2DBackpropFilter', inputs, { dataFormat: 'NHWC', ...attrs } as any) as tf.Tensor;
/** The Conv2DBackpropInput kernel of the active backend; NHWC unless `attrs` say otherwise. */
const backpropInput = (inputs: { dy: tf.Tensor; filter: tf.Tensor }, attrs: object) =>
  tf.engine().runKernel('Conv2DBackpropInput', inputs, { dataFormat: 'NHWC', ...attrs } as any) as tf.Tensor;

describe('Conv2DBackpropFilter (wasm)', () => {
  for (const c of convCases) {
    test(c.name, () => {
      const g = geometry(c, c.pad);
      const xv = randomData(c.N * c.H * c.W * c.Ci, 1);
      const dyv = randomData(c.N * g.OH * g.OW * c.Co, 2);
      const x = tf.tensor4d(xv, [c.N, c.H, c.W, c.Ci]);
      const dy = tf.tensor4d(dyv, [c.N, g.OH, g.OW, c.Co]);
      const ids = wasmDataIds();
      const dw = backpropFilter({ x, dy }, { strides: c.S, pad: c.pad, filterShape: [c.KH, c.KW, c.Ci, c.Co] });
      assert.deepEqual(dw.shape, [c.KH, c.KW, c.Ci, c.Co]);
      assertClose(dw.dataSync(), refBackpropFilter(g, xv, dyv), 1e-5, c.name);
      dw.dispose();
      assert.equal(wasmDataIds(), ids, 'kernel leaked intermediate buffers');
      tf.dispose([x, dy]);
    });
  }
});

for (const algorithm of ['auto', 'matMul', 'fullConv', 'depthwise'] as const) {
  describe(`Conv2DBackpropInput (wasm, ${algorithm})`, () => {
    for (const c of convCases) {
      test(c.name, () => {
        kernelTuning.backpropInput = algorithm;
        try {
          const g = geometry(c, c.pad);
          const dyv = randomData(c.N * g.OH * g.OW * c.Co, 3);
          const wv = randomData(c.KH * c.KW * c.Ci * c.Co, 4);
          const dy = tf.tensor4d(dyv, [c.N, g.OH, g.OW, c.Co]);
          const w = tf.tensor4d(wv, [c.KH, c.KW, c.Ci, c.Co]);
          const ids = wasmDataIds();
          const dx = backpropInput({ dy, filter: w }, { strides: c.S, pad: c.pad, inputShape: [c.N, c.H, c.W, c.Ci] });
          assert.deepEqual(dx.shape, [c.N, c.H, c.W, c.Ci]);
          assertClose(dx.dataSync(), refBackpropInput(g, dyv, wv), 1e-5, c.name);
          dx.dispose();
          assert.equal(wasmDataIds(), ids, 'kernel leaked intermediate buffers');
          tf.dispose([dy, w]);
        } finally {
          kernelTuning.backpropInput = 'auto';
        }
      });
    }
  });
}

describe('AvgPoolGrad (wasm)', () => {
  const cases: Array<[string, number[], number, number, 'valid' | 'same']> = [
    ['LeNet pool1 (2x2 stride 1)', [3, 24, 24, 6], 2, 1, 'valid'],
    ['LeNet pool2 (2x2 stride 2, odd size)', [3, 19, 19, 16], 2, 2, 'valid'],
    ['3x3 stride 2', [2, 9, 8, 3], 3, 2, 'valid'],
  ];
  for (const [name, [N, H, W, C], f, s, pad] of cases) {
    test(name, () => {
      const OH = Math.floor((H - f) / s) + 1;
      const OW = Math.floor((W - f) / s) + 1;
      const dyv = randomData(N * OH * OW * C, 8);
      const input = tf.zeros([N, H, W, C]);
      const dy = tf.tensor4d(dyv, [N, OH, OW, C]);
      const expected = new Float64Array(N * H * W * C);
      for (let n = 0; n < N; n++)
        for (let oh = 0; oh < OH; oh++)
          for (let ow = 0; ow < OW; ow++)
            for (let i = 0; i < f; i++)
              for (let j = 0; j < f; j++)
                for (let c = 0; c < C; c++)
                  expected[((n * H + oh * s + i) * W + ow * s + j) * C + c] += dyv[((n * OH + oh) * OW + ow) * C + c] / (f * f);
      const dx = tf.engine().runKernel('AvgPoolGrad', { dy, input }, { filterSize: f, strides: s, pad }) as tf.Tensor;
      assertClose(dx.dataSync(), expected, 1e-6, name);
      tf.dispose([dx, dy, input]);
    });
  }
});

describe('unsupported conv gradient variants throw', () => {
  const x = () => tf.zeros([1, 8, 8, 2]);
  const dy = () => tf.zeros([1, 4, 4, 3]);
  const filterGradientThrows = (inputs: { x: tf.Tensor; dy: tf.Tensor }, attrs: object, message: RegExp) =>
    assert.throws(() => backpropFilter(inputs, attrs), message);
  const inputGradientThrows = (inputs: { dy: tf.Tensor; filter: tf.Tensor }, attrs: object, message: RegExp) =>
    assert.throws(() => backpropInput(inputs, attrs), message);

  test('NCHW dataFormat', () => {
    tf.tidy(() => {
      filterGradientThrows(
        { x: tf.zeros([1, 2, 8, 8]), dy: tf.zeros([1, 3, 4, 4]) },
        { strides: 1, pad: 'valid', dataFormat: 'NCHW', filterShape: [5, 5, 2, 3] },
        /unsupported dataFormat 'NCHW'/,
      );
      inputGradientThrows(
        { dy: tf.zeros([1, 3, 4, 4]), filter: tf.zeros([5, 5, 2, 3]) },
        { strides: 1, pad: 'valid', dataFormat: 'NCHW', inputShape: [1, 2, 8, 8] },
        /unsupported dataFormat 'NCHW'/,
      );
    });
  });
  test('explicit padding larger than filter size - 1', () => {
    tf.tidy(() => {
      const pad = [
        [0, 0],
        [4, 4],
        [4, 4],
        [0, 0],
      ];
      filterGradientThrows(
        { x: x(), dy: tf.zeros([1, 14, 14, 3]) },
        { strides: 1, pad, dataFormat: 'NHWC', filterShape: [3, 3, 2, 3] },
        /unsupported pad/,
      );
      inputGradientThrows(
        { dy: dy(), filter: tf.zeros([1, 1, 2, 3]) },
        { strides: 2, pad: 1, dataFormat: 'NHWC', inputShape: [1, 8, 8, 2] },
        /unsupported pad/,
      );
    });
  });
});

describe('BatchMatMul (wasm)', () => {
  const cases: Array<[number, number, number, boolean, boolean, number]> = [
    // m, k, n, transposeA, transposeB, batch
    [32, 300, 84, false, false, 1],
    [300, 32, 84, true, false, 1], // dense dW = xᵀ·dy
    [32, 84, 300, false, true, 1], // dense dx = dy·Wᵀ
    [7, 5, 9, true, true, 1],
    [4, 6, 5, true, false, 3], // batched: shipped kernel
  ];
  for (const [m, k, n, tA, tB, batch] of cases) {
    test(`m=${m} k=${k} n=${n} transposeA=${tA} transposeB=${tB} batch=${batch}`, () => {
      const shapeA = tA ? [k, m] : [m, k];
      const shapeB = tB ? [n, k] : [k, n];
      const av = randomData(batch * m * k, 5);
      const bv = randomData(batch * k * n, 6);
      const a = batch === 1 ? tf.tensor(av, shapeA) : tf.tensor(av, [batch, ...shapeA]);
      const b = batch === 1 ? tf.tensor(bv, shapeB) : tf.tensor(bv, [batch, ...shapeB]);
      const ids = wasmDataIds();
      const c = tf.matMul(a, b, tA, tB);
      assert.deepEqual(c.shape, batch === 1 ? [m, n] : [batch, m, n]);
      const expected = new Float64Array(batch * m * n);
      for (let i = 0; i < batch; i++) {
        expected.set(
          refMatMul(av.subarray(i * m * k, (i + 1) * m * k), bv.subarray(i * k * n, (i + 1) * k * n), m, k, n, tA, tB),
          i * m * n,
        );
      }
      assertClose(c.dataSync(), expected, 1e-5, 'matMul');
      c.dispose();
      assert.equal(wasmDataIds(), ids, 'kernel leaked intermediate buffers');
      tf.dispose([a, b]);
    });
  }
});

test('Tanh (wasm) matches Math.tanh', () => {
  const v = randomData(10_000, 7).map((x, i) => x * (i % 3 === 0 ? 20 : 3));
  const y = tf.tanh(tf.tensor1d(v));
  const expected = Array.from(v, Math.tanh);
  assertClose(y.dataSync(), expected, 3e-7, 'tanh');
  y.dispose();
});

// ---------------------------------------------------------------------------------------------

async function onBackend<T>(name: string, f: () => Promise<T>): Promise<T> {
  assert.ok(await tf.setBackend(name));
  await tf.ready();
  return f();
}

describe('LeNet-5 training on wasm', () => {
  const N = 8;
  const xv = randomData(N * 28 * 28, 11).map((v) => (v + 1) / 2);
  const labels = Array.from({ length: N }, (_, i) => (i * 7) % 10);

  async function trainSteps(initial: Float32Array[], steps: number) {
    const model = buildLeNet5({ seed: 1 });
    model.setWeights(initial.map((v, i) => tf.tensor(v, model.getWeights()[i].shape)));
    const x = tf.tensor4d(xv, [N, 28, 28, 1]);
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
    // Gradients of the loss w.r.t. every weight, before any update.
    const grads = tf.tidy(() => {
      const { grads } = tf.variableGrads(() => tf.mean(tfl.metrics.categoricalCrossentropy(y, model.predict(x) as tf.Tensor)) as tf.Scalar);
      return model.trainableWeights.map((w) => grads[w.originalName]!.dataSync().slice() as Float32Array);
    });
    const losses: number[] = [];
    for (let i = 0; i < steps; i++) {
      const r = (await model.trainOnBatch(x, y)) as number[];
      losses.push(r[0]);
    }
    const weights = model.getWeights().map((w) => w.dataSync().slice() as Float32Array);
    tf.dispose([x, y]);
    model.dispose();
    return { grads, losses, weights };
  }

  test('matches the cpu backend (gradients, losses, weights)', async () => {
    const initial = await onBackend('cpu', async () => {
      const m = buildLeNet5({ seed: 42 });
      const w = m.getWeights().map((t) => t.dataSync().slice() as Float32Array);
      m.dispose();
      return w;
    });
    const cpu = await onBackend('cpu', () => trainSteps(initial, 3));
    const wasm = await onBackend('wasm', () => trainSteps(initial, 3));
    // The bounds leave room above float32 rounding, and stay far below one Adam step (lr is 1e-3).
    cpu.grads.forEach((g, i) => assertClose(wasm.grads[i], g, 2e-5, `gradient ${i}`));
    assertClose(wasm.losses, cpu.losses, 1e-5, 'losses');
    cpu.weights.forEach((w, i) => assertClose(wasm.weights[i], w, 2e-4, `weights ${i}`));
  });

  test('no tensors or wasm buffers leak across training steps', async () => {
    await onBackend('wasm', async () => {
      const model = buildLeNet5({ seed: 3 });
      const x = tf.tensor4d(xv, [N, 28, 28, 1]);
      const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
      await model.trainOnBatch(x, y); // creates the optimizer's slots
      const tensors = tf.memory().numTensors;
      const ids = wasmDataIds();
      for (let i = 0; i < 4; i++) {
        await model.trainOnBatch(x, y);
        assert.equal(tf.memory().numTensors, tensors, `numTensors after step ${i + 2}`);
        assert.equal(wasmDataIds(), ids, `wasm data buffers after step ${i + 2}`);
      }
      tf.dispose([x, y]);
      model.dispose();
    });
  });
});

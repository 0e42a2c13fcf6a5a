import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { initTrainingBackend } from '../../functions/trainer/steps/training-backend';
import { heapSimd } from '../../functions/trainer/steps/wasm/heap-simd';
import { HEAP_SIMD_WASM_BASE64 } from '../../functions/trainer/steps/wasm/heap-simd-binary';
import { assembleHeapSimd, binarySource } from '../../functions/trainer/steps/wasm/build';
import { maxAbsDiff } from '../helpers/numeric';

/** Deterministic values in [-2, 2), none exactly zero. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = (s / 2147483648) * 4 - 2 + 1e-3;
  }
  return out;
}

// Sizes around the 4-wide SIMD steps, so both the vector loop and the scalar tail are exercised.
const SIZES = [0, 1, 3, 4, 5, 8, 1029];

test('the committed wasm binary is exactly what heap-simd.wat assembles to', async () => {
  const bytes = await assembleHeapSimd();
  assert.equal(
    Buffer.from(HEAP_SIMD_WASM_BASE64, 'base64').toString('hex'),
    Buffer.from(bytes).toString('hex'),
    'functions/trainer/steps/wasm/heap-simd-binary.ts is stale: run `npm run build:wasm`',
  );
  assert.equal(
    readFileSync(new URL('../../functions/trainer/steps/wasm/heap-simd-binary.ts', import.meta.url), 'utf8'),
    binarySource(bytes),
  );
});

test('addInto, tanhGrad and columnSum match plain loops (wasm)', async () => {
  await initTrainingBackend('wasm');
  const simd = heapSimd();
  for (const n of SIZES) {
    const [a, b] = [values(n, n + 1), values(n, n + 2)];
    const dst = tf.tensor1d(a);
    simd.addInto(dst, tf.tensor1d(b));
    assert.deepEqual(
      Array.from(dst.dataSync()),
      Array.from(a, (x, i) => Math.fround(x + b[i])),
      `addInto n=${n}`,
    );

    const out = tf.zeros([n]);
    simd.tanhGrad(out, tf.tensor1d(a), tf.tensor1d(b));
    const expected = Array.from(a, (y, i) => b[i] * (1 - y * y));
    assert.ok(maxAbsDiff(out.dataSync(), expected) < 1e-5, `tanhGrad n=${n}`);
  }
  for (const [rows, cols] of [
    [1, 1],
    [7, 3],
    [5, 6],
    [33, 16],
    [17, 120],
    [0, 4],
  ]) {
    const src = values(rows * cols, cols);
    const dst = tf.fill([cols], 123);
    simd.columnSum(dst, tf.tensor2d(src, [rows, cols]));
    const expected = Array.from({ length: cols }, (_, c) => {
      let s = 0;
      for (let r = 0; r < rows; r++) s += src[r * cols + c];
      return s;
    });
    assert.ok(maxAbsDiff(dst.dataSync(), expected) < 1e-4, `columnSum ${rows}x${cols}`);
  }
  tf.disposeVariables();
});

test('adam matches Adam in float64 on every element, tails included (wasm)', async () => {
  await initTrainingBackend('wasm');
  const simd = heapSimd();
  const c = { beta1: 0.9, beta2: 0.999, step: 0.001 / (1 - 0.9 ** 3), inv2: 1 / (1 - 0.999 ** 3), epsilon: 1e-7 };
  for (const n of SIZES) {
    const [w0, m0, g] = [values(n, 1), values(n, 2), values(n, 3)];
    const v0 = values(n, 4).map(Math.abs);
    const [w, m, v, g_] = [w0, m0, v0, g].map((x) => tf.tensor1d(x));
    const out = tf.zeros([n]);
    simd.adam(w, out, m, v, g_, c);
    const mExp = Array.from(m0, (x, i) => 0.9 * x + 0.1 * g[i]);
    const vExp = Array.from(v0, (x, i) => 0.999 * x + 0.001 * g[i] * g[i]);
    const wExp = Array.from(w0, (x, i) => x - (c.step * mExp[i]) / (Math.sqrt(vExp[i] * c.inv2) + c.epsilon));
    assert.ok(maxAbsDiff(m.dataSync(), mExp) < 1e-6, `m n=${n}`);
    assert.ok(maxAbsDiff(v.dataSync(), vExp) < 1e-6, `v n=${n}`);
    assert.ok(maxAbsDiff(out.dataSync(), wExp) < 1e-6, `w n=${n}`);
    assert.deepEqual(Array.from(w.dataSync()), Array.from(w0), 'the old weights are left as they were');
    tf.dispose([w, m, v, g_, out]);
  }
});

test('heapSimd on a backend other than wasm says what it needs', async () => {
  await initTrainingBackend('cpu');
  assert.throws(() => heapSimd(), /needs the tfjs wasm backend/);
  await initTrainingBackend('wasm');
});

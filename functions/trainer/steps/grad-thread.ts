/**
 * A data-parallel gradient thread (a worker_threads Worker) for `ParallelGradients` in ./parallel.ts.
 *
 * It keeps its own wasm backend and its own copy of the 10 LeNet-5 weights, and loops: wait for a
 * job in the shared control block, copy the current weights and its share of the batch from the
 * shared buffers, compute the gradients with `lenetGradients`, write them back, signal done.
 * Synchronisation is by Atomics on SharedArrayBuffers (no message passing per step).
 */
import { workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initTrainingBackend } from './training-backend';
import { wasmHeap } from './wasm/heap-simd';
import { IMAGE_SIZE } from '../../../shared/model';
import { lenetGradients } from './wasm-step';
import { CTRL, type GradThreadInit, RESULT } from './parallel-protocol';

const init = workerData as GradThreadInit;
const ctrl = new Int32Array(init.control);
const weights = new Float32Array(init.weights);
const grads = new Float32Array(init.grads);
const images = new Float32Array(init.images);
const labels = new Int32Array(init.labels);
const result = new Float64Array(init.result);
const PIXELS = IMAGE_SIZE * IMAGE_SIZE;

try {
  const backend = await initTrainingBackend('wasm');
  if (backend !== 'wasm') throw new Error(`gradient thread: wasm backend unavailable (got ${backend})`);
  const heap = wasmHeap();
  const sizes = init.shapes.map((shape) => shape.reduce((a, b) => a * b, 1));
  Atomics.store(ctrl, CTRL.ready, 1);
  Atomics.notify(ctrl, CTRL.ready);
  let seen = 0;
  for (;;) {
    Atomics.wait(ctrl, CTRL.seq, seen);
    seen = Atomics.load(ctrl, CTRL.seq);
    if (Atomics.load(ctrl, CTRL.stop)) break;
    try {
      // New tensors every step, never an in-place write: the backend caches XNNPACK operators
      // (with packed weights) by the weight tensor's buffer.
      let offset = 0;
      const vars = init.shapes.map((shape, i) => {
        const t = tf.tensor(weights.subarray(offset, offset + sizes[i]), shape, 'float32');
        offset += sizes[i];
        return t;
      });
      const n = Atomics.load(ctrl, CTRL.n);
      const scale = result[RESULT.scale];
      const smoothing = result[RESULT.labelSmoothing];
      const { grads: g, result: r } = lenetGradients(vars, images.subarray(0, n * PIXELS), labels.subarray(0, n), scale, smoothing);
      offset = 0;
      for (const t of g) {
        const view = heap.typedArrayFromHeap(t);
        grads.set(view, offset);
        offset += view.length;
      }
      tf.dispose(g);
      tf.dispose(vars);
      result[RESULT.lossSum] = r.lossSum;
      result[RESULT.correct] = r.correct;
    } catch (e) {
      Atomics.store(ctrl, CTRL.failed, 1);
      console.error('gradient thread failed:', e);
    }
    Atomics.store(ctrl, CTRL.done, seen);
    Atomics.notify(ctrl, CTRL.done);
  }
} catch (e) {
  console.error('gradient thread failed to start:', e);
  Atomics.store(ctrl, CTRL.failed, 1);
  Atomics.store(ctrl, CTRL.ready, 1);
  Atomics.notify(ctrl, CTRL.ready);
}

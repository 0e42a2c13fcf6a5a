/**
 * Data-parallel gradients over worker_threads: each step the batch is split into `threads`
 * contiguous shares; the calling thread computes the first share's gradients while each gradient
 * thread (./grad-thread.ts, its own wasm backend and a copy of the weights) computes another's,
 * all scaled by 1/batch, and the shares' gradients are summed in a fixed order (so a run is
 * deterministic for a given thread count). The weights are sent before every step through a
 * SharedArrayBuffer (one memcpy of all the weights); start/finish are signalled with Atomics, no messages.
 *
 * Only for the wasm backend: the gradients are read and written directly on its heap.
 */
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { heapSimd, wasmHeap } from './wasm/heap-simd';
import { IMAGE_SIZE } from '../../../shared/model';
import { lenetGradients, type StepResult } from './wasm-step';
import { CTRL, type GradThreadInit, RESULT } from './parallel-protocol';

const PIXELS = IMAGE_SIZE * IMAGE_SIZE;
/** A step's share taking longer than this means the gradient thread is gone. */
const STEP_TIMEOUT_MS = 120_000;

interface GradThreadHandle {
  worker: Worker;
  ctrl: Int32Array;
  grads: Float32Array;
  images: Float32Array;
  labels: Int32Array;
  result: Float64Array;
  error?: Error;
}

/**
 * Starts ./grad-thread.ts. Worker threads do not inherit tsx's module hooks, so when this code
 * runs as TypeScript the thread first registers tsx (a dependency), then imports the script.
 */
function startGradThread(init: GradThreadInit): Worker {
  const script = new URL(import.meta.url.endsWith('.ts') ? './grad-thread.ts' : './grad-thread.js', import.meta.url);
  if (!script.pathname.endsWith('.ts')) return new Worker(script, { workerData: init });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot =
    `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(script.href)}); })` +
    `.catch((e) => { console.error(e); process.exit(1); });`;
  return new Worker(boot, { eval: true, workerData: init });
}

export class ParallelGradients {
  private seq = 0;

  private constructor(
    private readonly handles: GradThreadHandle[],
    private readonly weights: Float32Array,
  ) {}

  /** Starts `threads − 1` gradient threads (the caller's thread is the first). */
  static async create(shapes: number[][], threads: number, maxBatch: number): Promise<ParallelGradients> {
    if (tf.getBackend() !== 'wasm') throw new Error(`data-parallel training needs the wasm backend, not '${tf.getBackend()}'`);
    const size = shapes.reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
    const weights = new SharedArrayBuffer(size * 4);
    const handles: GradThreadHandle[] = [];
    try {
      for (let i = 1; i < threads; i++) {
        const init: GradThreadInit = {
          shapes,
          control: new SharedArrayBuffer(CTRL.size * 4),
          weights,
          grads: new SharedArrayBuffer(size * 4),
          // A step may use only some of the threads (gradients' `threads`): size for two.
          images: new SharedArrayBuffer(Math.ceil(maxBatch / 2) * PIXELS * 4 + 4),
          labels: new SharedArrayBuffer(Math.ceil(maxBatch / 2) * 4 + 4),
          result: new SharedArrayBuffer(RESULT.size * Float64Array.BYTES_PER_ELEMENT),
        };
        const worker = startGradThread(init);
        const handle: GradThreadHandle = {
          worker,
          ctrl: new Int32Array(init.control),
          grads: new Float32Array(init.grads),
          images: new Float32Array(init.images),
          labels: new Int32Array(init.labels),
          result: new Float64Array(init.result),
        };
        worker.on('error', (e) => (handle.error = e));
        worker.on('exit', (code) => (handle.error ??= new Error(`gradient thread exited (code ${code})`)));
        worker.unref();
        handles.push(handle);
      }
      for (const h of handles) {
        // Start-up loads the wasm module: wait without blocking.
        const started = Date.now();
        while (Atomics.load(h.ctrl, CTRL.ready) === 0) {
          if (h.error) throw h.error;
          if (Date.now() - started > STEP_TIMEOUT_MS) throw new Error('gradient thread did not start');
          await new Promise((r) => setTimeout(r, 5));
        }
        if (Atomics.load(h.ctrl, CTRL.failed)) throw new Error('gradient thread failed to start (see stderr)');
      }
    } catch (e) {
      await Promise.all(handles.map((h) => h.worker.terminate()));
      throw e;
    }
    return new ParallelGradients(handles, new Float32Array(weights));
  }

  /** The calling thread and the gradient threads. */
  get threadCount(): number {
    return this.handles.length + 1;
  }

  /**
   * Gradients of (1/n) Σ cross-entropy over the batch w.r.t. `vars` (new tensors, caller
   * disposes), with the batch's loss sum and hit count, computed on the first `threads` threads.
   */
  gradients(
    vars: tf.Tensor[],
    images: Float32Array,
    labels: ArrayLike<number>,
    threads = this.threadCount,
    labelSmoothing = 0,
  ): { grads: tf.Tensor[]; result: StepResult } {
    if (!Number.isInteger(threads) || threads < 1 || threads > this.threadCount) {
      throw new Error(`threads must be an integer from 1 to ${this.threadCount}, got ${threads}`);
    }
    const n = labels.length;
    const scale = 1 / n;
    const heap = wasmHeap();
    // Contiguous shares, the caller's first; sizes differ by at most one.
    const parts = threads;
    const bounds = Array.from({ length: parts + 1 }, (_, i) => Math.round((i * n) / parts));
    const used = this.handles.slice(0, parts - 1);
    const active = used.filter((_, i) => bounds[i + 2] > bounds[i + 1]);
    if (active.length > 0) {
      let offset = 0;
      for (const v of vars) {
        const view = heap.typedArrayFromHeap(v);
        this.weights.set(view, offset);
        offset += view.length;
      }
      this.seq++;
      used.forEach((h, i) => {
        const from = bounds[i + 1];
        const to = bounds[i + 2];
        if (to <= from) return;
        h.images.set(images.subarray(from * PIXELS, to * PIXELS));
        for (let j = from; j < to; j++) h.labels[j - from] = labels[j];
        h.result[RESULT.scale] = scale;
        h.result[RESULT.labelSmoothing] = labelSmoothing;
        Atomics.store(h.ctrl, CTRL.n, to - from);
        Atomics.store(h.ctrl, CTRL.seq, this.seq);
        Atomics.notify(h.ctrl, CTRL.seq);
      });
    }
    const own = lenetGradients(
      vars,
      images.subarray(0, bounds[1] * PIXELS),
      Array.prototype.slice.call(labels, 0, bounds[1]),
      scale,
      labelSmoothing,
    );
    const result = { ...own.result };
    const simd = heapSimd();
    for (const h of active) {
      this.waitFor(h);
      // Each of their gradients onto the heap (one copy), then added with one SIMD pass.
      let offset = 0;
      for (const g of own.grads) {
        const theirs = heap.makeOutput(g.shape, 'float32');
        heap.typedArrayFromHeap(theirs).set(h.grads.subarray(offset, offset + g.size));
        simd.addInto(g, theirs);
        heap.disposeData(theirs.dataId);
        offset += g.size;
      }
      result.lossSum += h.result[RESULT.lossSum];
      result.correct += h.result[RESULT.correct];
    }
    return { grads: own.grads, result };
  }

  private waitFor(h: GradThreadHandle): void {
    const started = Date.now();
    while (Atomics.load(h.ctrl, CTRL.done) !== this.seq) {
      if (h.error) throw h.error;
      if (Date.now() - started > STEP_TIMEOUT_MS) throw new Error('gradient thread timed out');
      Atomics.wait(h.ctrl, CTRL.done, Atomics.load(h.ctrl, CTRL.done), 1000);
    }
    if (Atomics.load(h.ctrl, CTRL.failed)) throw new Error('gradient thread failed (see stderr)');
  }

  async dispose(): Promise<void> {
    for (const h of this.handles) {
      Atomics.store(h.ctrl, CTRL.stop, 1);
      Atomics.add(h.ctrl, CTRL.seq, 1);
      Atomics.notify(h.ctrl, CTRL.seq);
    }
    await Promise.all(this.handles.map((h) => h.worker.terminate()));
  }
}

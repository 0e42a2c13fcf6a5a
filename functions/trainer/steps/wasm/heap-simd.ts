/**
 * The SIMD loops of heap-simd.wat, instantiated against the tfjs wasm backend's own memory so
 * they read and write tensors in place. Arguments are tensors (or TensorInfos) on that backend;
 * sizes are checked here, since the wasm side trusts its pointers.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DataId, TensorInfo } from '@tensorflow/tfjs-core';
import { HEAP_SIMD_WASM_BASE64 } from './heap-simd-binary';

interface Exports {
  addInto(dst: number, src: number, n: number): void;
  adam(
    w: number,
    out: number,
    m: number,
    v: number,
    g: number,
    n: number,
    b1: number,
    b2: number,
    step: number,
    inv2: number,
    eps: number,
  ): void;
  tanhGrad(dz: number, y: number, dy: number, n: number): void;
  columnSum(dst: number, src: number, rows: number, cols: number): void;
}

/** The parts of tfjs-backend-wasm's `BackendWasm` that code working on its heap uses. */
export interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
  disposeData(dataId: DataId): boolean;
  refCount(dataId: DataId): number;
  /** The Emscripten module; its `asm.memory` is the heap. */
  wasm?: { asm?: { memory?: unknown } };
}

/** The active backend, typed as the wasm heap it is when the fast trainer runs. */
export function wasmHeap(): WasmHeapBackend {
  return tf.backend() as unknown as WasmHeapBackend;
}

export interface AdamConstants {
  beta1: number;
  beta2: number;
  /** lr / (1 − β1^t) */
  step: number;
  /** 1 / (1 − β2^t) */
  inv2: number;
  epsilon: number;
}

export class HeapSimd {
  constructor(
    private readonly backend: WasmHeapBackend,
    private readonly fn: Exports,
  ) {}

  private ptr(t: TensorInfo, size: number, what: string): number {
    const view = this.backend.typedArrayFromHeap(t);
    if (t.dtype !== 'float32' || view.length < size) {
      throw new Error(`heap-simd: ${what} must be float32 with at least ${size} elements (got ${t.dtype}[${view.length}])`);
    }
    return view.byteOffset;
  }

  private size(t: TensorInfo): number {
    return t.shape.reduce((a, b) => a * b, 1);
  }

  /** dst += src, elementwise. */
  addInto(dst: TensorInfo, src: TensorInfo): void {
    const n = this.size(dst);
    this.fn.addInto(this.ptr(dst, n, 'dst'), this.ptr(src, n, 'src'), n);
  }

  /**
   * dst += src over n floats at raw byte offsets, for hot loops of many small adds into parts of
   * one tensor (col2im). Unchecked: the ranges must lie inside live tensors.
   */
  addIntoAt(dstByteOffset: number, srcByteOffset: number, n: number): void {
    this.fn.addInto(dstByteOffset, srcByteOffset, n);
  }

  /** One Adam step: m, v updated in place, the new weights written to `out`. */
  adam(w: TensorInfo, out: TensorInfo, m: TensorInfo, v: TensorInfo, g: TensorInfo, c: AdamConstants): void {
    const n = this.size(w);
    this.fn.adam(
      this.ptr(w, n, 'w'),
      this.ptr(out, n, 'out'),
      this.ptr(m, n, 'm'),
      this.ptr(v, n, 'v'),
      this.ptr(g, n, 'g'),
      n,
      c.beta1,
      c.beta2,
      c.step,
      c.inv2,
      c.epsilon,
    );
  }

  /** dz = dy · (1 − y²). */
  tanhGrad(dz: TensorInfo, y: TensorInfo, dy: TensorInfo): void {
    const n = this.size(dz);
    this.fn.tanhGrad(this.ptr(dz, n, 'dz'), this.ptr(y, n, 'y'), this.ptr(dy, n, 'dy'), n);
  }

  /** dst[c] = Σ over all leading axes of src[…, c]. */
  columnSum(dst: TensorInfo, src: TensorInfo): void {
    const cols = src.shape[src.shape.length - 1];
    const rows = this.size(src) / cols;
    this.fn.columnSum(this.ptr(dst, cols, 'dst'), this.ptr(src, rows * cols, 'src'), rows, cols);
  }
}

let compiled: WebAssembly.Module | undefined;
const instances = new WeakMap<object, HeapSimd>();

/**
 * The loops bound to `backend` (default: the active one). Throws when it is not a tfjs wasm
 * backend whose module exports its memory (true of tfjs-backend-wasm 4.x).
 */
export function heapSimd(backend: object = tf.backend()): HeapSimd {
  const cached = instances.get(backend);
  if (cached) return cached;
  const internals = backend as WasmHeapBackend;
  const memory = internals.wasm?.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) {
    throw new Error('heap-simd needs the tfjs wasm backend (its module memory was not found); is the active backend wasm?');
  }
  compiled ??= new WebAssembly.Module(Buffer.from(HEAP_SIMD_WASM_BASE64, 'base64'));
  const instance = new WebAssembly.Instance(compiled, { env: { memory } });
  const simd = new HeapSimd(internals, instance.exports as unknown as Exports);
  instances.set(backend, simd);
  return simd;
}

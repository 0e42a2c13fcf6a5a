/**
 * Gradient kernels that let tfjs-layers train convolutional models on the `wasm` backend.
 *
 * tfjs-backend-wasm 4.22 ships no `Conv2DBackpropFilter`, and its `Conv2DBackpropInput` is a
 * plain scalar loop. Both are rewritten here as a convolution on the backend's own XNNPACK
 * `Conv2D`, with the small layout changes (transposes, 180° filter rotation, zero padding)
 * done by hand directly on the wasm heap, in a single pass each.
 *
 * Kernels call other wasm kernels through their `kernelFunc` and free every intermediate with
 * `backend.disposeData`, as tfjs requires of kernels (no `tf.*` ops inside a kernel).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  backend_util,
  BatchMatMul,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  Sigmoid,
  Tanh,
  Transpose,
  util,
} from '@tensorflow/tfjs-core';
import type {
  BatchMatMulAttrs,
  Conv2DAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  DataId,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  TensorInfo,
} from '@tensorflow/tfjs-core';

/** The parts of tfjs-backend-wasm's `BackendWasm` these kernels use. */
interface WasmBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
  disposeData(dataId: DataId): boolean;
}

type Shape4 = [number, number, number, number];

function wasmKernelFunc(name: string): KernelFunc {
  const kernel = tf.getKernel(name, 'wasm');
  if (!kernel) throw new Error(`wasm kernel '${name}' is not registered; import '@tensorflow/tfjs-backend-wasm' first`);
  return kernel.kernelFunc;
}

/** Shared validation + geometry of both gradient kernels (NHWC, dilation 1, float32). */
function convGeometry(
  kernelName: string,
  xShape: Shape4,
  filterShape: Shape4,
  attrs: Conv2DBackpropFilterAttrs | Conv2DBackpropInputAttrs,
  dtypes: string[],
): backend_util.Conv2DInfo {
  if (attrs.dataFormat != null && attrs.dataFormat !== 'NHWC') {
    throw new Error(`${kernelName} (wasm): unsupported dataFormat '${attrs.dataFormat}', only 'NHWC' is supported`);
  }
  if (dtypes.some((d) => d !== 'float32')) {
    throw new Error(`${kernelName} (wasm): unsupported dtype [${dtypes.join(', ')}], only float32 is supported`);
  }
  const dilations = (attrs as { dilations?: number | [number, number] }).dilations;
  if (dilations != null && [dilations].flat().some((d) => d !== 1)) {
    throw new Error(`${kernelName} (wasm): unsupported dilations ${JSON.stringify(dilations)}, only 1 is supported`);
  }
  const info = backend_util.computeConv2DInfo(
    xShape, filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast',
  );
  if (info.padInfo.top > info.filterHeight - 1 || info.padInfo.left > info.filterWidth - 1 ||
      info.padInfo.bottom > info.filterHeight - 1 || info.padInfo.right > info.filterWidth - 1) {
    throw new Error(
      `${kernelName} (wasm): unsupported pad ${JSON.stringify(attrs.pad)}: explicit padding larger than filter size - 1`,
    );
  }
  return info;
}

/**
 * dW[kh,kw,ci,co] = Σ_{n,oh,ow} x[n, oh·s + kh − padTop, ow·s + kw − padLeft, ci] · dy[n,oh,ow,co]
 *
 * which is a valid convolution of x' = x as [ci, h, w, n] (batch ci, channels n) with the filter
 * dy' = dy as [oh, ow, n, co], dilated by the stride. The result comes out as [ci, kh, kw, co].
 */
function conv2DBackpropFilter(args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: unknown; attrs: NamedAttrMap }): TensorInfo {
  const { x, dy } = args.inputs;
  const backend = args.backend as WasmBackend;
  const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  const info = convGeometry(Conv2DBackpropFilter, x.shape as Shape4, attrs.filterShape as Shape4, attrs, [x.dtype, dy.dtype]);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW, outChannels: Co } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  // Rows/cols of the (padded, cropped) input the filter actually visits.
  const HC = SH * (OH - 1) + KH;
  const WC = SW * (OW - 1) + KW;

  const xT = backend.makeOutput([Ci, HC, WC, N], 'float32');
  const dyT = backend.makeOutput([OH, OW, N, Co], 'float32');
  {
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(xT);
    dst.fill(0);
    const i0 = Math.max(0, top), i1 = Math.min(HC, H + top);
    const j0 = Math.max(0, left), j1 = Math.min(WC, W + left);
    for (let n = 0; n < N; n++) {
      for (let i = i0; i < i1; i++) {
        for (let j = j0; j < j1; j++) {
          let s = ((n * H + i - top) * W + j - left) * Ci;
          let d = (i * WC + j) * N + n;
          for (let c = 0; c < Ci; c++, s++, d += HC * WC * N) dst[d] = src[s];
        }
      }
    }
    const dys = backend.typedArrayFromHeap(dy);
    const dyd = backend.typedArrayFromHeap(dyT);
    const P = OH * OW;
    for (let n = 0; n < N; n++) {
      for (let p = 0; p < P; p++) {
        const s = (n * P + p) * Co;
        const d = (p * N + n) * Co;
        for (let c = 0; c < Co; c++) dyd[d + c] = dys[s + c];
      }
    }
  }
  const convAttrs: Conv2DAttrs = { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [SH, SW] };
  const dwT = call(Conv2D, { x: xT, filter: dyT }, backend, convAttrs);
  backend.disposeData(xT.dataId);
  backend.disposeData(dyT.dataId);

  // [ci, kh, kw, co] -> [kh, kw, ci, co]
  const dw = backend.makeOutput([KH, KW, Ci, Co], 'float32');
  {
    const src = backend.typedArrayFromHeap(dwT);
    const dst = backend.typedArrayFromHeap(dw);
    const K = KH * KW;
    for (let c = 0; c < Ci; c++) {
      for (let k = 0; k < K; k++) {
        const s = (c * K + k) * Co;
        const d = (k * Ci + c) * Co;
        for (let o = 0; o < Co; o++) dst[d + o] = src[s + o];
      }
    }
  }
  backend.disposeData(dwT.dataId);
  return dw;
}

/**
 * dx = "full" convolution of dy (zero-dilated by the stride) with the filter rotated by 180°
 * and its in/out channels swapped, padded by filterSize − 1 − forwardPad.
 */
function conv2DBackpropInput(args: { inputs: { dy: TensorInfo; filter: TensorInfo }; backend: unknown; attrs: NamedAttrMap }): TensorInfo {
  const { dy, filter } = args.inputs;
  const backend = args.backend as WasmBackend;
  const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
  const info = convGeometry(Conv2DBackpropInput, attrs.inputShape as Shape4, filter.shape as Shape4, attrs, [dy.dtype, filter.dtype]);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW, outChannels: Co } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW } = info;

  // Rotated filter: fR[kh, kw, co, ci] = f[KH-1-kh, KW-1-kw, ci, co].
  const fR = backend.makeOutput([KH, KW, Co, Ci], 'float32');
  {
    const src = backend.typedArrayFromHeap(filter);
    const dst = backend.typedArrayFromHeap(fR);
    const K = KH * KW;
    for (let k = 0; k < K; k++) {
      const s0 = (K - 1 - k) * Ci * Co;
      const d0 = k * Co * Ci;
      for (let ci = 0; ci < Ci; ci++) {
        for (let co = 0; co < Co; co++) dst[d0 + co * Ci + ci] = src[s0 + ci * Co + co];
      }
    }
  }

  // For strides > 1, spread dy out with stride − 1 zeros between its pixels.
  let dyD = dy;
  const HD = (OH - 1) * SH + 1;
  const WD = (OW - 1) * SW + 1;
  if (SH > 1 || SW > 1) {
    dyD = backend.makeOutput([N, HD, WD, Co], 'float32');
    const src = backend.typedArrayFromHeap(dy);
    const dst = backend.typedArrayFromHeap(dyD);
    dst.fill(0);
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < OH; i++) {
        for (let j = 0; j < OW; j++) {
          const s = ((n * OH + i) * OW + j) * Co;
          const d = ((n * HD + i * SH) * WD + j * SW) * Co;
          for (let c = 0; c < Co; c++) dst[d + c] = src[s + c];
        }
      }
    }
  }

  const padTop = KH - 1 - info.padInfo.top;
  const padLeft = KW - 1 - info.padInfo.left;
  const padBottom = H - HD + KH - 1 - padTop;
  const padRight = W - WD + KW - 1 - padLeft;
  const convAttrs: Conv2DAttrs = {
    strides: [1, 1],
    pad: [[0, 0], [padTop, padBottom], [padLeft, padRight], [0, 0]],
    dataFormat: 'NHWC',
    dilations: [1, 1],
  };
  const dx = call(Conv2D, { x: dyD, filter: fR }, backend, convAttrs);
  backend.disposeData(fR.dataId);
  if (dyD !== dy) backend.disposeData(dyD.dataId);
  if (dx.shape.join() !== [N, H, W, Ci].join()) {
    throw new Error(`Conv2DBackpropInput (wasm): internal shape mismatch ${dx.shape} vs ${[N, H, W, Ci]}`);
  }
  return dx;
}

/** Kernel functions of the wasm backend as shipped, captured before we replace any of them. */
const native = new Map<string, KernelFunc>();

function call(name: string, inputs: Record<string, TensorInfo>, backend: unknown, attrs: object = {}): TensorInfo {
  const f = native.get(name) ?? wasmKernelFunc(name);
  return f({ inputs, backend: backend as tf.KernelBackend, attrs: attrs as NamedAttrMap }) as TensorInfo;
}

/**
 * The wasm BatchMatMul only uses XNNPACK when neither operand is transposed; with
 * transposeA/B it falls back to a scalar triple loop ~15x slower. Materialise the transposes
 * instead (XNNPACK-free but cheap copies), choosing between C = op(A)·op(B) and
 * C = (op(B)ᵀ·op(A)ᵀ)ᵀ by which one copies fewer elements.
 */
function batchMatMul(args: { inputs: { a: TensorInfo; b: TensorInfo }; backend: unknown; attrs: NamedAttrMap }): TensorInfo {
  const { a, b } = args.inputs;
  const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
  const rankA = a.shape.length;
  const rankB = b.shape.length;
  const batch = util.sizeFromShape(a.shape.slice(0, -2)) * util.sizeFromShape(b.shape.slice(0, -2));
  if ((!transposeA && !transposeB) || batch !== 1 || a.dtype !== 'float32' || b.dtype !== 'float32') {
    return call(BatchMatMul, args.inputs, args.backend, args.attrs);
  }
  const backend = args.backend as WasmBackend;
  const [ra, ca] = a.shape.slice(-2);
  const [rb, cb] = b.shape.slice(-2);
  const A: TensorInfo = { dataId: a.dataId, shape: [ra, ca], dtype: 'float32' };
  const B: TensorInfo = { dataId: b.dataId, shape: [rb, cb], dtype: 'float32' };
  const m = transposeA ? ca : ra;
  const n = transposeB ? rb : cb;
  const outShape = [...(rankA >= rankB ? a.shape : b.shape).slice(0, -2), m, n];
  const T = (x: TensorInfo) => call(Transpose, { x }, backend, { perm: [1, 0] });
  const noFlags = { transposeA: false, transposeB: false };
  // Elements copied (+ the right operand, which XNNPACK packs) for either formulation.
  const sizeA = ra * ca, sizeB = rb * cb;
  const direct = (transposeA ? sizeA : 0) + (transposeB ? sizeB : 0) + sizeB;
  const swapped = (transposeA ? 0 : sizeA) + (transposeB ? 0 : sizeB) + m * n + sizeA;
  let out: TensorInfo;
  if (direct <= swapped) {
    const opA = transposeA ? T(A) : A;
    const opB = transposeB ? T(B) : B;
    out = call(BatchMatMul, { a: opA, b: opB }, backend, noFlags);
    if (opA !== A) backend.disposeData(opA.dataId);
    if (opB !== B) backend.disposeData(opB.dataId);
  } else {
    const opAT = transposeA ? A : T(A);
    const opBT = transposeB ? B : T(B);
    const outT = call(BatchMatMul, { a: opBT, b: opAT }, backend, noFlags);
    if (opAT !== A) backend.disposeData(opAT.dataId);
    if (opBT !== B) backend.disposeData(opBT.dataId);
    out = T({ ...outT, shape: [n, m] });
    backend.disposeData(outT.dataId);
  }
  out.shape = outShape;
  return out;
}

/**
 * The wasm Tanh is a scalar libm loop (~20 ns/element); XNNPACK's vectorised Sigmoid is ~20x
 * faster, and tanh(x) = 2·sigmoid(2x) − 1 (absolute error ~1e-7).
 */
function tanh(args: { inputs: { x: TensorInfo }; backend: unknown }): TensorInfo {
  const { x } = args.inputs;
  if (x.dtype !== 'float32') return call(Tanh, args.inputs, args.backend);
  const backend = args.backend as WasmBackend;
  const x2 = backend.makeOutput(x.shape, 'float32');
  {
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(x2);
    for (let i = 0; i < dst.length; i++) dst[i] = 2 * src[i];
  }
  const out = call(Sigmoid, { x: x2 }, backend);
  backend.disposeData(x2.dataId);
  const y = backend.typedArrayFromHeap(out);
  for (let i = 0; i < y.length; i++) y[i] = 2 * y[i] - 1;
  return out;
}

export const wasmTrainingKernels: KernelConfig[] = [
  { kernelName: Conv2DBackpropFilter, backendName: 'wasm', kernelFunc: conv2DBackpropFilter as unknown as KernelFunc },
  { kernelName: Conv2DBackpropInput, backendName: 'wasm', kernelFunc: conv2DBackpropInput as unknown as KernelFunc },
  { kernelName: BatchMatMul, backendName: 'wasm', kernelFunc: batchMatMul as unknown as KernelFunc },
  { kernelName: Tanh, backendName: 'wasm', kernelFunc: tanh as unknown as KernelFunc },
];

let registered = false;

/**
 * Registers (or replaces) the conv gradient kernels for the `wasm` backend. Idempotent.
 * Call it after importing '@tensorflow/tfjs-backend-wasm', before or after `tf.setBackend('wasm')`.
 */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  for (const config of wasmTrainingKernels) {
    const shipped = tf.getKernel(config.kernelName, config.backendName);
    if (shipped) {
      native.set(config.kernelName, shipped.kernelFunc);
      tf.unregisterKernel(config.kernelName, config.backendName);
    }
    // The shipped kernel's setup (binding its wasm function) must still run when the backend
    // initialises, as we delegate to it.
    tf.registerKernel({ ...config, setupFunc: shipped?.setupFunc });
  }
  registered = true;
}

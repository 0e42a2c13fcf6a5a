/**
 * Kernels that let tfjs-layers train LeNet-style conv nets on the `wasm` backend, fast.
 *
 * tfjs-backend-wasm 4.22 ships no `Conv2DBackpropFilter` (training fails), and several kernels a
 * training step needs are scalar C++ loops far slower than the backend's XNNPACK ones. Here:
 *  - Conv2DBackpropFilter: a convolution of transposed x with transposed dy (new);
 *  - Conv2DBackpropInput:  matmul + col2im, a full convolution, or a depthwise convolution,
 *                          whichever is cheapest for the shape (replaces a scalar loop);
 *  - BatchMatMul:          transposeA/B materialised so XNNPACK is used (shipped: scalar loop);
 *  - Tanh:                 2·sigmoid(2x) − 1 on XNNPACK's sigmoid (shipped: scalar libm loop);
 *  - AvgPoolGrad:          AvgPool of padded dy / one copy pass (shipped: scalar loop).
 * Each is built from the backend's own kernels, called through their `kernelFunc`, and frees
 * every intermediate with `backend.disposeData` (no `tf.*` ops inside a kernel). The little JS
 * left runs directly on the wasm heap (col2im's adds in the SIMD loops of ./heap-simd.wat); a JS
 * loop costs far more than a wasm kernel per element, so it is used only for small relayouts.
 * The measured costs behind each choice: docs/benchmarks.md, "Why the wasm kernels are hand-written".
 *
 * Supported: NHWC, float32, dilation 1, any stride, 'valid' / 'same' / explicit padding up to
 * filterSize − 1. Anything else throws an Error naming the attribute.
 */
import * as tf from '@tensorflow/tfjs-core';
// Registers the shipped wasm kernels first: ours wrap them.
import '@tensorflow/tfjs-backend-wasm';
import {
  Add,
  AvgPool,
  AvgPoolGrad,
  backend_util,
  BatchMatMul,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  DepthwiseConv2dNative,
  Multiply,
  PadV2,
  Sigmoid,
  Sum,
  Tanh,
  Transpose,
  util,
} from '@tensorflow/tfjs-core';
import type {
  AvgPoolGradAttrs,
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
import { heapSimd, type WasmHeapBackend } from './heap-simd';

type Shape4 = [number, number, number, number];

/** Kernel functions of the wasm backend as shipped, captured before we replace any of them. */
const shipped = new Map<string, KernelFunc>();

/** Runs another wasm kernel (the shipped one if we replaced it) inside a kernel. */
function call(name: string, inputs: Record<string, TensorInfo>, backend: unknown, attrs: object = {}): TensorInfo {
  const replaced = wasmTrainingKernels.some((k) => k.kernelName === name);
  const f = shipped.get(name) ?? (replaced ? undefined : tf.getKernel(name, 'wasm')?.kernelFunc);
  if (!f) throw new Error(`wasm kernel '${name}' is not available`);
  return f({ inputs, backend: backend as tf.KernelBackend, attrs: attrs as NamedAttrMap }) as TensorInfo;
}

/** A float32 scalar on the wasm heap (caller disposes). */
function scalar(backend: WasmHeapBackend, value: number): TensorInfo {
  const t = backend.makeOutput([], 'float32');
  backend.typedArrayFromHeap(t)[0] = value;
  return t;
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
    xShape,
    filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  if (
    info.padInfo.top > info.filterHeight - 1 ||
    info.padInfo.left > info.filterWidth - 1 ||
    info.padInfo.bottom > info.filterHeight - 1 ||
    info.padInfo.right > info.filterWidth - 1
  ) {
    throw new Error(`${kernelName} (wasm): unsupported pad ${JSON.stringify(attrs.pad)}: explicit padding larger than filter size - 1`);
  }
  return info;
}

/**
 * dW[kh,kw,ci,co] = Σ_{n,oh,ow} x[n, oh·s + kh − padTop, ow·s + kw − padLeft, ci] · dy[n,oh,ow,co]
 *
 * which is a valid convolution of x' = x as [ci, h, w, n] (batch ci, channels n) with the filter
 * dy' = dy as [oh, ow, n, co], dilated by the stride. The result comes out as [ci, kh, kw, co].
 * (im2col + one matmul was measured too, and was slower.)
 */
function conv2DBackpropFilter(args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: unknown; attrs: NamedAttrMap }): TensorInfo {
  const { x, dy } = args.inputs;
  const backend = args.backend as WasmHeapBackend;
  const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  const info = convGeometry(Conv2DBackpropFilter, x.shape as Shape4, attrs.filterShape as Shape4, attrs, [x.dtype, dy.dtype]);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW, outChannels: Co } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  // Rows/cols of the (padded, cropped) input the filter actually visits.
  const HC = SH * (OH - 1) + KH;
  const WC = SW * (OW - 1) + KW;

  // x as [ci, h, w, n], cropped/zero-padded to the HC×WC window the filter visits.
  let xT: TensorInfo;
  if (top === 0 && left === 0 && HC === H && WC === W) {
    xT = call(Transpose, { x }, backend, { perm: [3, 1, 2, 0] });
  } else {
    xT = backend.makeOutput([Ci, HC, WC, N], 'float32');
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(xT);
    dst.fill(0);
    const i0 = Math.max(0, top),
      i1 = Math.min(HC, H + top);
    const j0 = Math.max(0, left),
      j1 = Math.min(WC, W + left);
    for (let n = 0; n < N; n++) {
      for (let i = i0; i < i1; i++) {
        for (let j = j0; j < j1; j++) {
          let s = ((n * H + i - top) * W + j - left) * Ci;
          let d = (i * WC + j) * N + n;
          for (let c = 0; c < Ci; c++, s++, d += HC * WC * N) dst[d] = src[s];
        }
      }
    }
  }
  const dyT = call(Transpose, { x: dy }, backend, { perm: [1, 2, 0, 3] });
  const convAttrs: Conv2DAttrs = { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [SH, SW] };
  const dwT = call(Conv2D, { x: xT, filter: dyT }, backend, convAttrs);
  backend.disposeData(xT.dataId);
  backend.disposeData(dyT.dataId);
  // [ci, kh, kw, co] -> [kh, kw, ci, co]
  const dw = call(Transpose, { x: dwT }, backend, { perm: [1, 2, 0, 3] });
  backend.disposeData(dwT.dataId);
  return dw;
}

/** Which algorithm Conv2DBackpropInput uses; 'auto' picks per shape. Tests force each one. */
export const kernelTuning: { backpropInput: 'auto' | 'matMul' | 'fullConv' | 'depthwise' } = { backpropInput: 'auto' };

function conv2DBackpropInput(args: { inputs: { dy: TensorInfo; filter: TensorInfo }; backend: unknown; attrs: NamedAttrMap }): TensorInfo {
  const { dy, filter } = args.inputs;
  const backend = args.backend as WasmHeapBackend;
  const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
  const info = convGeometry(Conv2DBackpropInput, attrs.inputShape as Shape4, filter.shape as Shape4, attrs, [dy.dtype, filter.dtype]);
  let algorithm = kernelTuning.backpropInput;
  if (algorithm === 'auto') {
    const { batchSize: N, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW, outChannels: Co } = info;
    const taps = info.filterHeight * info.filterWidth;
    // Rough costs in XNNPACK multiply-adds. The full convolution computes every input pixel from
    // all taps (zeros included) and wastes SIMD lanes when Ci is not a multiple of 8; the matmul
    // does exactly the forward's work plus a scalar JS scatter-add (~30 MAC-equivalents/element).
    // With a single input channel (LeNet's first layer) the depthwise form wins over both.
    const fullConvCost = N * H * W * taps * Co * Math.ceil(Ci / 8) * 8;
    const matMulCost = N * OH * OW * taps * Ci * (Co + 30);
    algorithm = Ci === 1 ? 'depthwise' : matMulCost < fullConvCost ? 'matMul' : 'fullConv';
  }
  if (algorithm === 'matMul') return backpropInputByMatMul(info, dy, filter, backend);
  if (algorithm === 'depthwise') return backpropInputByDepthwise(info, dy, filter, backend);
  return backpropInputByFullConv(info, dy, filter, backend);
}

/**
 * dx = col2im(dy · Wᵀ): one [N·OH·OW, Co] × [Co, KH·KW·Ci] matmul gives every output pixel's
 * contribution to each input pixel under the filter, which are then summed into place.
 */
function backpropInputByMatMul(info: backend_util.Conv2DInfo, dy: TensorInfo, filter: TensorInfo, backend: WasmHeapBackend): TensorInfo {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW, outChannels: Co } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const K = KH * KW * Ci;

  const wT = backend.makeOutput([Co, K], 'float32');
  {
    const src = backend.typedArrayFromHeap(filter);
    const dst = backend.typedArrayFromHeap(wT);
    for (let k = 0; k < K; k++) {
      for (let o = 0; o < Co; o++) dst[o * K + k] = src[k * Co + o];
    }
  }
  const cols = call(BatchMatMul, { a: { ...dy, shape: [N * OH * OW, Co] }, b: wT }, backend, { transposeA: false, transposeB: false });
  backend.disposeData(wT.dataId);

  const dx = backend.makeOutput([N, H, W, Ci], 'float32');
  backend.typedArrayFromHeap(dx).fill(0);
  // Each (pixel, filter row) adds one contiguous run of KW·Ci values (fewer at the edges).
  const simd = heapSimd(backend);
  const src = backend.typedArrayFromHeap(cols).byteOffset;
  const dst = backend.typedArrayFromHeap(dx).byteOffset;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const row = ((n * OH + oh) * OW + ow) * K;
        const iw0 = ow * SW - left;
        const kw0 = Math.max(0, -iw0);
        const len = (Math.min(KW, W - iw0) - kw0) * Ci;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * SH + kh - top;
          if (ih < 0 || ih >= H) continue;
          const s = row + (kh * KW + kw0) * Ci;
          const d = ((n * H + ih) * W + iw0 + kw0) * Ci;
          simd.addIntoAt(dst + 4 * d, src + 4 * s, len);
        }
      }
    }
  }
  backend.disposeData(cols.dataId);
  return dx;
}

/** dy spread out by the stride (stride − 1 zeros between pixels); dy itself for stride 1. */
function dilateByStride(info: backend_util.Conv2DInfo, dy: TensorInfo, backend: WasmHeapBackend): TensorInfo {
  const { batchSize: N, outHeight: OH, outWidth: OW, outChannels: Co, strideHeight: SH, strideWidth: SW } = info;
  if (SH === 1 && SW === 1) return dy;
  const HD = (OH - 1) * SH + 1;
  const WD = (OW - 1) * SW + 1;
  const dyD = backend.makeOutput([N, HD, WD, Co], 'float32');
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
  return dyD;
}

/** Explicit padding that makes a stride-1 conv over the dilated dy produce exactly dx. */
function fullConvPadding(info: backend_util.Conv2DInfo): [[number, number], [number, number], [number, number], [number, number]] {
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, filterHeight: KH, filterWidth: KW } = info;
  const HD = (OH - 1) * info.strideHeight + 1;
  const WD = (OW - 1) * info.strideWidth + 1;
  const top = KH - 1 - info.padInfo.top;
  const left = KW - 1 - info.padInfo.left;
  return [
    [0, 0],
    [top, H - HD + KH - 1 - top],
    [left, W - WD + KW - 1 - left],
    [0, 0],
  ];
}

/**
 * dx = "full" convolution of dy (dilated by the stride) with the filter rotated by 180° and its
 * in/out channels swapped, padded by filterSize − 1 − forwardPad.
 */
function backpropInputByFullConv(info: backend_util.Conv2DInfo, dy: TensorInfo, filter: TensorInfo, backend: WasmHeapBackend): TensorInfo {
  const { inChannels: Ci, outChannels: Co, filterHeight: KH, filterWidth: KW } = info;
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
  const dyD = dilateByStride(info, dy, backend);
  const convAttrs: Conv2DAttrs = { strides: [1, 1], pad: fullConvPadding(info), dataFormat: 'NHWC', dilations: [1, 1] };
  const dx = call(Conv2D, { x: dyD, filter: fR }, backend, convAttrs);
  backend.disposeData(fR.dataId);
  if (dyD !== dy) backend.disposeData(dyD.dataId);
  return dx;
}

/**
 * The full convolution as a depthwise one: batch folded into channels (dy as [1, h, w, n·co]),
 * each channel convolved with its rotated filter taps for every ci (channel multiplier Ci), then
 * summed over co. XNNPACK's depthwise kernel vectorises over the n·co channels, so this avoids
 * the 8x SIMD waste of a Conv2D with a single output channel (Ci = 1). Costly for large Ci.
 */
function backpropInputByDepthwise(info: backend_util.Conv2DInfo, dy: TensorInfo, filter: TensorInfo, backend: WasmHeapBackend): TensorInfo {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: Ci, outChannels: Co, filterHeight: KH, filterWidth: KW } = info;
  const dyD = dilateByStride(info, dy, backend);
  const [, HD, WD] = dyD.shape;
  const dyT = call(Transpose, { x: dyD }, backend, { perm: [1, 2, 0, 3] });
  if (dyD !== dy) backend.disposeData(dyD.dataId);
  // fD[kh, kw, n·Co + co, ci] = f[KH-1-kh, KW-1-kw, ci, co]
  const fD = backend.makeOutput([KH, KW, N * Co, Ci], 'float32');
  {
    const src = backend.typedArrayFromHeap(filter);
    const dst = backend.typedArrayFromHeap(fD);
    const K = KH * KW;
    for (let k = 0; k < K; k++) {
      const s0 = (K - 1 - k) * Ci * Co;
      for (let co = 0; co < Co; co++) {
        for (let ci = 0; ci < Ci; ci++) {
          const v = src[s0 + ci * Co + co];
          for (let n = 0; n < N; n++) dst[((k * N + n) * Co + co) * Ci + ci] = v;
        }
      }
    }
  }
  const conv = call(DepthwiseConv2dNative, { x: { ...dyT, shape: [1, HD, WD, N * Co] }, filter: fD }, backend, {
    strides: [1, 1],
    pad: fullConvPadding(info),
    dilations: [1, 1],
    dataFormat: 'NHWC',
  });
  backend.disposeData(dyT.dataId);
  backend.disposeData(fD.dataId);
  // [h·w·n, co, ci] summed over co -> [h, w, n, ci] -> [n, h, w, ci]
  const summed = call(Sum, { x: { ...conv, shape: [H * W * N, Co, Ci] } }, backend, { axis: [1], keepDims: false });
  backend.disposeData(conv.dataId);
  const dx = call(Transpose, { x: { ...summed, shape: [H, W, N, Ci] } }, backend, { perm: [2, 0, 1, 3] });
  backend.disposeData(summed.dataId);
  return dx;
}

/**
 * Average-pool gradient for unpadded windows, from the backend's vectorised kernels:
 *  - stride 1: dx = AvgPool(dy zero-padded by filterSize − 1), the same window sum / (fh·fw);
 *  - stride ≥ filterSize (disjoint windows): dx = dy/(fh·fw) copied over each window, in one JS
 *    pass (the wasm Tile kernel is a slow generic loop here).
 * Everything else uses the shipped kernel (a scalar loop, slower on LeNet's shapes).
 */
function avgPoolGrad(args: { inputs: { dy: TensorInfo; input: TensorInfo }; backend: unknown; attrs: NamedAttrMap }): TensorInfo {
  const { dy, input } = args.inputs;
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as AvgPoolGradAttrs & {
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const info = backend_util.computePool2DInfo(input.shape as Shape4, filterSize, strides, 1, pad, dimRoundingMode);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: FH, filterWidth: FW, strideHeight: SH, strideWidth: SW } = info;
  const { top, bottom, left, right } = info.padInfo;
  const unpadded = !top && !bottom && !left && !right && dy.dtype === 'float32';
  const backend = args.backend as WasmHeapBackend;
  if (unpadded && SH === 1 && SW === 1) {
    const padded = call(PadV2, { x: dy }, backend, {
      paddings: [
        [0, 0],
        [FH - 1, FH - 1],
        [FW - 1, FW - 1],
        [0, 0],
      ],
      constantValue: 0,
    });
    const dx = call(AvgPool, { x: padded }, backend, { filterSize: [FH, FW], strides: 1, pad: 'valid' });
    backend.disposeData(padded.dataId);
    return dx;
  }
  if (unpadded && SH >= FH && SW >= FW) {
    const scale = 1 / (FH * FW);
    const dx = backend.makeOutput([N, H, W, C], 'float32');
    const src = backend.typedArrayFromHeap(dy);
    const dst = backend.typedArrayFromHeap(dx);
    dst.fill(0);
    for (let n = 0; n < N; n++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          const s = ((n * OH + oh) * OW + ow) * C;
          for (let i = 0; i < FH; i++) {
            for (let j = 0; j < FW; j++) {
              const d = ((n * H + oh * SH + i) * W + ow * SW + j) * C;
              for (let c = 0; c < C; c++) dst[d + c] = src[s + c] * scale;
            }
          }
        }
      }
    }
    return dx;
  }
  return call(AvgPoolGrad, args.inputs, args.backend, args.attrs);
}

/**
 * The wasm BatchMatMul only uses XNNPACK when neither operand is transposed (and batch is 1);
 * with transposeA/B it falls back to a scalar triple loop. So materialise the
 * transposes with the Transpose kernel and run the XNNPACK path, choosing between
 * C = op(A)·op(B) and C = (op(B)ᵀ·op(A)ᵀ)ᵀ by which copies (and packs) fewer elements.
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
  const backend = args.backend as WasmHeapBackend;
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
  const sizeA = ra * ca,
    sizeB = rb * cb;
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
 * The wasm Tanh is a scalar libm loop; XNNPACK's vectorised Sigmoid is much faster, and
 * tanh(x) = 2·sigmoid(2x) − 1 (exact to float32 rounding). The scaling is done with wasm
 * Multiply/Add too, faster than a JS loop over the heap.
 */
function tanh(args: { inputs: { x: TensorInfo }; backend: unknown }): TensorInfo {
  const { x } = args.inputs;
  if (x.dtype !== 'float32') return call(Tanh, args.inputs, args.backend);
  const backend = args.backend as WasmHeapBackend;
  const two = scalar(backend, 2);
  const minusOne = scalar(backend, -1);
  const x2 = call(Multiply, { a: x, b: two }, backend);
  const s = call(Sigmoid, { x: x2 }, backend);
  backend.disposeData(x2.dataId);
  const s2 = call(Multiply, { a: s, b: two }, backend);
  backend.disposeData(s.dataId);
  const y = call(Add, { a: s2, b: minusOne }, backend);
  backend.disposeData(s2.dataId);
  backend.disposeData(two.dataId);
  backend.disposeData(minusOne.dataId);
  return y;
}

export const wasmTrainingKernels: KernelConfig[] = [
  { kernelName: Conv2DBackpropFilter, backendName: 'wasm', kernelFunc: conv2DBackpropFilter as unknown as KernelFunc },
  { kernelName: Conv2DBackpropInput, backendName: 'wasm', kernelFunc: conv2DBackpropInput as unknown as KernelFunc },
  { kernelName: BatchMatMul, backendName: 'wasm', kernelFunc: batchMatMul as unknown as KernelFunc },
  { kernelName: Tanh, backendName: 'wasm', kernelFunc: tanh as unknown as KernelFunc },
  { kernelName: AvgPoolGrad, backendName: 'wasm', kernelFunc: avgPoolGrad as unknown as KernelFunc },
];

let registered = false;

/**
 * Registers the kernels above for the `wasm` backend, replacing shipped ones. Idempotent; call it
 * before or after `tf.setBackend('wasm')`.
 */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  for (const config of wasmTrainingKernels) {
    const original = tf.getKernel(config.kernelName, config.backendName);
    if (original) {
      shipped.set(config.kernelName, original.kernelFunc);
      tf.unregisterKernel(config.kernelName, config.backendName);
    }
    // The shipped kernel's setup (binding its wasm function) must still run when the backend
    // initialises, as we delegate to it.
    tf.registerKernel({ ...config, setupFunc: original?.setupFunc });
  }
  registered = true;
}

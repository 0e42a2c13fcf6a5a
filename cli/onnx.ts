/**
 * A tfjs LayersModel (LeNet-5 as shared/model.ts builds it) as a standard ONNX file, from its
 * weights, with no Python step. The protobuf wire format of the five ONNX messages needed
 * (ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto; onnx/onnx.proto, proto2) is
 * written by hand below: varints and length-delimited fields only.
 *
 * The graph is NCHW, as ONNX's Conv wants: input `pixels` float32 [N, 1, 28, 28] (raw pixels 0..1,
 * the same bytes as tfjs's NHWC [N, 28, 28, 1] for one channel), output `probabilities` [N, 10].
 * Conv kernels go from tfjs's [kh, kw, in, out] to [out, in, kh, kw]; the first Dense after a
 * Flatten has its rows reordered from tfjs's (h, w, c) flattening to NCHW's (c, h, w).
 */
import type * as tfl from '@tensorflow/tfjs-layers';

/** ONNX IR version 7 goes with opset 13 (ONNX 1.8); onnxruntime loads both. */
export const ONNX_IR_VERSION = 7;
export const ONNX_OPSET = 13;
export const ONNX_INPUT = 'pixels';
export const ONNX_OUTPUT = 'probabilities';

// TensorProto.DataType.FLOAT and AttributeProto.AttributeType values of onnx.proto.
const FLOAT = 1;
const ATTR_INT = 2;
const ATTR_INTS = 7;

/** Protobuf fields of one message, appended in order; nested messages are written as bytes. */
class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  private rawVarint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`protobuf: ${n} is not a non-negative safe integer`);
    const out: number[] = [];
    while (n >= 0x80) {
      out.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    out.push(n);
    this.push(Uint8Array.from(out));
  }

  /** A varint field (wire type 0): int32, int64 and enums, non-negative only (all ONNX needs here). */
  int(field: number, n: number): this {
    this.rawVarint(field * 8);
    this.rawVarint(n);
    return this;
  }

  /** A length-delimited field (wire type 2). */
  bytes(field: number, value: Uint8Array): this {
    this.rawVarint(field * 8 + 2);
    this.rawVarint(value.length);
    this.push(value);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

type Attr = { name: string; int: number } | { name: string; ints: number[] };

function attribute(a: Attr): ProtoWriter {
  // AttributeProto: name 1, i 3, ints 8 (unpacked, proto2's default), type 20.
  const w = new ProtoWriter().string(1, a.name);
  if ('int' in a) return w.int(3, a.int).int(20, ATTR_INT);
  for (const v of a.ints) w.int(8, v);
  return w.int(20, ATTR_INTS);
}

function node(op: string, name: string, inputs: string[], outputs: string[], attrs: Attr[] = []): ProtoWriter {
  // NodeProto: input 1, output 2, name 3, op_type 4, attribute 5.
  const w = new ProtoWriter();
  for (const i of inputs) w.string(1, i);
  for (const o of outputs) w.string(2, o);
  w.string(3, name).string(4, op);
  for (const a of attrs) w.message(5, attribute(a));
  return w;
}

function tensor(name: string, dims: number[], values: Float32Array): ProtoWriter {
  // TensorProto: dims 1, data_type 2, name 8, raw_data 9 (little-endian, as ONNX requires).
  const w = new ProtoWriter();
  for (const d of dims) w.int(1, d);
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return w.int(2, FLOAT).string(8, name).bytes(9, raw);
}

/** ValueInfoProto of a float tensor; a string dimension is symbolic (the batch). */
function valueInfo(name: string, dims: (number | string)[]): ProtoWriter {
  // TensorShapeProto.Dimension: dim_value 1, dim_param 2.
  const shape = new ProtoWriter();
  for (const d of dims) shape.message(1, typeof d === 'string' ? new ProtoWriter().string(2, d) : new ProtoWriter().int(1, d));
  // TypeProto.tensor_type 1 → Tensor { elem_type 1, shape 2 }; ValueInfoProto { name 1, type 2 }.
  const tensorType = new ProtoWriter().int(1, FLOAT).message(2, shape);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType));
}

/** The layer config fields read here (tfjs serialises them in camelCase). */
interface LayerConfig {
  name: string;
  activation?: string;
  kernelSize?: number[];
  poolSize?: number[];
  strides?: number[];
  padding?: string;
  dataFormat?: string;
  dilationRate?: number | number[];
  useBias?: boolean;
}

const ACTIVATIONS: Record<string, string | null> = { linear: null, tanh: 'Tanh', relu: 'Relu', sigmoid: 'Sigmoid', softmax: 'Softmax' };

export interface OnnxOptions {
  /** Written into the model's doc_string, e.g. the job id. */
  description?: string;
}

/**
 * The ONNX bytes of a sequential tfjs model made of Conv2D, AveragePooling2D, MaxPooling2D,
 * Flatten and Dense layers with `valid` padding (LeNet-5); anything else is refused by name.
 * Reads the weights with dataSync, so a tfjs backend must be ready.
 */
export function layersModelToOnnx(model: tfl.LayersModel, opts: OnnxOptions = {}): Uint8Array {
  const inShape = model.inputs[0].shape; // [null, h, w, c]
  if (inShape.length !== 4) throw new Error(`ONNX export: input shape ${JSON.stringify(inShape)} is not [N, H, W, C]`);
  let [h, w, c] = inShape.slice(1) as number[];
  const nodes: ProtoWriter[] = [];
  const inits: ProtoWriter[] = [];
  let x = ONNX_INPUT;
  // After Flatten: the NHWC shape it flattened, for the next Dense's row order.
  let flattened: { h: number; w: number; c: number } | undefined;
  let rank = 4;

  const activate = (layer: string, activation: string | undefined) => {
    const op = ACTIVATIONS[activation ?? 'linear'];
    if (op === undefined) throw new Error(`ONNX export: layer ${layer}: activation "${activation}" is not supported`);
    if (op === null) return;
    if (op === 'Softmax' && rank !== 2) throw new Error(`ONNX export: layer ${layer}: softmax only after Dense`);
    const out = `${layer}/${op.toLowerCase()}`;
    nodes.push(node(op, out, [x], [out], op === 'Softmax' ? [{ name: 'axis', int: 1 }] : []));
    x = out;
  };
  const checkSpatial = (cfg: LayerConfig) => {
    if (cfg.padding !== 'valid') throw new Error(`ONNX export: layer ${cfg.name}: padding "${cfg.padding}" is not supported`);
    if (cfg.dataFormat !== undefined && cfg.dataFormat !== 'channelsLast')
      throw new Error(`ONNX export: layer ${cfg.name}: data format "${cfg.dataFormat}" is not supported`);
    if (rank !== 4) throw new Error(`ONNX export: layer ${cfg.name} comes after Flatten`);
  };

  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as unknown as LayerConfig;
    const name = cfg.name;
    const weights = layer.getWeights().map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array }));
    if (cls === 'Conv2D') {
      checkSpatial(cfg);
      const dil = [cfg.dilationRate ?? 1].flat();
      if (dil.some((d) => d !== 1)) throw new Error(`ONNX export: layer ${name}: dilation is not supported`);
      const [kh, kw, cin, cout] = weights[0].shape;
      const k = weights[0].data;
      const oihw = new Float32Array(k.length);
      for (let o = 0; o < cout; o++)
        for (let i = 0; i < cin; i++)
          for (let y = 0; y < kh; y++)
            for (let z = 0; z < kw; z++) oihw[((o * cin + i) * kh + y) * kw + z] = k[((y * kw + z) * cin + i) * cout + o];
      inits.push(tensor(`${name}/kernel`, [cout, cin, kh, kw], oihw));
      const inputs = [x, `${name}/kernel`];
      if (cfg.useBias !== false) {
        inits.push(tensor(`${name}/bias`, [cout], weights[1].data));
        inputs.push(`${name}/bias`);
      }
      const strides = cfg.strides ?? [1, 1];
      nodes.push(
        node(
          'Conv',
          name,
          inputs,
          [name],
          [
            { name: 'kernel_shape', ints: [kh, kw] },
            { name: 'strides', ints: strides },
            { name: 'pads', ints: [0, 0, 0, 0] },
          ],
        ),
      );
      x = name;
      [h, w, c] = [Math.floor((h - kh) / strides[0]) + 1, Math.floor((w - kw) / strides[1]) + 1, cout];
      activate(name, cfg.activation);
    } else if (cls === 'AveragePooling2D' || cls === 'MaxPooling2D') {
      checkSpatial(cfg);
      const pool = cfg.poolSize!;
      const strides = cfg.strides ?? pool;
      const op = cls === 'AveragePooling2D' ? 'AveragePool' : 'MaxPool';
      nodes.push(
        node(
          op,
          name,
          [x],
          [name],
          [
            { name: 'kernel_shape', ints: pool },
            { name: 'strides', ints: strides },
            { name: 'pads', ints: [0, 0, 0, 0] },
          ],
        ),
      );
      x = name;
      [h, w] = [Math.floor((h - pool[0]) / strides[0]) + 1, Math.floor((w - pool[1]) / strides[1]) + 1];
    } else if (cls === 'Flatten') {
      if (rank !== 4) throw new Error(`ONNX export: layer ${name}: a second Flatten`);
      nodes.push(node('Flatten', name, [x], [name], [{ name: 'axis', int: 1 }]));
      x = name;
      flattened = { h, w, c };
      rank = 2;
    } else if (cls === 'Dense') {
      if (rank !== 2) throw new Error(`ONNX export: layer ${name}: Dense on a 4-D tensor (no Flatten before it)`);
      const [inputs, units] = weights[0].shape;
      let k = weights[0].data;
      if (flattened) {
        // tfjs row (y*w + z)*c + ch holds the input that NCHW's Flatten puts at (ch*h + y)*w + z.
        const { h: fh, w: fw, c: fc } = flattened;
        const rows = new Float32Array(k.length);
        for (let ch = 0; ch < fc; ch++)
          for (let y = 0; y < fh; y++)
            for (let z = 0; z < fw; z++) {
              const from = ((y * fw + z) * fc + ch) * units;
              rows.set(k.subarray(from, from + units), ((ch * fh + y) * fw + z) * units);
            }
        k = rows;
        flattened = undefined;
      }
      inits.push(tensor(`${name}/kernel`, [inputs, units], k));
      const gemmInputs = [x, `${name}/kernel`];
      if (cfg.useBias !== false) {
        inits.push(tensor(`${name}/bias`, [units], weights[1].data));
        gemmInputs.push(`${name}/bias`);
      }
      nodes.push(node('Gemm', name, gemmInputs, [name]));
      x = name;
      c = units;
      activate(name, cfg.activation);
    } else if (cls !== 'InputLayer') {
      throw new Error(`ONNX export: layer ${name} (${cls}) is not supported`);
    }
  }
  if (rank !== 2) throw new Error('ONNX export: the model does not end in Dense');
  nodes.push(node('Identity', ONNX_OUTPUT, [x], [ONNX_OUTPUT]));

  // GraphProto: node 1, name 2, initializer 5, input 11, output 12.
  const graph = new ProtoWriter();
  for (const n of nodes) graph.message(1, n);
  graph.string(2, model.name || 'model');
  for (const t of inits) graph.message(5, t);
  graph.message(11, valueInfo(ONNX_INPUT, ['N', inShape[3] as number, inShape[1] as number, inShape[2] as number]));
  graph.message(12, valueInfo(ONNX_OUTPUT, ['N', c]));

  // ModelProto: ir_version 1, producer_name 2, producer_version 3, doc_string 6, graph 7, opset_import 8.
  const modelProto = new ProtoWriter().int(1, ONNX_IR_VERSION).string(2, 'lenet-mnist-aws').string(3, '1');
  if (opts.description) modelProto.string(6, opts.description);
  modelProto.message(7, graph);
  // OperatorSetIdProto: domain 1 ("" is the default ONNX domain, so omitted), version 2.
  modelProto.message(8, new ProtoWriter().int(2, ONNX_OPSET));
  return modelProto.finish();
}

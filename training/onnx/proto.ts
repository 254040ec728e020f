/**
 * ONNX read/write on the maintained `onnx-proto` package (protobufjs static code for onnx.proto3),
 * plus the few builders our writers need. int64 fields decode as Long: `num()` normalises them.
 *
 * @example
 * const model = readOnnx(bytes);
 * const w = initializerValues(model.graph!.initializer![0]!); // Float32Array
 * const bytes2 = writeOnnx(makeModel(graph, 17));
 */

import type { onnx as OnnxTypes } from 'onnx-proto';
import onnxProto from 'onnx-proto';

// onnx-proto is CommonJS; its namespace comes through the default export under Node's ESM loader.
const { onnx } = onnxProto;

export { onnx };
export type Graph = OnnxTypes.IGraphProto;
export type Node = OnnxTypes.INodeProto;
export type Model = OnnxTypes.IModelProto;
export type TensorProto = OnnxTypes.ITensorProto;
export type ValueInfo = OnnxTypes.IValueInfoProto;
export type Attribute = OnnxTypes.IAttributeProto;

/** ONNX TensorProto.DataType values we handle. */
export const DT = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, FLOAT16: 10, DOUBLE: 11 } as const;

/** Opset we write: 17 is supported by every onnxruntime (node and web) we target. */
export const DEFAULT_OPSET = 17;
/** IR version 8 matches onnx-proto 8's schema (onnx 1.10). */
export const IR_VERSION = 8;

export class OnnxError extends Error {
  constructor(
    message: string,
    readonly node?: string,
  ) {
    super(message);
    this.name = 'OnnxError';
  }
}

/** A protobuf int64 (number or Long) as a JS number. */
export function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof (v as { toNumber?: unknown }).toNumber === 'function')
    return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

export function readOnnx(bytes: Uint8Array): Model {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (cause) {
    throw new OnnxError(`not an ONNX model: ${(cause as Error).message}`);
  }
}

export function writeOnnx(model: Model): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

export function opsetOf(model: Model): number {
  const d = model.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx');
  return d ? num(d.version) : 0;
}

/** An initializer's values as f32 (float, double, int32, int64 and raw little-endian data). */
export function initializerValues(t: TensorProto): Float32Array {
  const n = (t.dims ?? []).reduce<number>((a, d) => a * num(d), 1);
  if (t.rawData?.length) {
    const raw = t.rawData;
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      switch (t.dataType) {
        case DT.FLOAT:
          out[i] = dv.getFloat32(i * 4, true);
          break;
        case DT.DOUBLE:
          out[i] = dv.getFloat64(i * 8, true);
          break;
        case DT.INT64:
          out[i] = Number(dv.getBigInt64(i * 8, true));
          break;
        case DT.INT32:
          out[i] = dv.getInt32(i * 4, true);
          break;
        default:
          throw new OnnxError(`initializer ${t.name}: data type ${t.dataType} is not supported`);
      }
    }
    return out;
  }
  if (t.floatData?.length) return Float32Array.from(t.floatData);
  if (t.doubleData?.length) return Float32Array.from(t.doubleData);
  if (t.int64Data?.length) return Float32Array.from(t.int64Data, num);
  if (t.int32Data?.length) return Float32Array.from(t.int32Data);
  return new Float32Array(n);
}

export function dimsOf(t: TensorProto): number[] {
  return (t.dims ?? []).map(num);
}

export function floatTensor(name: string, dims: number[], data: Float32Array): TensorProto {
  const bytes = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  return { name, dims, dataType: DT.FLOAT, rawData: bytes };
}

/** An int64 tensor; `dims: []` makes a scalar. */
export function int64Tensor(name: string, values: number[], dims: number[] = [values.length]): TensorProto {
  return { name, dims, dataType: DT.INT64, int64Data: values };
}

/** A Constant node whose `value` attribute is `t` (the form torch.onnx.export writes scalars and shapes in). */
export function constantNode(output: string, t: TensorProto, name?: string): Node {
  return {
    opType: 'Constant',
    input: [],
    output: [output],
    attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t }],
    name: name ?? output,
  };
}

type AttrValue = number | number[] | string;

/** Attributes ONNX types as FLOAT even when the value is a whole number. */
const FLOAT_ATTRS = new Set(['epsilon', 'alpha', 'beta', 'min', 'max', 'ratio']);

/** A node; integer attributes become INT/INTS (but FLOAT_ATTRS FLOAT), non-integers FLOAT/FLOATS, strings STRING. */
export function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  attrs: Record<string, AttrValue> = {},
  name?: string,
): Node {
  const attribute: Attribute[] = Object.entries(attrs).map(([k, v]) => {
    if (typeof v === 'string')
      return { name: k, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(v) };
    if (Array.isArray(v)) {
      return v.every(Number.isInteger)
        ? { name: k, type: onnx.AttributeProto.AttributeType.INTS, ints: v }
        : { name: k, type: onnx.AttributeProto.AttributeType.FLOATS, floats: v };
    }
    return Number.isInteger(v) && !FLOAT_ATTRS.has(k)
      ? { name: k, type: onnx.AttributeProto.AttributeType.INT, i: v }
      : { name: k, type: onnx.AttributeProto.AttributeType.FLOAT, f: v };
  });
  return { opType, input: inputs, output: outputs, attribute, name: name ?? outputs[0] };
}

/** A float tensor value-info; string dims are symbolic (e.g. 'N' for the batch). */
export function valueInfo(name: string, dims: (number | string)[], elemType: number = DT.FLOAT): ValueInfo {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/** Dims of a value-info (symbolic dims as -1). */
export function valueInfoDims(v: ValueInfo): number[] {
  return (v.type?.tensorType?.shape?.dim ?? []).map((d) =>
    d.dimValue != null && num(d.dimValue) > 0 ? num(d.dimValue) : -1,
  );
}

export function makeModel(graph: Graph, opset = DEFAULT_OPSET, producer = 'edge-cascade'): Model {
  return {
    irVersion: IR_VERSION,
    producerName: producer,
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: opset }],
    graph,
  };
}

export function attr(n: Node, name: string): Attribute | undefined {
  return n.attribute?.find((a) => a.name === name);
}

export function attrInts(n: Node, name: string, dflt: number[]): number[] {
  const a = attr(n, name);
  return a?.ints?.length ? a.ints.map(num) : dflt;
}

export function attrInt(n: Node, name: string, dflt: number): number {
  const a = attr(n, name);
  return a && a.i != null ? num(a.i) : dflt;
}

export function attrFloat(n: Node, name: string, dflt: number): number {
  const a = attr(n, name);
  return a && a.f != null ? a.f : dflt;
}

export function attrString(n: Node, name: string, dflt: string): string {
  const a = attr(n, name);
  return a?.s ? new TextDecoder().decode(a.s) : dflt;
}

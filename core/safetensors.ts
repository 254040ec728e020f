/**
 * safetensors codec (the standard format: u64 little-endian header length, a JSON header, then the
 * raw little-endian tensor bytes). Runs in Node, workerd and browsers (no Node APIs).
 *
 * @example
 * const bytes = encodeSafetensors({ x: { dtype: 'F32', shape: [1, 2], data: new Float32Array([1, 2]) } }, { model: 'm' });
 * const { tensors, metadata } = decodeSafetensors(bytes);
 */
export type SafetensorsDtype = 'F32' | 'F16' | 'I8' | 'U8' | 'I32';

export interface SafeTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Uint16Array | Int8Array | Uint8Array | Int32Array;
}

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, I8: 1, U8: 1, I32: 4 };
/** The spec caps the header at 100 MB; we refuse anything larger before parsing it. */
const MAX_HEADER_BYTES = 100_000_000;
/** Tensors of more dimensions than this are not features of any CNN; the bound keeps shape products cheap. */
const MAX_RANK = 8;

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

export function encodeSafetensors(tensors: Record<string, SafeTensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const names = Object.keys(tensors);
  for (const name of names) {
    const t = tensors[name]!;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length)
      throw new SafetensorsError(
        `tensor "${name}": shape [${t.shape}] holds ${n} values but data has ${t.data.length}`,
      );
    const len = n * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + len] };
    offset += len;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned (allowed by the spec).
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const d = tensors[name]!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  return out;
}

function view(dtype: SafetensorsDtype, bytes: Uint8Array): SafeTensor['data'] {
  // Copy so the typed array is aligned and owns its memory (Node's Buffer#slice would not copy).
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  const buf = copy.buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf);
    case 'F16':
      return new Uint16Array(buf);
    case 'I8':
      return new Int8Array(buf);
    case 'U8':
      return new Uint8Array(buf);
    case 'I32':
      return new Int32Array(buf);
  }
}

export function decodeSafetensors(bytes: Uint8Array): {
  tensors: Record<string, SafeTensor>;
  metadata: Record<string, string>;
} {
  if (bytes.length < 8)
    throw new SafetensorsError(`body is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const len = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (len > MAX_HEADER_BYTES || 8 + len > bytes.length)
    throw new SafetensorsError(`header length ${len} exceeds the body (${bytes.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len)));
  } catch {
    throw new SafetensorsError('header is not valid JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new SafetensorsError('header is not a JSON object');
  const dataStart = 8 + len;
  const tensors: Record<string, SafeTensor> = {};
  let metadata: Record<string, string> = {};
  const spans: { name: string; a: number; b: number }[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (
        typeof entry !== 'object' ||
        entry === null ||
        Array.isArray(entry) ||
        !Object.values(entry).every((v) => typeof v === 'string')
      ) {
        throw new SafetensorsError('__metadata__ must be an object of strings');
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: string; shape?: unknown; data_offsets?: unknown };
    if (!e || typeof e.dtype !== 'string' || !(e.dtype in BYTES))
      throw new SafetensorsError(
        `tensor "${name}": dtype ${String(e?.dtype)} is not one of ${Object.keys(BYTES).join(', ')}`,
      );
    const dtype = e.dtype as SafetensorsDtype;
    if (
      !Array.isArray(e.shape) ||
      e.shape.length > MAX_RANK ||
      !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)
    )
      throw new SafetensorsError(
        `tensor "${name}": shape must be an array of at most ${MAX_RANK} non-negative integers`,
      );
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0))
      throw new SafetensorsError(`tensor "${name}": data_offsets must be two non-negative integers`);
    const [a, b] = offs as [number, number];
    const n = (e.shape as number[]).reduce((x, y) => x * y, 1);
    if (b < a || b - a !== n * BYTES[dtype])
      throw new SafetensorsError(
        `tensor "${name}": data_offsets [${a}, ${b}] span ${b - a} bytes, shape [${e.shape}] of ${dtype} needs ${n * BYTES[dtype]}`,
      );
    if (dataStart + b > bytes.length)
      throw new SafetensorsError(
        `tensor "${name}": data ends at byte ${dataStart + b}, past the body's ${bytes.length} (truncated?)`,
      );
    spans.push({ name, a, b });
    tensors[name] = {
      dtype,
      shape: e.shape as number[],
      data: view(dtype, bytes.subarray(dataStart + a, dataStart + b)),
    };
  }
  // As the format's reference implementation requires: the tensors tile the data region exactly, in
  // order of offset, with no overlap (two tensors aliasing the same bytes), no gap and nothing after.
  spans.sort((x, y) => x.a - y.a || x.b - y.b);
  let end = 0;
  for (const s of spans) {
    if (s.a !== end)
      throw new SafetensorsError(
        `tensor "${s.name}": data_offsets start at ${s.a}, expected ${end} (tensors must not overlap or leave gaps)`,
      );
    end = s.b;
  }
  if (dataStart + end !== bytes.length)
    throw new SafetensorsError(
      `the tensors end at byte ${dataStart + end}, but the body has ${bytes.length} (trailing bytes)`,
    );
  return { tensors, metadata };
}

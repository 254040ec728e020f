/**
 * Generators for the GPU backend's `POST /v1/resume`: safetensors bodies (valid, and mutated then
 * correctly signed so the body checks themselves are exercised), signatures (forgeries, tampered
 * bodies, expired, malformed), replays with cosmetically different header bytes (a signed body is
 * accepted once, whatever the bytes around its signature look like), non-finite results, content
 * types, methods, paths and sizes.
 */
import fc from 'fast-check';
import { toHalf } from '../../core/feature-codec.js';
import type { Expect, FuzzCase, FuzzClass, FuzzModel, FuzzRequest, SignSpec, Spelling, Step } from './types.js';
import { concat, enc, prng, servablePolicies } from './util.js';

export const RESUME = '/v1/resume';
/** Spellings the signature parser accepts (HTTP whitespace around the value, any hex case). */
export const ACCEPTED_SPELLINGS: Spelling[] = ['canonical', 'upper-hex', 'mixed-hex', 'ows-space', 'ows-tab'];
export const ALL_SPELLINGS: Spelling[] = [
  ...ACCEPTED_SPELLINGS,
  'reordered',
  'duplicate',
  'duplicate-variant',
  'space-after-comma',
  'semicolon',
  'extra-field',
  'leading-zero-t',
  'upper-keys',
  'trailing-comma',
  'spaces-around-equals',
  'plus-t',
  'quoted',
  'v1-twice',
];

/** Header values for one (t, MAC) under a spelling (several values = several header lines). */
export function spell(s: Spelling, t: string, mac: string): string[] {
  const c = `t=${t},v1=${mac}`;
  switch (s) {
    case 'canonical':
      return [c];
    case 'upper-hex':
      return [`t=${t},v1=${mac.toUpperCase()}`];
    case 'mixed-hex':
      return [`t=${t},v1=${mac.replace(/[a-f]/g, (x, i: number) => (i % 2 ? x.toUpperCase() : x))}`];
    case 'ows-space':
      return [`   ${c}  `];
    case 'ows-tab':
      return [`\t${c}\t`];
    case 'reordered':
      return [`v1=${mac},t=${t}`];
    case 'duplicate':
      return [c, c];
    case 'duplicate-variant':
      return [c, `t=${t},v1=${mac.toUpperCase()}`];
    case 'space-after-comma':
      return [`t=${t}, v1=${mac}`];
    case 'semicolon':
      return [`t=${t};v1=${mac}`];
    case 'extra-field':
      return [`${c},v0=deadbeef`];
    case 'leading-zero-t':
      return [`t=0${t},v1=${mac}`];
    case 'upper-keys':
      return [`T=${t},V1=${mac}`];
    case 'trailing-comma':
      return [`${c},`];
    case 'spaces-around-equals':
      return [`t = ${t},v1 = ${mac}`];
    case 'plus-t':
      return [`t=+${t},v1=${mac}`];
    case 'quoted':
      return [`t="${t}",v1="${mac}"`];
    case 'v1-twice':
      return [`${c},v1=${mac}`];
  }
}

type Dtype = 'F32' | 'F16' | 'I8';
interface Tensor {
  name: string;
  dtype: string;
  shape: unknown;
  bytes: Uint8Array;
  offsets?: unknown;
}
interface Parts {
  tensors: Tensor[];
  metadata: Record<string, unknown> | unknown;
  extraHeader?: Record<string, unknown>;
}

/** Assembles safetensors bytes from parts, any field overridable (the spec's layout: u64 LE length, JSON, data). */
export function assemble(
  p: Parts,
  o: { len?: bigint; headerText?: Uint8Array; trailing?: Uint8Array } = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (p.metadata !== undefined) header.__metadata__ = p.metadata;
  let off = 0;
  for (const t of p.tensors) {
    header[t.name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: 'offsets' in t ? t.offsets : [off, off + t.bytes.length],
    };
    off += t.bytes.length;
  }
  Object.assign(header, p.extraHeader ?? {});
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - ((8 + text.length) % 8)) % 8);
  const hb = o.headerText ?? enc(text);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, o.len ?? BigInt(hb.length), true);
  return concat(len, hb, ...p.tensors.map((t) => t.bytes), o.trailing ?? new Uint8Array(0));
}

function values(seed: number, n: number, scale: number): Float32Array {
  const r = prng(seed),
    x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (r() * 2 - 1) * scale * (r() < 0.3 ? 0 : 1);
  return x;
}
const f32Bytes = (x: Float32Array) => new Uint8Array(x.buffer.slice(0));

function featureTensors(x: Float32Array, shape: number[], dtype: Dtype): Tensor[] {
  if (dtype === 'F32') return [{ name: 'features', dtype, shape, bytes: f32Bytes(x) }];
  if (dtype === 'F16') {
    const h = new Uint16Array(x.length);
    for (let i = 0; i < x.length; i++) h[i] = toHalf(x[i]!);
    return [{ name: 'features', dtype, shape, bytes: new Uint8Array(h.buffer) }];
  }
  let max = 0;
  for (const v of x) max = Math.max(max, Math.abs(v));
  const scale = max > 0 ? max / 127 : 1;
  const q = new Int8Array(x.length);
  for (let i = 0; i < x.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(x[i]! / scale)));
  return [
    { name: 'features', dtype, shape, bytes: new Uint8Array(q.buffer) },
    { name: 'scale', dtype: 'F32', shape: [1], bytes: f32Bytes(Float32Array.of(scale)) },
  ];
}

/** `scores`: the edge exits' scores sent as metadata (one per exit before `segment`), or null for none. */
export interface BodySpec {
  segment: number;
  dtype: Dtype;
  seed: number;
  scale: number;
  policy: string;
  thresholds: number[];
  scores: number[] | null;
  requestId: string;
  extraMeta: Record<string, string>;
}

export function backendClasses(m: FuzzModel): FuzzClass[] {
  const exits = m.exits.length,
    segs = m.segments.length;
  const shapeOf = (seg: number) => [1, ...m.segments[seg]!.inputShape];
  const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  // Valid bodies use the policies this bundle serves: eenet only where every exit has a scheduler
  // (the backend answers 400 BAD_METADATA otherwise: see the eenet mutations below).
  const policies = servablePolicies(m);
  const eenetServed = policies.includes('eenet');

  const bodySpec = fc
    .record({
      segment: fc.integer({ min: 1, max: segs - 1 }),
      dtype: fc.constantFrom<Dtype>('F32', 'F16', 'I8'),
      seed: fc.integer(),
      scale: fc.constantFrom(0, 0.5, 1, 3, 10),
      policy: fc.constantFrom(...policies),
      t: fc.array(fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constant(2), fc.constant(0)), {
        minLength: exits,
        maxLength: exits,
      }),
      // The edge sends its exits' scores with every forward; policy eenet needs them, the others may omit them.
      sc: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: exits, maxLength: exits }),
      withScores: fc.boolean(),
      requestId: fc.stringMatching(/^[a-zA-Z0-9_-]{1,40}$/),
      extraMeta: fc.dictionary(fc.stringMatching(/^x[a-z]{1,8}$/), fc.string({ maxLength: 30 }), { maxKeys: 2 }),
    })
    .map(
      ({ t, sc, withScores, ...r }): BodySpec => ({
        ...r,
        thresholds: t.slice(r.segment),
        scores: withScores || r.policy === 'eenet' ? sc.slice(0, r.segment) : null,
      }),
    );

  const metaOf = (b: BodySpec): Record<string, string> => ({
    model: m.name,
    modelHash: m.backbone.sha256,
    segment: String(b.segment),
    thresholdVersion: 'default@v1',
    requestId: b.requestId,
    region: 'default',
    policy: b.policy,
    thresholds: JSON.stringify(b.thresholds),
    ...(b.scores ? { scores: JSON.stringify(b.scores) } : {}),
    encoding: b.dtype.toLowerCase(),
    ...b.extraMeta,
  });
  const partsOf = (b: BodySpec): Parts => ({
    tensors: featureTensors(values(b.seed, count(shapeOf(b.segment)), b.scale), shapeOf(b.segment), b.dtype),
    metadata: metaOf(b),
  });
  const desc = (b: BodySpec) =>
    `seg${b.segment} ${b.dtype} scale${b.scale} ${b.policy} [${b.thresholds.map((x) => +x.toFixed(2)).join(',')}]${b.scores ? ` scores[${b.scores.length}]` : ''}`;

  const post = (
    body: Uint8Array,
    type: string | null = 'application/octet-stream',
    extra: [string, string][] = [],
  ): FuzzRequest => ({
    method: 'POST',
    path: RESUME,
    headers: [
      ...(type === null ? [] : [['content-type', type] as [string, string]]),
      ['x-request-id', 'fuzz'],
      ...extra,
    ],
    body,
  });
  const signed: SignSpec = { secret: 'right' };

  // ---- valid -------------------------------------------------------------------------------------
  const TYPES = ['application/octet-stream', 'Application/Octet-Stream', 'application/octet-stream; charset=binary'];
  const valid = fc.tuple(bodySpec, fc.constantFrom(...TYPES)).map(
    ([b, type]): FuzzCase => ({
      class: 'resume-valid',
      name: `valid ${desc(b)}${Object.keys(b.extraMeta).length ? ` +meta ${Object.keys(b.extraMeta).join(',')}` : ''}`,
      request: post(assemble(partsOf(b)), type),
      sign: signed,
      expect: 'ok',
      answer: 'resume',
    }),
  );

  // ---- body mutations, correctly signed: the body checks must refuse them ---------------------------
  type Mut = [string, (b: BodySpec, r: () => number) => Uint8Array, Expect?, Record<string, unknown>?];
  const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const withMeta = (b: BodySpec, f: (md: Record<string, unknown>) => void) => {
    const p = partsOf(b);
    const md = { ...(p.metadata as Record<string, unknown>) };
    f(md);
    return assemble({ ...p, metadata: md });
  };
  const withTensor = (b: BodySpec, f: (t: Tensor, all: Tensor[]) => void) => {
    const p = partsOf(b);
    const ts = p.tensors.map((t) => ({ ...t }));
    f(ts[0]!, ts);
    return assemble({ ...p, tensors: ts });
  };
  const muts: Mut[] = [
    [
      'header length past the body',
      (b, r) => {
        const x = assemble(partsOf(b));
        return assemble(partsOf(b), { len: BigInt(x.length + Math.floor(r() * 1e6)) });
      },
    ],
    [
      'header length huge (≥ 2^53, 2^64-1)',
      (b, r) => assemble(partsOf(b), { len: pick(r, [2n ** 53n + 1n, 2n ** 64n - 1n, 2n ** 63n, 100_000_001n]) }),
    ],
    [
      'header length 0 / cuts the JSON',
      (b, r) => {
        const p = partsOf(b);
        const hb = enc(JSON.stringify({ __metadata__: p.metadata }));
        return assemble(p, { len: BigInt(r() < 0.3 ? 0 : Math.floor(r() * (hb.length - 1))) });
      },
    ],
    [
      'header length runs into the data',
      (b, r) => {
        const p = partsOf(b);
        const full = assemble(p);
        const hl = Number(new DataView(full.buffer).getBigUint64(0, true));
        return assemble(p, { len: BigInt(hl + 1 + Math.floor(r() * 64)) });
      },
    ],
    ['body shorter than 8 bytes', (_b, r) => new Uint8Array(Math.floor(r() * 8))],
    [
      'header not JSON / not an object',
      (b, r) =>
        assemble(partsOf(b), {
          headerText: enc(pick(r, ['{', '[]', 'null', '42', '"x"', '{"features":', 'true', '{}x', '\u00ff\u00fe'])),
        }),
    ],
    [
      'header invalid UTF-8',
      (b, r) =>
        assemble(partsOf(b), {
          headerText: concat(enc('{"__metadata__":{"a":"'), Uint8Array.of(pick(r, [0xff, 0xc3, 0x80])), enc('"}}')),
        }),
    ],
    [
      'unknown or wrong-case dtype',
      (b, r) =>
        withTensor(b, (t) => {
          t.dtype = pick(r, ['F64', 'BF16', 'f32', 'BOOL', '', 'F8_E4M3', 'I64', 'float32']);
        }),
    ],
    [
      'features as U8 / I32',
      (b, r) =>
        withTensor(b, (t) => {
          const dt = pick(r, ['U8', 'I32']);
          const n = count(shapeOf(b.segment));
          t.dtype = dt;
          t.bytes = new Uint8Array(n * (dt === 'U8' ? 1 : 4));
        }),
    ],
    [
      'dtype not a string',
      (b, r) =>
        withTensor(b, (t) => {
          t.dtype = pick(r, [1, null, ['F32'], { x: 1 }]) as unknown as string;
        }),
    ],
    [
      'shape inconsistent with the data',
      (b, r) =>
        withTensor(b, (t) => {
          const s = shapeOf(b.segment);
          t.shape = pick(r, [
            [...s, 1].slice(0, -2),
            [2, ...s.slice(1)],
            s.map((d) => d + 1),
            [count(s) + 1],
            [1, s[1], s[2]],
          ]);
        }),
    ],
    [
      'shape with bad dims',
      (b, r) =>
        withTensor(b, (t) => {
          const s = shapeOf(b.segment);
          t.shape = pick(r, [
            [-1, ...s.slice(1)],
            [1.5, ...s.slice(1)],
            ['1', ...s.slice(1)],
            [2 ** 53, ...s.slice(1)],
            [1, 1, 1, 1, 1, 1, 1, 1, ...s],
            'x',
            null,
            {},
          ]);
        }),
    ],
    [
      'shape consistent but not the segment input (permuted / flattened / batch 2)',
      (b, r) =>
        withTensor(b, (t) => {
          const s = shapeOf(b.segment);
          const k = Math.floor(r() * 4);
          t.shape =
            k === 0 ? [1, s[2], s[3], s[1]] : k === 1 ? [1, count(s)] : k === 2 ? [count(s)] : [1, s[1], s[3], s[2]];
          if (k === 3 && s[2] === s[3]) t.shape = [s[1], 1, s[2], s[3]];
        }),
    ],
    [
      'batch of 2',
      (b) =>
        withTensor(b, (t) => {
          const s = shapeOf(b.segment);
          t.shape = [2, ...s.slice(1)];
          t.bytes = concat(t.bytes, t.bytes);
        }),
    ],
    [
      'data_offsets overlapping (a second tensor aliases the features)',
      (b, r) => {
        const p = partsOf(b);
        const a = 4 * Math.floor(r() * 10);
        return assemble({
          ...p,
          tensors: [
            p.tensors[0]!,
            { name: 'scale', dtype: 'F32', shape: [1], bytes: new Uint8Array(0), offsets: [a, a + 4] },
          ],
        });
      },
    ],
    [
      'data_offsets with a gap before the data',
      (b, r) =>
        withTensor(b, (t, all) => {
          const g = 1 + Math.floor(r() * 16),
            n = t.bytes.length;
          t.offsets = [g, g + n];
          t.bytes = concat(new Uint8Array(g), t.bytes);
          for (const o of all.slice(1)) o.offsets = [g + n, g + n + o.bytes.length];
        }),
    ],
    [
      'trailing bytes after the last tensor',
      (b, r) => assemble(partsOf(b), { trailing: new Uint8Array(1 + Math.floor(r() * 64)) }),
    ],
    [
      'data_offsets reversed / negative / fractional / wrong arity / past the end',
      (b, r) =>
        withTensor(b, (t) => {
          const n = t.bytes.length;
          t.offsets = pick(r, [
            [n, 0],
            [-4, n - 4],
            [0.5, n + 0.5],
            [0],
            [0, n, n],
            ['0', String(n)],
            [0, n + 8],
            null,
            [2 ** 60, 2 ** 60 + n],
          ]);
        }),
    ],
    [
      'no "features" tensor',
      (b, r) =>
        withTensor(b, (t) => {
          t.name = pick(r, ['feature', 'Features', 'x', '']);
        }),
    ],
    [
      'extra tensor',
      (b) => {
        const p = partsOf(b);
        return assemble({
          ...p,
          tensors: [...p.tensors, { name: 'extra', dtype: 'F32', shape: [1], bytes: new Uint8Array(4) }],
        });
      },
    ],
    [
      'I8 without scale / bad scale',
      (b, r) => {
        const p = partsOf({ ...b, dtype: 'I8' });
        const k = Math.floor(r() * 5);
        const ts = p.tensors.slice(0, 1);
        if (k > 0)
          ts.push({
            name: 'scale',
            dtype: k === 4 ? 'F16' : 'F32',
            shape: [1],
            bytes: k === 4 ? new Uint8Array(2) : f32Bytes(Float32Array.of([0, NaN, -1, Infinity][k - 1]!)),
          });
        return assemble({ ...p, tensors: ts });
      },
    ],
    [
      'NaN or Infinity among the features',
      (b, r) =>
        withTensor({ ...b, dtype: r() < 0.5 ? 'F32' : 'F16' }, (t) => {
          const i = Math.floor(r() * (t.bytes.length / (t.dtype === 'F32' ? 4 : 2)));
          const dv = new DataView(t.bytes.buffer, t.bytes.byteOffset);
          if (t.dtype === 'F32') dv.setFloat32(4 * i, pick(r, [NaN, Infinity, -Infinity]), true);
          else dv.setUint16(2 * i, pick(r, [0x7e00, 0x7c00, 0xfc00]), true);
        }),
    ],
    [
      '__metadata__ not an object of strings',
      (b, r) => {
        const p = partsOf(b);
        const md = p.metadata as Record<string, unknown>;
        return assemble({
          ...p,
          metadata: pick(r, [
            [md],
            'x',
            1,
            null,
            { ...md, segment: b.segment },
            { ...md, thresholds: b.thresholds },
            { ...md, extra: null },
            { ...md, extra: { a: 'b' } },
            { ...md, extra: true },
          ]),
        });
      },
    ],
    [
      'metadata field missing',
      (b, r) =>
        withMeta(b, (md) => {
          delete md[pick(r, ['modelHash', 'segment', 'policy', 'thresholds'])];
        }),
    ],
    [
      'wrong model hash',
      (b, r) =>
        withMeta(b, (md) => {
          md.modelHash = pick(r, [
            '0'.repeat(64),
            m.backbone.sha256.toUpperCase(),
            m.backbone.sha256.slice(0, 63),
            '',
            `${m.backbone.sha256} `,
          ]);
        }),
      409,
    ],
    [
      'segment not a resumable decimal index',
      (b, r) =>
        withMeta(b, (md) => {
          md.segment = pick(r, [
            '0',
            String(segs),
            '-1',
            '0x1',
            '1e0',
            ' 1',
            '1 ',
            '01',
            '1.0',
            '',
            '+1',
            '9999999',
            'one',
            '１',
          ]);
        }),
    ],
    [
      'segment does not match the shape',
      (b) =>
        withMeta(b, (md) => {
          md.segment = String(
            m.segments.findIndex((s, i) => i > 0 && count(s.inputShape) !== count(m.segments[b.segment]!.inputShape)),
          );
          md.thresholds = JSON.stringify(new Array(exits - Number(md.segment)).fill(0.5));
        }),
    ],
    [
      'unknown policy',
      (b, r) =>
        withMeta(b, (md) => {
          md.policy = pick(r, ['softmax', 'Entropy', '', 'max_softmax', 'confidence ']);
        }),
    ],
    [
      'thresholds not a JSON array of numbers',
      (b, r) =>
        withMeta(b, (md) => {
          md.thresholds = pick(r, [
            '',
            '[',
            '{}',
            '"0.5"',
            'null',
            '[null]',
            '["0.5"]',
            '[true]',
            '[[0.5]]',
            '0.5',
            '[1e999]',
            '[NaN]',
            '[0.5,]',
          ]);
        }),
    ],
    [
      'thresholds of the wrong count',
      (b, r) =>
        withMeta(b, (md) => {
          md.thresholds = JSON.stringify(
            new Array(
              pick(
                r,
                [0, 1, 2, 3, 5].filter((n) => n !== b.thresholds.length),
              ),
            ).fill(0.5),
          );
        }),
    ],
    [
      'huge thresholds metadata',
      (b, r) =>
        withMeta(b, (md) => {
          const n = pick(r, [2000, 20_000, 200_000]);
          md.thresholds =
            r() < 0.5
              ? `[${new Array(n).fill('0.5').join(',')}]`
              : `[${'0'.repeat(n)}.5${b.thresholds.length > 1 ? ',0.5'.repeat(b.thresholds.length - 1) : ''}]`;
        }),
    ],
    [
      'huge known metadata string',
      (b, r) =>
        withMeta(b, (md) => {
          md[pick(r, ['requestId', 'region', 'thresholdVersion', 'modelHash', 'scores'])] = 'x'.repeat(
            1025 + Math.floor(r() * 100_000),
          );
        }),
    ],
    [
      'scores not a JSON array of numbers or nulls',
      (b, r) =>
        withMeta(b, (md) => {
          md.scores = pick(r, [
            '',
            '[',
            '{}',
            '"0.5"',
            'null',
            '["0.5"]',
            '[true]',
            '[[0.5]]',
            '0.5',
            '[1e999]',
            '[NaN]',
            '[0.5,]',
          ]);
        }),
      400,
      { code: 'BAD_METADATA' },
    ],
    // One score per exit the edge ran, whatever the policy.
    [
      'scores of the wrong count',
      (b, r) =>
        withMeta(b, (md) => {
          md.scores = JSON.stringify(
            new Array(
              pick(
                r,
                [0, 1, 2, 3, 5, 6, 7].filter((n) => n !== b.segment),
              ),
            ).fill(0.5),
          );
        }),
      400,
      { code: 'BAD_METADATA' },
    ],
    // Policy eenet with exits left to run needs the edge's scores: resume at a segment before the last exit.
    ...(exits >= 2
      ? [
          [
            'policy eenet without the scores',
            (b) => {
              const seg = Math.min(b.segment, exits - 1);
              return assemble(
                partsOf({
                  ...b,
                  policy: 'eenet',
                  segment: seg,
                  thresholds: seg === b.segment ? b.thresholds : [0.5, ...b.thresholds],
                  scores: null,
                }),
              );
            },
            400,
            { code: 'BAD_METADATA' },
          ] satisfies Mut,
        ]
      : []),
    // A bundle without an EENet scheduler does not serve policy eenet, scores or not.
    ...(eenetServed
      ? []
      : [
          [
            'policy eenet on a bundle without a scheduler',
            (b) => assemble(partsOf({ ...b, policy: 'eenet', scores: new Array<number>(b.segment).fill(0.5) })),
            400,
            { code: 'BAD_METADATA' },
          ] satisfies Mut,
        ]),
  ];
  const mutation = fc.tuple(bodySpec, fc.nat(muts.length - 1), fc.integer()).map(([b, k, s]): FuzzCase => {
    const [what, f, expect, expectJson] = muts[k]!;
    return {
      class: 'resume-body-mutation',
      name: `${what} [${desc(b)}]`,
      request: post(f(b, prng(s))),
      sign: signed,
      expect: expect ?? '4xx',
      ...(expectJson ? { expectJson } : {}),
    };
  });

  // Finite features far outside what any segment produces: the network overflows. Never a 200 with a null confidence.
  const nonFinite = fc
    .tuple(bodySpec, fc.constantFrom(3e38, -3e38, 3.4e38, 1e38), fc.constantFrom('all', 'random-sign', 'one'))
    .map(([b, v, how]): FuzzCase => {
      const s = shapeOf(b.segment),
        n = count(s),
        r = prng(b.seed),
        x = new Float32Array(n);
      for (let i = 0; i < n; i++)
        x[i] = how === 'all' ? v : how === 'random-sign' ? (r() < 0.5 ? v : -v) : i === 0 ? v : 0;
      const p = partsOf({ ...b, dtype: 'F32' });
      p.tensors = featureTensors(x, s, 'F32');
      (p.metadata as Record<string, string>).encoding = 'f32';
      return {
        class: 'resume-non-finite',
        name: `features ${how === 'one' ? `one ${v}, rest 0` : `${how} ±${v}`} [seg${b.segment}]`,
        request: post(assemble(p)),
        sign: signed,
        // Whether ±3e38 overflows depends on the network (a ReLU after a huge negative map gives zeros
        // and a finite answer): either a valid answer (the 'resume' oracle checks it is finite) or a 4xx.
        expect: ['ok', '4xx'],
        answer: 'resume',
      };
    });

  // ---- signatures --------------------------------------------------------------------------------
  const RAW_BAD = [
    '',
    ' ',
    't=',
    'v1=',
    't=1,v1=',
    `t=abc,v1=${'0'.repeat(64)}`,
    `t=${'9'.repeat(17)},v1=${'0'.repeat(64)}`,
    'sha256=abc',
    'Bearer x',
    't=1;v1=2',
    `t=1,v1=${'g'.repeat(64)}`,
    `t=1,v2=${'0'.repeat(64)}`,
    `v1=${'0'.repeat(64)}`,
    `t=1700000000000`,
    'null',
    'undefined',
  ];
  const sigBad = fc
    .tuple(bodySpec, fc.nat(9), fc.integer(), fc.constantFrom(...RAW_BAD))
    .map(([b, k, s, raw]): FuzzCase => {
      const body = assemble(partsOf(b)),
        r = prng(s);
      const base = { class: 'resume-signature', request: post(body), expect: 401 as Expect };
      switch (k) {
        case 0:
          return {
            ...base,
            name: 'no signature header',
            sign: { secret: 'none' },
            expectJson: { code: 'SIGNATURE_MISSING' },
          };
        case 1:
          return { ...base, name: 'signed with another secret', sign: { secret: 'wrong' } };
        case 2:
          return { ...base, name: 'random MAC', sign: { secret: 'right', mac: 'random' } };
        case 3:
          return { ...base, name: 'all-zero MAC', sign: { secret: 'right', mac: 'zeros' } };
        case 4:
          return { ...base, name: 'truncated MAC', sign: { secret: 'right', mac: 'truncated' } };
        case 5: {
          const skew = (r() < 0.5 ? -1 : 1) * (35_000 + Math.floor(r() * 1e9));
          return {
            ...base,
            name: `expired / future timestamp (${skew} ms)`,
            sign: { secret: 'right', skewMs: skew },
            expectJson: { code: 'SIGNATURE_EXPIRED' },
          };
        }
        case 6: {
          const t = body.slice();
          const i = Math.floor(r() * t.length);
          t[i] = (t[i]! ^ (1 + Math.floor(r() * 255))) & 0xff;
          return {
            ...base,
            name: `tampered body (byte ${i} of ${t.length} changed after signing)`,
            request: post(t),
            sign: { secret: 'right', over: body },
            expectJson: { code: 'SIGNATURE_MISMATCH' },
          };
        }
        case 7: {
          const t =
            r() < 0.5
              ? concat(body, new Uint8Array(1 + Math.floor(r() * 8)))
              : body.subarray(0, body.length - 1 - Math.floor(r() * 8));
          return {
            ...base,
            name: `tampered body (${t.length - body.length} bytes) after signing`,
            request: post(t),
            sign: { secret: 'right', over: body },
          };
        }
        case 8:
          return {
            ...base,
            name: `malformed header ${JSON.stringify(raw.slice(0, 40))}`,
            sign: { secret: 'right', raw },
          };
        default:
          return {
            ...base,
            name: 'signature of another body',
            sign: { secret: 'right', over: assemble(partsOf({ ...b, requestId: `${b.requestId}x` })) },
          };
      }
    });
  // A fresh body under a spelling: the accepted ones must give 200, the rest 401 (never a 5xx).
  const sigSpelling = fc.tuple(bodySpec, fc.constantFrom(...ALL_SPELLINGS)).map(
    ([b, sp]): FuzzCase => ({
      class: 'resume-signature',
      name: `fresh body, signature spelled ${sp}`,
      request: post(assemble(partsOf(b))),
      sign: { secret: 'right', spelling: sp },
      // Two identical lines of a single-value field: refusing is right, accepting is tolerable (RFC 9110 5.3).
      expect: ACCEPTED_SPELLINGS.includes(sp) ? 'ok' : sp === 'duplicate' ? ['ok', 401] : 401,
      answer: 'resume',
    }),
  );

  // ---- replays: accepted once, whatever the bytes around the signature ------------------------------
  const replay = fc
    .record({
      b: bodySpec,
      first: fc.constantFrom(...ACCEPTED_SPELLINGS),
      again: fc.array(fc.constantFrom(...ALL_SPELLINGS), { minLength: 1, maxLength: 5 }),
      concurrent: fc.oneof(
        { weight: 3, arbitrary: fc.constant(1) },
        { weight: 1, arbitrary: fc.integer({ min: 2, max: 8 }) },
      ),
      typeVariant: fc.boolean(),
    })
    .map(({ b, first, again, concurrent, typeVariant }): FuzzCase => {
      const body = assemble(partsOf(b));
      const then: Step[] = again.map((sp, i) => ({
        request: post(
          body,
          typeVariant && i % 2 ? 'Application/Octet-Stream; x=1' : 'application/octet-stream',
          i % 3 === 2 ? [['x-request-id', `replay-${i}`]] : [],
        ),
        sign: { secret: 'right', reuse: true, spelling: sp },
        expect: 401,
      }));
      return {
        class: 'resume-replay',
        name: `signed once (${first}${concurrent > 1 ? `, ${concurrent} copies at once` : ''}), replayed as ${again.join(', ')}`,
        request: post(body),
        sign: { secret: 'right', spelling: first },
        expect: 'ok',
        answer: 'resume',
        ...(concurrent > 1 ? { concurrent } : {}),
        then,
      };
    });

  // ---- content types, methods, paths, sizes --------------------------------------------------------
  const misc = fc
    .tuple(
      bodySpec,
      fc.nat(5),
      fc.constantFrom(
        'application/json',
        'text/plain',
        'application/safetensors',
        'application/octet',
        'image/png',
        '',
        'application/octet-stream, text/plain',
      ),
      fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH'),
      fc.constantFrom('/v1/resume/', '/v1/Resume', '/v2/resume', '/', '/v1', '/v1/resume/x', '//v1/resume', '/admin'),
    )
    .map(([b, k, type, method, path]): FuzzCase => {
      const body = assemble(partsOf(b));
      if (k === 0)
        return {
          class: 'resume-misc',
          name: `content-type ${JSON.stringify(type)}`,
          request: post(body, type),
          sign: signed,
          expect: 415,
        };
      if (k === 1)
        return { class: 'resume-misc', name: 'no content-type', request: post(body, null), sign: signed, expect: 415 };
      if (k === 2)
        return {
          class: 'resume-misc',
          name: `${method} /v1/resume`,
          request: { method, path: RESUME, headers: [] },
          expect: [404, 405],
        };
      if (k === 3)
        return {
          class: 'resume-misc',
          name: `POST ${path}`,
          request: { ...post(body), path },
          sign: signed,
          expect: path === '//v1/resume' ? [404, 'ok'] : 404,
          answer: 'resume',
        };
      if (k === 4)
        return {
          class: 'resume-misc',
          name: 'body over 1 MiB',
          request: post(concat(body, new Uint8Array(1024 * 1024))),
          sign: signed,
          expect: 413,
        };
      return {
        class: 'resume-misc',
        name: 'empty body',
        request: post(new Uint8Array(0)),
        sign: signed,
        expect: '4xx',
      };
    });

  return [
    { name: 'resume-valid', surface: 'backend', weight: 4, arb: valid },
    { name: 'resume-body-mutation', surface: 'backend', weight: 8, arb: mutation },
    { name: 'resume-non-finite', surface: 'backend', weight: 1, arb: nonFinite },
    {
      name: 'resume-signature',
      surface: 'backend',
      weight: 5,
      arb: fc.oneof({ weight: 3, arbitrary: sigBad }, { weight: 2, arbitrary: sigSpelling }),
    },
    { name: 'resume-replay', surface: 'backend', weight: 3, arb: replay },
    { name: 'resume-misc', surface: 'backend', weight: 1.5, arb: misc },
  ];
}

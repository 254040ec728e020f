/**
 * The edge → backend wire contract (core/wire.ts) holds on every side: the same encoded, signed
 * request goes to the real backend (gpu-backend on the shipped bundle, cpu executor, over HTTP) and
 * to the fake backend the worker tests forward to (tests/helpers/fake-backend.ts); both must accept
 * the same valid requests with answers of one schema and one key set, refuse the same malformed ones
 * with the same status and code, and the edge's own forward() must take either answer. The metadata
 * the edge's builder writes and the schema the backends read must name the same keys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../core/node/bundle.js';
import {
  encodeFeatures,
  type FeatureEncoding,
  REQUEST_ID_HEADER,
  RESUME_METADATA_KEYS,
  RESUME_PATH,
  type ResumeFields,
  resumeAnswerSchema,
  resumeMetadata,
  resumeMetadataSchema,
  SIGNATURE_HEADER,
  signBody,
} from '../../core/wire.js';
import { type RunningBackend, startBackend } from '../../gpu-backend/src/start-backend.js';
import { forward } from '../../workers/edge/src/cascade/forward.js';
import { FAKE_SECRET, fakeBackend } from '../helpers/fake-backend.js';
import { fixedInput } from '../helpers/runtimes.js';

const DIR = process.env.CASCADE_TEST_MODEL ?? 'models/fashion-resnet';
const m = readManifest(DIR);
/** Thresholds no score reaches: both backends answer from the final head (the fake always does). */
const NEVER = 2;

let real: RunningBackend;
beforeAll(async () => {
  // The fake's secret, so one signed body is valid for both.
  real = await startBackend(
    { CASCADE_SECRET: FAKE_SECRET, PORT: '0', MODEL_DIR: DIR, EXECUTORS: 'cpu' },
    () => undefined,
  );
});
afterAll(async () => {
  await real?.stop();
});

let n = 0;
/** What the edge writes when it forwards at `segment` (classify.ts), with a fresh request id. */
function fields(segment: number, over: Partial<ResumeFields> = {}): ResumeFields {
  return {
    model: m.name,
    modelHash: m.backbone.sha256,
    segment,
    policy: 'max-softmax',
    thresholds: m.exits.slice(segment).map(() => NEVER),
    // One score per exit the edge ran; NaN (an exit turned off) travels as null.
    scores: Array.from({ length: segment }, (_, i) => (i === 0 ? NaN : 0.25)),
    thresholdVersion: 'default@v1',
    requestId: `contract-${++n}`,
    region: 'default',
    ...over,
  };
}

const featuresOf = (segment: number) =>
  fixedInput(
    m.segments[segment]!.inputShape.reduce((a, b) => a * b, 1),
    segment,
  );
const shapeOf = (segment: number) => [1, ...m.segments[segment]!.inputShape];

interface Sent {
  body: Uint8Array;
  headers: Record<string, string>;
}

/** A signed request; `edit` changes the string metadata after the builder (to make it malformed). */
async function request(
  f: ResumeFields,
  opts: {
    encoding?: FeatureEncoding;
    edit?: (md: Record<string, string>) => void;
    sign?: boolean;
    body?: (b: Uint8Array) => Uint8Array;
  } = {},
): Promise<Sent> {
  const md = resumeMetadata(f);
  opts.edit?.(md);
  let body = encodeFeatures(featuresOf(f.segment), shapeOf(f.segment), opts.encoding ?? 'f32', md);
  if (opts.body) body = opts.body(body);
  const headers: Record<string, string> = {
    'content-type': 'application/octet-stream',
    [REQUEST_ID_HEADER]: f.requestId,
  };
  if (opts.sign !== false) headers[SIGNATURE_HEADER] = await signBody(FAKE_SECRET, body);
  return { body, headers };
}

interface Answer {
  status: number;
  type: string | null;
  json: Record<string, unknown>;
}

async function answer(res: Response): Promise<Answer> {
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    json: (await res.json()) as Record<string, unknown>,
  };
}

/** The same request to both backends (the real one's replay guard sees it once). */
async function both(s: Sent): Promise<{ real: Answer; fake: Answer }> {
  const init = () => ({ method: 'POST', body: s.body as unknown as BodyInit, headers: s.headers });
  const [r, f] = await Promise.all([
    fetch(`${real.url}${RESUME_PATH}`, init()),
    fakeBackend(new Request(`http://backend${RESUME_PATH}`, init())),
  ]);
  return { real: await answer(r), fake: await answer(f) };
}

const keys = (o: unknown) => Object.keys(o as object).sort();

describe('the wire contract (core/wire.ts)', () => {
  it("the edge's metadata builder writes exactly the schema's keys, and the schema reads back what it wrote", () => {
    const f = fields(1);
    const written = resumeMetadata(f);
    expect(keys(written)).toEqual(keys(resumeMetadataSchema.shape));
    expect([...RESUME_METADATA_KEYS].sort()).toEqual(keys(resumeMetadataSchema.shape));
    // Every value a string (safetensors metadata), parsed back to the typed fields (NaN scores included).
    expect(Object.values(written).every((v) => typeof v === 'string')).toBe(true);
    expect(resumeMetadataSchema.parse(written)).toEqual(f);
  });

  it('real and fake backend answer the same valid requests with the same answer shape', async () => {
    for (let segment = 1; segment < m.segments.length; segment++) {
      for (const encoding of ['f32', 'f16', 'i8'] as const) {
        const got = await both(await request(fields(segment), { encoding }));
        const at = `segment ${segment}, ${encoding}`;
        expect([got.real.status, got.fake.status], at).toEqual([200, 200]);
        for (const a of [got.real, got.fake]) {
          expect(a.type, at).toMatch(/^application\/json/);
          const p = resumeAnswerSchema.safeParse(a.json);
          expect(p.success, `${at}: ${JSON.stringify(p.error?.issues)}`).toBe(true);
          // No field the schema does not name (the edge would drop it unread).
          expect(keys(a.json), at).toEqual(keys(resumeAnswerSchema.shape));
          expect(keys(a.json.timings), at).toEqual(keys(resumeAnswerSchema.shape.timings.shape));
        }
        // Thresholds no score reaches: both answer from the final head.
        expect([got.real.json.exit, got.fake.json.exit], at).toEqual([m.exits.length, m.exits.length]);
      }
    }
  });

  it("the edge's forward() takes either backend's answer", async () => {
    for (const [name, url, fetcher] of [
      ['real', real.url, (req: Request) => fetch(req)],
      ['fake', 'http://backend', fakeBackend],
    ] as const) {
      const f = fields(1);
      const r = await forward(
        { fetcher, url, secret: FAKE_SECRET, timeoutMs: 10_000 },
        (await request(f)).body,
        f.requestId,
      );
      expect(r.ok ? 'ok' : `${r.reason}: ${r.detail}`, name).toBe('ok');
    }
  });

  // Malformed requests, each signed correctly: the same status and code from both, as problem+json.
  const cases: [string, () => Promise<Sent>, number, string][] = [
    [
      'missing segment',
      () =>
        request(fields(1), {
          edit: (md) => {
            delete md.segment;
          },
        }),
      400,
      'BAD_METADATA',
    ],
    [
      'segment "0x1"',
      () =>
        request(fields(1), {
          edit: (md) => {
            md.segment = '0x1';
          },
        }),
      400,
      'BAD_METADATA',
    ],
    [
      'missing modelHash',
      () =>
        request(fields(1), {
          edit: (md) => {
            delete md.modelHash;
          },
        }),
      400,
      'BAD_METADATA',
    ],
    [
      'unknown policy',
      () =>
        request(fields(1), {
          edit: (md) => {
            md.policy = 'fastest';
          },
        }),
      400,
      'BAD_METADATA',
    ],
    [
      'thresholds not JSON',
      () =>
        request(fields(1), {
          edit: (md) => {
            md.thresholds = '[0.5,';
          },
        }),
      400,
      'BAD_METADATA',
    ],
    [
      'scores of the wrong length',
      () =>
        request(fields(2), {
          edit: (md) => {
            md.scores = '[0.5]';
          },
        }),
      400,
      'BAD_METADATA',
    ],
    [
      'a region over the length limit',
      () =>
        request(fields(1), {
          edit: (md) => {
            md.region = 'x'.repeat(1025);
          },
        }),
      400,
      'BAD_METADATA',
    ],
    [
      'segment 0',
      () =>
        request(fields(1), {
          edit: (md) => {
            md.segment = '0';
          },
        }),
      400,
      'BAD_SEGMENT',
    ],
    ['a truncated body', () => request(fields(1), { body: (b) => b.subarray(0, b.length - 100) }), 400, 'BAD_BODY'],
    ['no signature', () => request(fields(1), { sign: false }), 401, 'SIGNATURE_MISSING'],
  ];
  it.each(cases)('both refuse %s alike', async (_name, make, status, code) => {
    const got = await both(await make());
    expect([got.real.status, got.real.json.code, got.fake.status, got.fake.json.code]).toEqual([
      status,
      code,
      status,
      code,
    ]);
    for (const a of [got.real, got.fake]) {
      expect(a.type).toBe('application/problem+json');
      expect(keys(a.json)).toEqual(['code', 'detail', 'requestId', 'status', 'title', 'type']);
      expect(a.json.status).toBe(status);
    }
    expect(got.fake.json.type).toBe(got.real.json.type);
  });
});

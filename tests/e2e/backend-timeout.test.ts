/**
 * REQUEST_TIMEOUT_MS on the backend's resume route (hono's timeout() middleware): a request whose
 * batch is still running past it is answered 504 TIMEOUT as problem+json, and the batch it leaves
 * behind, whether it later answers or fails, neither crashes the process (no unhandled rejection) nor
 * stops the backend from answering the next request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../core/node/bundle.js';
import {
  encodeFeatures,
  REQUEST_ID_HEADER,
  RESUME_PATH,
  resumeMetadata,
  SIGNATURE_HEADER,
  signBody,
} from '../../core/wire.js';
import { type RunningBackend, startBackend } from '../../gpu-backend/src/start-backend.js';
import { fixedInput } from '../helpers/runtimes.js';

const DIR = process.env.CASCADE_TEST_MODEL ?? 'models/fashion-resnet';
const SECRET = 'timeout-test-secret-0123456789';
const TIMEOUT_MS = 400;
const m = readManifest(DIR);

/** What the executor does with the next segment-1 run: hold it until released, then run it or fail. */
let hold: { release: (fail: boolean) => void } | null = null;
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);

let b: RunningBackend;
beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  b = await startBackend(
    { CASCADE_SECRET: SECRET, PORT: '0', MODEL_DIR: DIR, EXECUTORS: 'cpu', REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) },
    () => undefined,
    {
      wrapExecutor: (ex) => ({
        ...ex,
        name: ex.name,
        run: async (kind, i, x, dims) => {
          if (kind === 'segment' && i === 1) {
            const fail = await new Promise<boolean>((release) => (hold = { release }));
            if (fail) throw new Error('device lost (test)');
          }
          return ex.run(kind, i, x, dims);
        },
      }),
    },
  );
});
afterAll(async () => {
  hold?.release(false);
  await b?.stop();
  process.off('unhandledRejection', onUnhandled);
});

let n = 0;
async function resume(): Promise<Response> {
  const requestId = `timeout-${++n}`;
  const body = encodeFeatures(
    fixedInput(m.segments[1]!.inputShape.reduce((a, c) => a * c, 1)),
    [1, ...m.segments[1]!.inputShape],
    'f32',
    resumeMetadata({
      model: m.name,
      modelHash: m.backbone.sha256,
      segment: 1,
      policy: 'max-softmax',
      thresholds: m.exits.slice(1).map(() => 2),
      scores: [0.5],
      thresholdVersion: 'default@v1',
      requestId,
      region: 'default',
    }),
  );
  return fetch(`${b.url}${RESUME_PATH}`, {
    method: 'POST',
    body: body as unknown as BodyInit,
    headers: {
      'content-type': 'application/octet-stream',
      [SIGNATURE_HEADER]: await signBody(SECRET, body),
      [REQUEST_ID_HEADER]: requestId,
    },
  });
}

const settle = () => new Promise((r) => setTimeout(r, 100));

describe('REQUEST_TIMEOUT_MS', () => {
  it.each([
    ['answers', false],
    ['fails', true],
  ] as const)('answers 504 TIMEOUT; the batch left behind %s later without harm', async (_what, fail) => {
    const t0 = performance.now();
    const res = await resume();
    const ms = performance.now() - t0;
    expect(res.status).toBe(504);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const j = (await res.json()) as { code: string; status: number; requestId: string; detail: string };
    expect([j.code, j.status, j.requestId]).toEqual(['TIMEOUT', 504, `timeout-${n}`]);
    expect(j.detail).toContain(`${TIMEOUT_MS} ms`);
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    // The held batch is still the request's: in flight until it ends.
    expect(b.state.inFlight).toBe(1);
    hold!.release(fail);
    hold = null;
    while (b.state.inFlight > 0) await settle();
    await settle();
    expect(unhandled).toEqual([]);
    // The backend carries on: the next request's batch, let through at once, is answered.
    const next = resume();
    while (!hold) await new Promise((r) => setTimeout(r, 1));
    (hold as { release: (fail: boolean) => void }).release(false);
    hold = null;
    expect((await next).status).toBe(200);
  });

  it('counts each timeout once in /metrics', async () => {
    const text = await (await fetch(`${b.url}/metrics`)).text();
    expect(text).toMatch(/cascade_errors_total\{code="TIMEOUT"\} 2\b/);
    expect(text).toMatch(/cascade_requests_total\{status="504"\} 2\b/);
  });
});

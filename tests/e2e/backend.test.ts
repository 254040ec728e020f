/**
 * The GPU backend over real HTTP with real onnxruntime (CPU executor here), on the shipped bundle.
 */

import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFeatures } from '../../core/feature-codec.js';
import { readManifest } from '../../core/node/bundle.js';
import { normaliseImages } from '../../core/normalise.js';
import { argmax, softmax } from '../../core/policies.js';
import { SIGNATURE_HEADER, signBody } from '../../core/signature.js';
import { loadConfig } from '../../gpu-backend/src/config.js';
import { defaultHostProbe } from '../../gpu-backend/src/executors/host.js';
import { type RunningBackend, startBackend } from '../../gpu-backend/src/start-backend.js';
import { loadFashionMnist } from '../../training/data/fashion-mnist.js';
import { rawExchange } from '../helpers/raw-http.js';
import { runNode } from '../helpers/runtimes.js';

const DIR = process.env.CASCADE_TEST_MODEL ?? 'models/fashion-resnet';
const SECRET = 'backend-test-secret-0123456789';
const m = readManifest(DIR);
const quiet = () => undefined;
const start = (env: Record<string, string> = {}) =>
  startBackend({ CASCADE_SECRET: SECRET, PORT: '0', MODEL_DIR: DIR, EXECUTORS: 'cpu', ...env }, quiet);
/** One threshold per exit past segment `seg` (what the edge sends when it forwards at `seg`), all `t`. */
const deeper = (seg: number, t: number) => m.exits.slice(seg).map(() => t);

/** Features of real test images at every cut, and the backbone's own logits, via onnxruntime-node. */
const ds = loadFashionMnist({ limitPerClass: { train: 1, val: 1, test: 4 } });
const N = ds.test.count;
let cuts: Float32Array[][] = [];
let logits: Float32Array;

async function resume(
  b: RunningBackend,
  seg: number,
  x: Float32Array,
  opts: {
    thresholds?: number[];
    policy?: string;
    hash?: string;
    shape?: number[];
    mutate?: (body: Uint8Array) => Uint8Array;
    sign?: (body: Uint8Array) => Promise<string | undefined>;
    type?: string;
  } = {},
) {
  const shape = opts.shape ?? [1, ...m.segments[seg]!.inputShape];
  let body = encodeFeatures(x, shape, 'f32', {
    modelHash: opts.hash ?? m.backbone.sha256,
    segment: String(seg),
    policy: opts.policy ?? 'max-softmax',
    thresholds: JSON.stringify(opts.thresholds ?? deeper(seg, 2)),
    requestId: 't',
  });
  const sig = opts.sign ? await opts.sign(body) : await signBody(SECRET, body);
  if (opts.mutate) body = opts.mutate(body);
  const headers: Record<string, string> = { 'content-type': opts.type ?? 'application/octet-stream' };
  if (sig) headers[SIGNATURE_HEADER] = sig;
  return fetch(`${b.url}/v1/resume`, { method: 'POST', body: body as unknown as BodyInit, headers });
}

/** One request on a connection of its own (so, in a cluster, to either process): status, headers, body. */
function onNewConnection(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Uint8Array } = {},
) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }>(
    (resolve, reject) => {
      const req = request(url, { method: opts.method ?? 'GET', agent: false, headers: opts.headers ?? {} }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
      });
      req.on('error', reject);
      req.end(opts.body);
    },
  );
}

/** A signed segment-1 body for one test image, as the edge sends it. */
async function signedBody(x: Float32Array, requestId: string): Promise<{ body: Uint8Array; sig: string }> {
  const body = encodeFeatures(x, [1, ...m.segments[1]!.inputShape], 'f32', {
    modelHash: m.backbone.sha256,
    segment: '1',
    policy: 'max-softmax',
    thresholds: JSON.stringify(deeper(1, 2)),
    requestId,
  });
  return { body, sig: await signBody(SECRET, body) };
}

/** `gpu-backend/src/cluster.ts` on the cpu executor, up: its URL, its stderr so far, and its exit. */
async function startCluster(env: Record<string, string>) {
  const p = spawn(process.execPath, ['--import', 'tsx', 'gpu-backend/src/cluster.ts'], {
    env: { ...process.env, CASCADE_SECRET: SECRET, PORT: '0', MODEL_DIR: DIR, EXECUTORS: 'cpu', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const exited = new Promise<number | null>((r) => p.once('exit', r));
  const url = await new Promise<string>((resolve, reject) => {
    p.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const ready = /processes ready on (http:\/\/[^\s,]+)/.exec(err);
      if (ready) resolve(ready[1]!);
    });
    void exited.then((code) => reject(new Error(`cluster exited (${code}): ${err}`)));
  });
  return {
    url,
    pid: p.pid!,
    stderr: () => err,
    exited,
    stop: async () => {
      p.kill('SIGTERM');
      return exited;
    },
  };
}

let b: RunningBackend;
beforeAll(async () => {
  const x = normaliseImages(
    ds.test.images,
    N,
    ds.shape,
    m.input.normalisation.mean,
    m.input.normalisation.std,
    m.input.layout,
  );
  logits = (await runNode(new Uint8Array(readFileSync(join(DIR, m.backbone.file))), x, [N, ...m.input.shape]))[
    m.backbone.output
  ]!;
  let cur = x;
  cuts = [];
  for (const s of m.segments.slice(0, -1)) {
    cur = (await runNode(new Uint8Array(readFileSync(join(DIR, s.file))), cur, [N, ...s.inputShape]))[s.output]!;
    const per = s.outputShape.reduce((a, c) => a * c, 1);
    cuts.push(Array.from({ length: N }, (_, i) => cur.slice(i * per, (i + 1) * per)));
  }
  b = await start();
});
afterAll(async () => {
  await b?.stop();
});

describe('POST /v1/resume', () => {
  it('resuming from each segment reproduces the full model on real images', async () => {
    for (let seg = 1; seg < m.segments.length; seg++) {
      for (let i = 0; i < N; i += 7) {
        const res = await resume(b, seg, cuts[seg - 1]![i]!);
        expect(res.status).toBe(200);
        const j = (await res.json()) as { classIndex: number; confidence: number; exit: number };
        const p = softmax(logits.subarray(i * 10, (i + 1) * 10));
        expect(j.exit).toBe(m.exits.length);
        expect(j.classIndex).toBe(argmax(p));
        expect(j.confidence).toBeCloseTo(p[argmax(p)]!, 4);
      }
    }
  });

  it('applies the thresholds the edge sends for the deeper exits', async () => {
    const j = (await (await resume(b, 1, cuts[0]![0]!, { thresholds: deeper(1, 0) })).json()) as { exit: number };
    expect(j.exit).toBe(1);
  });

  it('batches concurrent requests and answers exactly as batch-1 does', async () => {
    const batched = await start({ MAX_BATCH: '64', MAX_WAIT_MS: '30' });
    const single = await start({ MAX_BATCH: '1', MAX_WAIT_MS: '0' });
    try {
      // Resume before the last exit (segment 2 where the bundle has 3 or more exits) so some samples exit there and the rest reach the final head.
      const seg = Math.min(2, m.exits.length - 1);
      const ask = (be: RunningBackend) =>
        Promise.all(
          cuts[seg - 1]!.map((x) =>
            resume(be, seg, x, { thresholds: deeper(seg, 0.9) }).then(
              (r) => r.json() as Promise<{ classIndex: number; confidence: number; exit: number; batchSize: number }>,
            ),
          ),
        );
      const [a, s] = [await ask(batched), await ask(single)];
      expect(Math.max(...a.map((r) => r.batchSize))).toBeGreaterThan(1);
      expect(Math.max(...s.map((r) => r.batchSize))).toBe(1);
      a.forEach((r, i) => {
        expect(r.classIndex).toBe(s[i]!.classIndex);
        expect(r.exit).toBe(s[i]!.exit);
        expect(r.confidence).toBeCloseTo(s[i]!.confidence, 5);
      });
    } finally {
      await batched.stop();
      await single.stop();
    }
  });

  it('rejects unsigned, tampered, expired and replayed bodies', async () => {
    const x = cuts[0]![0]!;
    const code = async (r: Promise<Response>) => {
      const res = await r;
      return [res.status, ((await res.json()) as { code: string }).code];
    };
    expect(await code(resume(b, 1, x, { sign: async () => undefined }))).toEqual([401, 'SIGNATURE_MISSING']);
    expect(
      await code(
        resume(b, 1, x, {
          mutate: (body) => {
            const c = body.slice();
            c[c.length - 1] ^= 1;
            return c;
          },
        }),
      ),
    ).toEqual([401, 'SIGNATURE_MISMATCH']);
    expect(await code(resume(b, 1, x, { sign: (body) => signBody(SECRET, body, Date.now() - 120_000) }))).toEqual([
      401,
      'SIGNATURE_EXPIRED',
    ]);
    expect(await code(resume(b, 1, x, { sign: (body) => signBody('wrong-secret-wrong-secret', body) }))).toEqual([
      401,
      'SIGNATURE_MISMATCH',
    ]);
    let sig = '';
    const first = await resume(b, 1, x, { sign: async (body) => (sig = await signBody(SECRET, body)) });
    expect(first.status).toBe(200);
    expect(await code(resume(b, 1, x, { sign: async () => sig }))).toEqual([401, 'SIGNATURE_REPLAYED']);
  });

  it('accepts a signed body once, however the bytes around its signature are spelt', async () => {
    const { body, sig } = await signedBody(cuts[0]![1]!, 'respelt');
    // Raw bytes on a socket: Node's own client refuses some of these header bytes, an attacker's does not.
    const send = async (header: string) => {
      const u = new URL(b.url);
      const text = await rawExchange(
        u.hostname,
        Number(u.port),
        `POST /v1/resume HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/octet-stream\r\ncontent-length: ${body.length}\r\n${SIGNATURE_HEADER}: ${header}\r\n\r\n`,
        (s) => s.write(body),
      );
      return `${/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]} ${/"code":"([A-Z_]+)"/.exec(text)?.[1] ?? ''}`.trim();
    };
    const hex = sig.slice(sig.indexOf('v1=') + 3);
    expect(await send(sig)).toBe('200');
    // Equivalent spellings (HTTP whitespace, hex case) parse to the same MAC: the same body, refused.
    for (const h of [
      ` ${sig}`,
      `${sig}\t`,
      `\t ${sig}  `,
      sig.replace(hex, hex.toUpperCase()),
      sig.replace(hex, hex.slice(0, 32) + hex.slice(32).toUpperCase()),
    ]) {
      expect(await send(h), JSON.stringify(h)).toBe('401 SIGNATURE_REPLAYED');
    }
    // Bytes HTTP does not allow in a header (JS trim() used to strip VT and FF): Node's parser refuses the request.
    expect(await send(`\u000b${sig}`)).toBe('400 BAD_REQUEST');
    expect(await send(`${sig}\u000c`)).toBe('400 BAD_REQUEST');
    // Not the grammar at all (trim() also stripped NBSP; a second header; other field order): malformed.
    for (const h of [
      `${sig}\u00a0`,
      `\u00a0${sig}`,
      `${sig}, ${sig}`,
      `v1=${hex},t=${sig.slice(2, sig.indexOf(','))}`,
      `${sig},v2=00`,
      sig.replace('t=', 'T='),
    ]) {
      expect(await send(h), JSON.stringify(h)).toBe('401 SIGNATURE_MALFORMED');
    }
  });

  it('refuses metadata out of bounds and features that drive the model to non-finite scores', async () => {
    const x = cuts[0]![2]!;
    const code = async (r: Promise<Response>) => {
      const res = await r;
      return [res.status, ((await res.json()) as { code: string }).code];
    };
    // Resuming at segment 1 needs one threshold per exit past it: one too few, one too many.
    expect(await code(resume(b, 1, x, { thresholds: deeper(2, 2) }))).toEqual([400, 'BAD_METADATA']);
    expect(await code(resume(b, 1, x, { thresholds: deeper(0, 2) }))).toEqual([400, 'BAD_METADATA']);
    expect(await code(resume(b, 1, x, { thresholds: Array.from({ length: 5000 }, () => 0.5) }))).toEqual([
      400,
      'BAD_METADATA',
    ]);
    const huge = Float32Array.from(x, (_, i) => (i % 2 ? 3e38 : -3e38));
    const r = await resume(b, 1, huge);
    expect(r.status).toBe(422);
    expect(r.headers.get('content-type')).toBe('application/problem+json');
    expect(((await r.json()) as { code: string }).code).toBe('NON_FINITE_RESULT');
    // The exit thresholds of 0 would take any finite exit at once: non-finite logits must not answer.
    expect(
      await code(
        resume(
          b,
          1,
          Float32Array.from(x, () => 3e38),
          { thresholds: deeper(1, 0) },
        ),
      ),
    ).toEqual([422, 'NON_FINITE_RESULT']);
  });

  it('rejects a wrong model hash, shape, segment, truncated body, content type and oversize body', async () => {
    const x = cuts[0]![0]!;
    const code = async (r: Promise<Response>) => {
      const res = await r;
      return [res.status, ((await res.json()) as { code: string }).code];
    };
    expect(await code(resume(b, 1, x, { hash: 'f'.repeat(64) }))).toEqual([409, 'MODEL_MISMATCH']);
    const [C, H, W] = m.segments[1]!.inputShape as [number, number, number];
    expect(await code(resume(b, 1, new Float32Array(C * H * (W + 1)), { shape: [1, C, H, W + 1] }))).toEqual([
      400,
      'BAD_SHAPE',
    ]);
    expect(await code(resume(b, 0, new Float32Array(784), { shape: [1, ...m.input.shape] }))).toEqual([
      400,
      'BAD_SEGMENT',
    ]);
    const trunc = async (body: Uint8Array) => signBody(SECRET, body.subarray(0, body.length - 100));
    expect(await code(resume(b, 1, x, { sign: trunc, mutate: (body) => body.subarray(0, body.length - 100) }))).toEqual(
      [400, 'BAD_BODY'],
    );
    expect(await code(resume(b, 1, x, { type: 'application/json' }))).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    // The server answers 413 before the upload ends and drops that socket: send it on its own connection.
    const big = await onNewConnection(`${b.url}/v1/resume`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(2 * 1024 * 1024),
    });
    expect(big.status).toBe(413);
  });

  /** A backend whose executor holds every batch until `open()`: queueing becomes observable. */
  async function gated(env: Record<string, string>) {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    /** Batch sizes run at segment 1, where these tests resume. */
    const batchSizes: number[] = [];
    const be = await startBackend(
      { CASCADE_SECRET: SECRET, PORT: '0', MODEL_DIR: DIR, EXECUTORS: 'cpu', ...env },
      quiet,
      {
        wrapExecutor: (ex) => ({
          ...ex,
          name: ex.name,
          run: async (kind, i, x, dims) => {
            if (kind === 'segment' && i === 1) batchSizes.push(dims[0]!);
            await gate;
            return ex.run(kind, i, x, dims);
          },
        }),
      },
    );
    return { be, open, batchSizes };
  }

  it('runs a request at once when idle, gathers the others while busy, and answers 503 with retry-after when the queue is full', async () => {
    const { be, open, batchSizes } = await gated({ MAX_QUEUE: '2', MAX_BATCH: '1000', MAX_WAIT_MS: '0' });
    try {
      // Over several connections the requests may arrive in any order: collect answers as they come.
      const answered: Response[] = [];
      const pending = cuts[0]!.slice(0, 8).map((x) =>
        resume(be, 1, x).then((r) => {
          answered.push(r);
          return r;
        }),
      );
      // One runs (held at the gate), two wait behind it, five are refused at once instead of queued.
      while (answered.length < 5) await new Promise((r) => setTimeout(r, 5));
      expect(answered.map((r) => r.status)).toEqual([503, 503, 503, 503, 503]);
      expect(answered[0]!.headers.get('retry-after')).toBe('1');
      expect(((await answered[0]!.json()) as { code: string }).code).toBe('OVERLOADED');
      open();
      const all = await Promise.all(pending);
      expect(all.filter((r) => r.status === 200)).toHaveLength(3);
      // Segment 1 at batch 1 (the idle run), then the two that gathered as one batch of 2.
      expect(batchSizes).toEqual([1, 2]);
    } finally {
      await be.stop();
    }
  });

  it('drains in-flight requests on shutdown', async () => {
    const { be, open } = await gated({ MAX_BATCH: '1000', MAX_WAIT_MS: '0' });
    const pending = Promise.all(cuts[0]!.slice(0, 5).map((x) => resume(be, 1, x)));
    // All five accepted (one running at the gate, four waiting behind it) when shutdown begins.
    while (be.state.inFlight !== 5) await new Promise((r) => setTimeout(r, 1));
    const stopped = be.stop();
    setTimeout(open, 50);
    const t0 = performance.now();
    // A request on a new connection during the drain is refused visibly, and its connection closed.
    const { body, sig } = await signedBody(cuts[0]![0]!, 'late');
    const late = await onNewConnection(`${be.url}/v1/resume`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', [SIGNATURE_HEADER]: sig },
      body,
    });
    expect([late.status, late.headers.connection, (JSON.parse(late.text) as { code: string }).code]).toEqual([
      503,
      'close',
      'SHUTTING_DOWN',
    ]);
    const rs = await pending;
    await stopped;
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    // Drained as soon as the executor freed up; the server is closed afterwards.
    expect(performance.now() - t0).toBeLessThan(800);
    await expect(fetch(`${be.url}/healthz`)).rejects.toThrow();
  });
});

describe('cluster with one shared executor (BACKEND_SHARED_EXECUTOR=1)', () => {
  it("two HTTP processes send their batches to the primary's executor, answer as the full model does, share one replay guard, and report metrics summed over both", async () => {
    const cl = await startCluster({ BACKEND_PROCESSES: '2', BACKEND_SHARED_EXECUTOR: '1' });
    const { url } = cl;
    try {
      expect(cl.stderr()).toMatch(/sharing the primary's cpu executor/);
      const ready = (await (await fetch(`${url}/readyz`)).json()) as { executor: string };
      expect(ready.executor).toBe('cpu');
      // Concurrent requests over several connections, so both processes (and batching) take part.
      const rs = await Promise.all(
        cuts[0]!.map((x) =>
          resume({ url } as RunningBackend, 1, x).then(
            (r) => r.json() as Promise<{ classIndex: number; exit: number; batchSize: number }>,
          ),
        ),
      );
      for (const r of rs) expect(r.batchSize).toBeGreaterThanOrEqual(1);
      rs.forEach((r, i) => {
        expect(r.exit).toBe(m.exits.length);
        expect(r.classIndex).toBe(argmax(logits.subarray(i * 10, (i + 1) * 10)));
      });
      // One signed body sent four times, each on a new connection (so to either process): the primary's
      // replay guard answers for both, so only the first is served.
      const { body, sig } = await signedBody(cuts[0]![0]!, 'replayed');
      const codes: string[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await onNewConnection(`${url}/v1/resume`, {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream', [SIGNATURE_HEADER]: sig },
          body,
        });
        codes.push(r.status === 200 ? '200' : `${r.status} ${(JSON.parse(r.text) as { code: string }).code}`);
      }
      expect(codes).toEqual(['200', '401 SIGNATURE_REPLAYED', '401 SIGNATURE_REPLAYED', '401 SIGNATURE_REPLAYED']);
      // /metrics is the same sum over both processes whichever one a scrape reaches.
      for (let i = 0; i < 2; i++) {
        const { text } = await onNewConnection(`${url}/metrics`);
        expect(text).toContain(`cascade_requests_total{status="200"} ${cuts[0]!.length + 1}`);
        expect(text).toContain('cascade_errors_total{code="SIGNATURE_REPLAYED"} 3');
        expect(text).toContain('cascade_processes 2');
        expect(text).toMatch(/cascade_shared_executor_runs_total [1-9]\d*/);
        // Each answer's queue time, from either process, in one histogram.
        expect(text).toContain(`cascade_queue_seconds_count ${cuts[0]!.length + 1}`);
        // Gauges summed over the processes; prom-client's process metrics summed over all of them (the primary too).
        expect(text).toMatch(/^cascade_requests_in_flight 0$/m);
        expect(text).toMatch(/^cascade_process_cpu_seconds_total [\d.e-]+$/m);
        expect(text.match(/^# TYPE cascade_requests_total counter$/gm)).toHaveLength(1);
      }
    } finally {
      await cl.stop();
    }
    // On stop the primary reports how its executor calls merged the workers' runs.
    const st = /shared executor: (\d+) runs in (\d+) calls, (\d+) samples/.exec(cl.stderr());
    expect(st, cl.stderr()).not.toBeNull();
    const [runs, calls, samples] = st!.slice(1).map(Number) as [number, number, number];
    // Each request runs the last segment and at least one run per worker went through.
    expect(calls).toBeGreaterThan(0);
    expect(calls).toBeLessThanOrEqual(runs);
    expect(samples).toBeGreaterThanOrEqual(cuts[0]!.length);
  });
});

describe('cluster shutdown', () => {
  it('SIGTERM to the primary drains every process: each request accepted before it is answered', async () => {
    const cl = await startCluster({ BACKEND_PROCESSES: '2', BACKEND_SHARED_EXECUTOR: '1', MAX_BATCH: '4' });
    const { url } = cl;
    // Resuming at segment 1 runs every deeper segment and exit (five graphs on a 3-exit bundle): with batches of at most 4, 40 requests keep the executor busy.
    const xs = Array.from({ length: 40 }, (_, i) => cuts[0]![i % cuts[0]!.length]!);
    const answers = xs.map((x) =>
      resume({ url } as RunningBackend, 1, x).then(
        async (r) => {
          return r.status === 200 ? '200' : `${r.status} ${((await r.json()) as { code: string }).code}`;
        },
        (e: Error) => `network error: ${e.message} ${(e.cause as Error | undefined)?.message ?? ''}`,
      ),
    );
    // Signal once every request has reached a server process (accepted, or already answered): one
    // still connecting when the listeners close would be refused at the socket, before any process saw it.
    let answered = 0;
    void Promise.all(answers.map((a) => a.then(() => answered++)));
    for (;;) {
      // Answered before the scrape is not in flight at the scrape (the count drops before the answer leaves).
      const done = answered;
      const text = await (await fetch(`${url}/metrics`)).text();
      const accepted = Number(/^cascade_requests_in_flight (\d+)$/m.exec(text)?.[1] ?? 0);
      if (accepted + done >= xs.length) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    const exited = cl.stop();
    const got = await Promise.all(answers);
    expect(await exited).toBe(0);
    // Every accepted request is answered in full.
    expect(got).toEqual(xs.map(() => '200'));
    expect(cl.stderr()).toMatch(/stopped after draining/);
  });
});

describe('observability and config', () => {
  it('/healthz, /readyz (active executor and fallbacks) and Prometheus /metrics', async () => {
    expect((await fetch(`${b.url}/healthz`)).status).toBe(200);
    const r = (await (await fetch(`${b.url}/readyz`)).json()) as { executor: string; modelHash: string };
    expect(r.executor).toBe('cpu');
    expect(r.modelHash).toBe(m.backbone.sha256);
    const res = await fetch(`${b.url}/metrics`);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    expect(text).toMatch(/cascade_requests_total\{status="200"\} \d+/);
    expect(text).toMatch(/cascade_batch_size_count \d+/);
    expect(text).toMatch(/cascade_errors_total\{code="SIGNATURE_MISMATCH"\} \d+/);
    // Durations in seconds (prom-client histograms): every answer has a queue and a compute time.
    const count = (name: string) => Number(new RegExp(`^${name}_count (\\d+)$`, 'm').exec(text)?.[1]);
    expect(count('cascade_queue_seconds')).toBeGreaterThan(0);
    expect(count('cascade_compute_seconds')).toBe(count('cascade_queue_seconds'));
    expect(text).toMatch(/^cascade_compute_seconds_bucket\{le="0\.0005"\} \d+$/m);
    expect(text).toMatch(/^cascade_exits_total\{exit="\d+"\} \d+$/m);
    expect(text).toMatch(/^cascade_requests_in_flight 0$/m);
    // prom-client's process metrics, prefixed.
    expect(text).toMatch(/^cascade_process_cpu_seconds_total [\d.e-]+$/m);
  });

  const host = defaultHostProbe();
  it.skipIf(host.gpuDevices.length > 0 || host.cudaProvider !== undefined)(
    'starts quietly on a machine without a GPU: webgpu and cuda skipped, no native error output, JSON lines only',
    async () => {
      const env: Record<string, string | undefined> = {
        ...process.env,
        CASCADE_SECRET: SECRET,
        PORT: '0',
        MODEL_DIR: DIR,
      };
      delete env.EXECUTORS; // the default order, webgpu,cuda,cpu
      const p = spawn(process.execPath, ['--import', 'tsx', 'gpu-backend/src/server.ts'], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      const exited = new Promise<number | null>((r) => p.once('exit', r));
      try {
        await new Promise<void>((resolve, reject) => {
          const on = (d: Buffer) => {
            out += d.toString();
            if (/model \S+ on http:\/\//.test(out)) resolve();
          };
          p.stdout!.on('data', on);
          p.stderr!.on('data', on);
          void exited.then((code) => reject(new Error(`backend exited (${code}): ${out}`)));
        });
      } finally {
        p.kill('SIGTERM');
        await exited;
      }
      expect(out).not.toMatch(/provider_bridge|\[E:onnxruntime|Warning:/);
      expect(out.includes('\u001b['), 'no ANSI colour codes').toBe(false);
      const lines = out.split('\n').filter((l) => l.trim());
      for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow();
      const msgs = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
      expect(msgs.find((m) => m.startsWith('executor:'))).toMatch(
        /^executor: cpu \(webgpu skipped: no GPU device .*; cuda skipped: onnxruntime-node has no CUDA provider/,
      );
    },
  );

  it('a bad configuration value stops start-up with a message naming it', () => {
    expect(() => loadConfig({})).toThrow(/CASCADE_SECRET/);
    expect(() => loadConfig({ CASCADE_SECRET: 'x'.repeat(20), MAX_BATCH: '0' })).toThrow(/MAX_BATCH="0"/);
    expect(() => loadConfig({ CASCADE_SECRET: 'x'.repeat(20), EXECUTORS: 'tpu' })).toThrow(
      /unknown executor\(s\) tpu; allowed: webgpu, cuda, cpu/,
    );
    expect(() => loadConfig({ CASCADE_SECRET: 'x'.repeat(20), CPU_SPINNING: 'yes' })).toThrow(/CPU_SPINNING="yes"/);
    expect(loadConfig({ CASCADE_SECRET: 'x'.repeat(20) }).CPU_SPINNING).toBe(false);
    expect(() => loadConfig({ CASCADE_SECRET: 'x'.repeat(20), WEBGPU_BUILD: 'webgl' })).toThrow(/WEBGPU_BUILD="webgl"/);
  });
});

describe('rolling restart (SIGHUP to the primary)', () => {
  /** Signed resume requests, one after another on fresh connections, until `until` resolves: their statuses. */
  async function traffic(url: string, until: Promise<unknown>): Promise<string[]> {
    let done = false;
    void until.finally(() => (done = true));
    const codes: string[] = [];
    for (let i = 0; !done; i++) {
      const x = cuts[0]![i % cuts[0]!.length]!;
      const { body, sig } = await signedBody(x, `roll-${i}-${Date.now()}`);
      const r = await onNewConnection(`${url}/v1/resume`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', [SIGNATURE_HEADER]: sig },
        body,
      }).then(
        (r) => String(r.status),
        (e: Error) => `network error: ${e.message}`,
      );
      codes.push(r);
    }
    return codes;
  }
  const waitFor = async (get: () => string, re: RegExp, ms: number) => {
    for (const t0 = Date.now(); !re.test(get()); ) {
      if (Date.now() - t0 > ms) throw new Error(`no ${re} within ${ms} ms:\n${get()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('replaces every process one at a time while requests keep being answered', async () => {
    const pidFile = join(mkdtempSync(join(tmpdir(), 'edge-cascade-pid-')), 'backend.pid');
    const cl = await startCluster({ BACKEND_PROCESSES: '2', PID_FILE: pidFile });
    try {
      expect(Number(readFileSync(pidFile, 'utf8'))).toBe(cl.pid);
      const before = [...cl.stderr().matchAll(/"msg":"model \S+ on http[^\n]*"pid":(\d+)/g)].map((x) => x[1]);
      const restarted = waitFor(cl.stderr, /rolling restart done: 2 backend processes replaced/, 60_000);
      const codes = traffic(cl.url, restarted);
      await new Promise((r) => setTimeout(r, 200));
      process.kill(cl.pid, 'SIGHUP');
      await restarted;
      const got = await codes;
      expect(got.length).toBeGreaterThan(5);
      expect(got.filter((c) => c !== '200')).toEqual([]);
      const after = [...cl.stderr().matchAll(/"msg":"model \S+ on http[^\n]*"pid":(\d+)/g)].map((x) => x[1]);
      // Two more processes started, and none of them is one of the first two.
      expect(after).toHaveLength(4);
      expect(after.slice(2).filter((p) => before.includes(p))).toEqual([]);
      expect((await fetch(`${cl.url}/readyz`)).status).toBe(200);
    } finally {
      expect(await cl.stop(), cl.stderr()).toBe(0);
    }
  });

  it('stops at a replacement that cannot start (a broken bundle on disk); the old processes keep serving', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-cascade-roll-bundle-'));
    cpSync(DIR, dir, { recursive: true });
    const cl = await startCluster({ BACKEND_PROCESSES: '2', MODEL_DIR: dir });
    try {
      writeFileSync(join(dir, 'manifest.json'), '{ "not": "a manifest" }');
      const stopped = waitFor(
        cl.stderr,
        /rolling restart stopped after 0\/2: replacement process \d+ exited \(1\) before it was ready/,
        60_000,
      );
      const codes = traffic(cl.url, stopped);
      process.kill(cl.pid, 'SIGHUP');
      await stopped;
      const got = await codes;
      expect(got.filter((c) => c !== '200')).toEqual([]);
      expect(cl.stderr()).not.toMatch(/exited \(\d+\); stopping all/);
      expect((await fetch(`${cl.url}/readyz`)).status).toBe(200);
    } finally {
      expect(await cl.stop(), cl.stderr()).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

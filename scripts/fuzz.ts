/**
 * `npm run fuzz`: the fuzz suite (tests/fuzz/, issue #9) against the REAL processes on loopback: the
 * GPU backend (startBackend, onnxruntime-node CPU executor unless EXECUTORS says otherwise) and the
 * edge worker in `wrangler dev --env dev` (workerd, local KV and Durable Objects in a fresh
 * `.cache/fuzz-wrangler-state`), the edge forwarding to that backend. Then clients that abort
 * uploads (raw TCP) and keep-alive after an early 413; then checks the dev server is still alive.
 * Writes bench/results/fuzz.json and fuzz.md.
 *
 * @example
 * npm run fuzz                                          # 10,000 edge + 5,000 backend cases, seed 1
 * npm run fuzz -- --seed=7 --edge-cases=500 --backend-cases=300
 * npm run fuzz -- --replay=png-invalid-mutation:-1117805776   # one case, printed with its answer
 * npm run fuzz -- --help                                # every option and its default
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import type { Socket } from 'node:net';
import { arch, cpus, totalmem } from 'node:os';
import fc from 'fast-check';
import { readManifest } from '../core/node/bundle.js';
import { type RunningBackend, startBackend } from '../gpu-backend/src/start-backend.js';
import { backendSurface, edgeSurface, type FuzzClass } from '../tests/fuzz/arbitraries.js';
import { nodeSender } from '../tests/fuzz/node-send.js';
import { formatViolation, generate, type RunResult, runFuzz } from '../tests/fuzz/runner.js';
import { floodChunked, rawExchange } from '../tests/helpers/raw-http.js';
import { cliArgs, text, usageExit } from './cli-args.js';
import { node22 } from './node22.js';

const a = cliArgs({
  usage: 'npm run fuzz -- [options]',
  about:
    'The fuzz suite (tests/fuzz/) against the real processes on loopback: the GPU backend and the edge worker in\n' +
    '`wrangler dev --env dev` (fresh .cache/fuzz-wrangler-state) forwarding to it, every case labelled with the answer it must\n' +
    'get (no 5xx, problem+json 4xx, valid inputs answered, a signed body accepted once); then clients that abort uploads (raw\n' +
    'TCP) and keep-alive after an early 413, and a check that both servers are still up. Exits 1 on any violation.',
  writes: "bench/results/fuzz.{json,md} (wrangler's log: .cache/fuzz-wrangler.log)",
  options: {
    seed: {
      arg: 'n',
      description: 'Run seed; every case is reproducible from its (class, caseSeed)',
      default: '1',
      schema: text.int(Number.MIN_SAFE_INTEGER),
    },
    'edge-cases': { arg: 'n', description: 'Edge worker cases (0: none)', default: '10000', schema: text.int(0) },
    'backend-cases': { arg: 'n', description: 'Backend cases (0: none)', default: '5000', schema: text.int(0) },
    concurrency: { arg: 'n', description: 'Requests in flight per run', default: '8', schema: text.int(1) },
    port: { arg: 'n', description: 'Port of wrangler dev', default: '8797', schema: text.int(1, 65535) },
    replay: {
      arg: 'CLASS:SEED',
      description:
        'Run one case (class and caseSeed from a report) against both processes and print it with its answer',
    },
  },
  env: {
    MODEL_DIR: 'Bundle folder the backend serves and the oracle reads (default: models/fashion-resnet)',
    EXECUTORS: "The backend's executors (default: cpu)",
  },
});
const { seed, 'edge-cases': edgeCases, 'backend-cases': backendCases, concurrency, port } = a;

const DIR = process.env.MODEL_DIR ?? 'models/fashion-resnet';
const SECRET = 'fuzz-cascade-secret-0123456789';
const ADMIN = 'fuzz-admin-token';
const EDGE = `http://127.0.0.1:${port}`;
const STATE = '.cache/fuzz-wrangler-state';
const m = readManifest(DIR);
const oracle = { classes: m.classes, exits: m.exits.length };
const log = (s: string) => console.error(`[fuzz] ${s}`);

let backend: RunningBackend | undefined;
let worker: ChildProcess | undefined;
let workerExit: { code: number | null; signal: string | null } | null = null;

async function startEdge(backendUrl: string): Promise<void> {
  rmSync(STATE, { recursive: true, force: true });
  mkdirSync('.cache', { recursive: true });
  const out = createWriteStream('.cache/fuzz-wrangler.log');
  worker = spawn(
    node22(),
    [
      'node_modules/wrangler/bin/wrangler.js',
      'dev',
      '--env',
      'dev',
      '--port',
      String(port),
      '--ip',
      '127.0.0.1',
      '--var',
      `CASCADE_SECRET:${SECRET}`,
      '--var',
      `ADMIN_TOKEN:${ADMIN}`,
      '--var',
      `BACKEND_URL:${backendUrl}`,
      '--var',
      'BACKEND_TIMEOUT_MS:5000',
      '--persist-to',
      STATE,
    ],
    {
      env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  worker.stdout!.pipe(out);
  worker.stderr!.pipe(out);
  worker.once('exit', (code, signal) => {
    workerExit = { code, signal };
  });
  const t0 = Date.now();
  for (;;) {
    if (workerExit)
      throw new Error(`wrangler dev exited (${JSON.stringify(workerExit)}); see .cache/fuzz-wrangler.log`);
    try {
      if ((await fetch(`${EDGE}/healthz`)).ok) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() - t0 > 120_000)
      throw new Error('wrangler dev did not start within 120 s; see .cache/fuzz-wrangler.log');
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(10_000) })).status === 200;
  } catch {
    return false;
  }
}

/** Raw-socket clients that misbehave mid-upload; each variant is repeated, and the server is probed after each. */
async function abortedUploads(host: string, p: number, path: string, type: string, rounds: number) {
  const raw = (head: string, act: (s: Socket) => void) => rawExchange(host, p, head, act);
  const head = (extra: string) => `POST ${path} HTTP/1.1\r\nhost: ${host}\r\ncontent-type: ${type}\r\n${extra}\r\n`;
  const variants: [string, () => Promise<string>][] = [
    [
      'content-length 100000, 1000 bytes sent, then disconnect',
      () =>
        raw(head('content-length: 100000\r\n'), (s) => {
          s.write(Buffer.alloc(1000));
          setTimeout(() => s.destroy(), 200);
        }),
    ],
    [
      'content-length 5000, headers only, then disconnect',
      () => raw(head('content-length: 5000\r\n'), (s) => setTimeout(() => s.destroy(), 100)),
    ],
    [
      'content-length 784, 783 bytes, half-close',
      () =>
        raw(head('content-length: 784\r\n'), (s) => {
          s.write(Buffer.alloc(783));
          setTimeout(() => s.end(), 100);
        }),
    ],
    [
      'chunked, one chunk, then disconnect mid-chunk',
      () =>
        raw(head('transfer-encoding: chunked\r\n'), (s) => {
          s.write('400\r\n');
          s.write(Buffer.alloc(100));
          setTimeout(() => s.destroy(), 100);
        }),
    ],
    [
      'chunked upload past 8 MiB (413 while still sending), then disconnect',
      () => raw(head('transfer-encoding: chunked\r\n'), floodChunked(12 << 20)),
    ],
  ];
  const results: {
    variant: string;
    rounds: number;
    answers: Record<string, number>;
    example: string;
    healthyAfter: number;
  }[] = [];
  const base = `http://${host}:${p}`;
  for (const [name, run] of variants) {
    const r = { variant: name, rounds, answers: {} as Record<string, number>, example: '', healthyAfter: 0 };
    for (let i = 0; i < rounds; i++) {
      const text = await run();
      const code = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 'none';
      // wrangler dev puts miniflare's entry worker in front of ours; a 5xx whose stack is in miniflare
      // is the dev server's answer, not our code's (none reaches production). Kept apart, not hidden.
      const status = code.startsWith('5') && text.includes('/miniflare/') ? `${code} (miniflare)` : code;
      r.answers[status] = (r.answers[status] ?? 0) + 1;
      if (text && !r.example) r.example = text.replace(/\r?\n/g, ' ⏎ ').slice(0, 300);
      await new Promise((res) => setTimeout(res, 50));
      if (await healthy(base)) r.healthyAfter++;
    }
    results.push(r);
  }
  return results;
}

/** A 413 answered before the body is read, then a second request on the same keep-alive connection. */
async function keepAliveAfter413(url: string, path: string, type: string, size: number, rounds: number) {
  let broken = 0,
    closeAnnounced = 0;
  for (let i = 0; i < rounds; i++) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const send = (n: number) =>
      new Promise<string>((resolve) => {
        const r = request(
          `${url}${path}`,
          { method: 'POST', agent, headers: { 'content-type': type, 'content-length': n } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(`${res.statusCode} ${res.headers.connection ?? ''}`));
          },
        );
        r.on('error', (e) => resolve(`error ${e.message}`));
        r.end(Buffer.alloc(n));
      });
    const first = await send(size);
    const second = await send(16);
    agent.destroy();
    if (first.endsWith('close')) closeAnnounced++;
    if (second.startsWith('error')) broken++;
  }
  return { rounds, secondRequestFailed: broken, closeAnnounced };
}

/** The case --replay names, checked before anything starts (the classes depend on the bundle, so not in the option's schema). */
function replayCase(spec: string): { c: FuzzClass; s: number } {
  const [cls, s] = [spec.slice(0, spec.lastIndexOf(':')), Number(spec.slice(spec.lastIndexOf(':') + 1))];
  const all = [...edgeSurface(m, ADMIN), ...backendSurface(m)];
  const c = all.find((x) => x.name === cls);
  if (!c || !Number.isInteger(s))
    usageExit(
      `--replay=${spec}: expected CLASS:SEED with CLASS one of ${all.map((x) => x.name).join(', ')} (see --help)`,
    );
  return { c, s };
}

async function replay({ c, s }: { c: FuzzClass; s: number }): Promise<void> {
  const one: FuzzClass = { ...c, arb: fc.constant(generate(c, s)) };
  const url = c.surface === 'backend' ? backend!.url : EDGE;
  const r = await runFuzz({
    seed,
    classes: [one],
    counts: { [c.name]: 1 },
    send: nodeSender(url),
    secret: SECRET,
    oracle,
  });
  const k = generate(c, s);
  console.log(
    JSON.stringify(
      {
        case: { ...k, request: { ...k.request, body: k.request.body ? `${k.request.body.length} bytes` : undefined } },
        statuses: r.byClass[c.name]!.statuses,
        violations: r.violations,
      },
      null,
      2,
    ),
  );
}

function table(r: RunResult): string {
  const rows = Object.entries(r.byClass).map(
    ([name, s]) =>
      `| ${name} | ${s.cases} | ${s.requests} | ${Object.entries(s.statuses)
        .sort()
        .map(([k, v]) => `${k}×${v}`)
        .join(', ')} | ${s.violations} |${
        Object.keys(s.notes).length
          ? ` ${Object.entries(s.notes)
              .map(([k, v]) => `${k}×${v}`)
              .join(', ')}`
          : ''
      } |`,
  );
  return [
    '| class | cases | requests | statuses seen | violations | classify answers |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const one = a.replay === undefined ? undefined : replayCase(a.replay);
  log(`starting the backend (${DIR}) and wrangler dev on :${port}`);
  backend = await startBackend(
    { CASCADE_SECRET: SECRET, PORT: '0', MODEL_DIR: DIR, EXECUTORS: process.env.EXECUTORS ?? 'cpu' },
    () => undefined,
  );
  await startEdge(backend.url);
  if (one) {
    await replay(one);
    return;
  }

  const progress = (what: string) => {
    let last = 0;
    return (d: number, t: number) => {
      if (Date.now() - last > 5000 || d === t) {
        last = Date.now();
        log(`${what}: ${d}/${t} cases`);
      }
    };
  };
  log(`backend: ${backendCases} cases, seed ${seed}`);
  const back = backendCases
    ? await runFuzz({
        seed,
        classes: backendSurface(m),
        total: backendCases,
        send: nodeSender(backend.url),
        secret: SECRET,
        oracle,
        concurrency,
        onProgress: progress('backend'),
      })
    : undefined;
  log(`edge: ${edgeCases} cases, seed ${seed}`);
  const edge = edgeCases
    ? await runFuzz({
        seed,
        classes: edgeSurface(m, ADMIN),
        total: edgeCases,
        send: nodeSender(EDGE),
        secret: SECRET,
        oracle,
        concurrency,
        onProgress: progress('edge'),
      })
    : undefined;

  log('aborted uploads (raw TCP) and keep-alive after 413');
  const aborted = {
    edge: await abortedUploads('127.0.0.1', port, '/v1/classify', 'image/png', 5),
    backend: await abortedUploads(
      '127.0.0.1',
      Number(new URL(backend.url).port),
      '/v1/resume',
      'application/octet-stream',
      5,
    ),
  };
  const keepAlive = {
    edge: await keepAliveAfter413(EDGE, '/v1/classify', 'image/png', 9 * 1024 * 1024, 5),
    backend: await keepAliveAfter413(backend.url, '/v1/resume', 'application/octet-stream', 2 * 1024 * 1024, 5),
  };
  await new Promise((r) => setTimeout(r, 500));
  const alive = {
    edgeHealthz: await healthy(EDGE),
    edgeProcessRunning: workerExit === null && worker?.exitCode === null,
    backendHealthz: await healthy(backend.url),
  };

  const hw = `${cpus().length}-core ${arch()} machine, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.versions.node} (runner) / Node 22 (wrangler)`;
  const command = `npm run fuzz -- --seed=${seed} --edge-cases=${edgeCases} --backend-cases=${backendCases} --concurrency=${concurrency}`;
  // Aborted uploads: the server must stay up, and whatever it still answers must not be a 5xx.
  const abortedViolations = [...aborted.edge, ...aborted.backend].filter(
    (x) =>
      x.healthyAfter < x.rounds || Object.keys(x.answers).some((k) => k.startsWith('5') && !k.includes('(miniflare)')),
  ).length;
  const keepAliveViolations = Object.values(keepAlive).filter(
    (k) => k.secondRequestFailed > 0 && k.closeAnnounced < k.rounds,
  ).length;
  const totals = {
    cases: (back?.cases ?? 0) + (edge?.cases ?? 0),
    requests: (back?.requests ?? 0) + (edge?.requests ?? 0),
    violations:
      (back?.violationCount ?? 0) +
      (edge?.violationCount ?? 0) +
      abortedViolations +
      keepAliveViolations +
      (alive.edgeHealthz && alive.edgeProcessRunning ? 0 : 1),
    seconds: Math.round((Date.now() - t0) / 100) / 10,
  };
  const json = {
    generatedAt: new Date().toISOString(),
    command,
    seed,
    hardware: hw,
    totals,
    backend: back,
    edge,
    abortedUploads: aborted,
    keepAliveAfter413: keepAlive,
    alive,
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/fuzz.json', `${JSON.stringify(json, null, 2)}\n`);
  const vlist = (r?: RunResult) =>
    r?.violations.length
      ? r.violations.map((v) => `- ${formatViolation(v).replace(/\|/g, '\\|')}`).join('\n')
      : '- none';
  const md = `# Fuzz run (issue #9)

\`${command}\` on a ${hw}; ${totals.seconds} s in all. Real processes on loopback: the backend (startBackend, ${process.env.EXECUTORS ?? 'cpu'} executor) and the edge in \`wrangler dev --env dev\` (fresh \`${STATE}\`) forwarding to it.
Every case is labelled with the answer it must get (tests/fuzz/); the oracle (tests/fuzz/oracle.ts): no 5xx, every 4xx problem+json with \`status\` = HTTP status and a string \`code\`, valid inputs 200 with a well-formed answer, invalid ones never 200, one signed body accepted once.
Reproduce one case: \`npm run fuzz -- --replay=<class>:<caseSeed>\`.

**Totals: ${totals.cases} cases, ${totals.requests} requests, ${totals.violations} violations.**

## Backend \`POST /v1/resume\` (${back?.cases ?? 0} cases, ${Math.round((back?.ms ?? 0) / 1000)} s)

${back ? table(back) : 'not run'}

Violations (up to 20 kept per class):
${vlist(back)}

## Edge worker (${edge?.cases ?? 0} cases, ${Math.round((edge?.ms ?? 0) / 1000)} s)

${edge ? table(edge) : 'not run'}

Violations (up to 20 kept per class):
${vlist(edge)}

## Clients that abort uploads (raw TCP), and keep-alive after an early 413

| server | variant | rounds | answers (status line) | /healthz 200 after | first answer |
|---|---|---|---|---|---|
${[...aborted.edge.map((x) => ['edge', x] as const), ...aborted.backend.map((x) => ['backend', x] as const)]
  .map(
    ([s, x]) =>
      `| ${s} | ${x.variant} | ${x.rounds} | ${Object.entries(x.answers)
        .map(([k, v]) => `${k}×${v}`)
        .join(
          ', ',
        )} | ${x.healthyAfter}/${x.rounds} | ${x.example.replace(/\|/g, '\\|') || '(none: connection closed)'} |`,
  )
  .join('\n')}

"500 (miniflare)": answered by miniflare's entry worker, which \`wrangler dev\` runs in front of ours (its stack is quoted); it is not counted as a violation of our code, and production has no such layer. Variants that disconnect get no answer by construction; the check is that the server lives on.

Keep-alive: a body over the cap (413 before it is read), then a 16-byte request on the same connection.
Edge: second request failed ${keepAlive.edge.secondRequestFailed}/${keepAlive.edge.rounds}, \`connection: close\` announced ${keepAlive.edge.closeAnnounced}/${keepAlive.edge.rounds}.
Backend: second request failed ${keepAlive.backend.secondRequestFailed}/${keepAlive.backend.rounds}, \`connection: close\` announced ${keepAlive.backend.closeAnnounced}/${keepAlive.backend.rounds}.

At the end: edge /healthz ${alive.edgeHealthz ? '200' : 'FAILED'}, wrangler dev process ${alive.edgeProcessRunning ? 'still running' : `EXITED ${JSON.stringify(workerExit)}`}, backend /healthz ${alive.backendHealthz ? '200' : 'FAILED'}.
`;
  writeFileSync('bench/results/fuzz.md', md);
  log(
    `done: ${totals.cases} cases, ${totals.requests} requests, ${totals.violations} violations (bench/results/fuzz.{json,md})`,
  );
  for (const v of [...(back?.violations ?? []), ...(edge?.violations ?? [])].slice(0, 30)) log(formatViolation(v));
  process.exitCode = totals.violations ? 1 : 0;
}

main()
  .catch((e: unknown) => {
    console.error(e);
    process.exitCode = 2;
  })
  .finally(async () => {
    worker?.kill('SIGTERM');
    await backend?.stop();
    setTimeout(() => process.exit(), 2000).unref();
  });

/**
 * Runs fuzz cases against a system through a `send` function (fetch to a URL, or workerd's SELF):
 * generates each case from (class, caseSeed), signs backend steps just before sending them, gives
 * stateful admin cases a fresh region key, checks every answer with the oracle, and keeps per-class
 * statistics. No Node APIs: it also runs inside workerd.
 */
import fc from 'fast-check';
import { webCryptoMac } from '../../core/signature.js';
import { spell } from './backend-arbitraries.js';
import { checkConcurrent, checkStep, type Got, type OracleContext, type Violation, violation } from './oracle.js';
import type { FuzzCase, FuzzClass, FuzzRequest, SignSpec, Step } from './types.js';
import { caseSeed, hex } from './util.js';

export type Send = (req: FuzzRequest) => Promise<Got>;

/** A Send over a fetch function (global fetch, or SELF.fetch in workerd). Client-side refusals are reported as `skipped:`. */
export function fetchSender(
  fetchFn: (url: string, init: RequestInit) => Promise<Response>,
  base: string,
  timeoutMs = 30_000,
): Send {
  return async (req) => {
    const t0 = performance.now();
    let headers: Headers;
    try {
      headers = new Headers();
      for (const [k, v] of req.headers) headers.append(k, v);
    } catch (e) {
      return { error: `skipped: the client refuses these headers (${(e as Error).message})`, ms: 0 };
    }
    try {
      const res = await fetchFn(base + req.path, {
        method: req.method,
        headers,
        ...(req.body ? { body: req.body as unknown as BodyInit } : {}),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'manual',
      });
      const text = req.method === 'HEAD' ? '' : await res.text();
      return { status: res.status, headers: res.headers, text, ms: performance.now() - t0 };
    } catch (e) {
      const err = e as Error;
      return {
        error: `${err.name}: ${err.message}${err.cause ? ` (${String((err.cause as Error).message ?? err.cause)})` : ''}`,
        ms: performance.now() - t0,
      };
    }
  };
}

/** Fresh admin keys for lifecycle cases: colo:Q.., colo:J.., … (never colo:P.., which the suite reads as "never written"). */
export function keyAllocator(start = 0): () => string {
  const L = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const FIRST = 'QJKVWXY';
  let i = start;
  return () => {
    const n = i++;
    if (n >= FIRST.length * 676) throw new Error('out of fresh admin keys');
    return `colo:${FIRST[Math.floor(n / 676)]}${L[Math.floor(n / 26) % 26]}${L[n % 26]}`;
  };
}

export interface ClassStats {
  surface: string;
  cases: number;
  requests: number;
  statuses: Record<string, number>;
  violations: number;
  skipped: number;
  generatorErrors: number;
  ms: number;
  notes: Record<string, number>;
}

export interface RunResult {
  seed: number;
  cases: number;
  requests: number;
  violations: Violation[];
  violationCount: number;
  byClass: Record<string, ClassStats>;
  ms: number;
}

export interface RunOptions {
  seed: number;
  classes: FuzzClass[];
  /** Cases in all, shared by weight (at least one per class); or exact counts per class. */
  total?: number;
  counts?: Record<string, number>;
  send: Send;
  /** The backend's CASCADE_SECRET (signing). */
  secret?: string;
  oracle: OracleContext;
  concurrency?: number;
  keys?: () => string;
  /** Violations kept per class (all are counted). */
  keepPerClass?: number;
  onProgress?: (done: number, total: number) => void;
}

export const WRONG_SECRET = 'fuzz-wrong-secret-0123456789abcdef';

export function generate(cls: FuzzClass, seed: number): FuzzCase {
  return fc.sample(cls.arb, { seed, numRuns: 1 })[0]!;
}

export function countsFor(classes: FuzzClass[], total: number): Record<string, number> {
  const w = classes.reduce((s, c) => s + c.weight, 0);
  return Object.fromEntries(classes.map((c) => [c.name, Math.max(1, Math.round((total * c.weight) / w))]));
}

async function signedHeaders(
  spec: SignSpec,
  body: Uint8Array,
  secret: string,
  memo: { t?: string; mac?: string },
): Promise<[string, string][]> {
  if (spec.secret === 'none') return [];
  if (spec.raw !== undefined) return [['x-cascade-signature', spec.raw]];
  let t: string, mac: string;
  if (spec.reuse && memo.t && memo.mac) ({ t, mac } = memo as { t: string; mac: string });
  else {
    t = String(Date.now() + (spec.skewMs ?? 0));
    mac = hex(await webCryptoMac(spec.secret === 'wrong' ? WRONG_SECRET : secret, t, spec.over ?? body));
    if (spec.mac === 'random') mac = hex(crypto.getRandomValues(new Uint8Array(32)));
    else if (spec.mac === 'zeros') mac = '0'.repeat(64);
    else if (spec.mac === 'truncated') mac = mac.slice(0, 63);
    if (!memo.t) {
      memo.t = t;
      memo.mac = mac;
    }
  }
  return spell(spec.spelling ?? 'canonical', t, mac).map((v) => ['x-cascade-signature', v]);
}

export async function runFuzz(o: RunOptions): Promise<RunResult> {
  const t0 = performance.now();
  const counts = o.counts ?? countsFor(o.classes, o.total ?? 1000);
  const keys = o.keys ?? keyAllocator();
  const keep = o.keepPerClass ?? 20;
  const byClass: Record<string, ClassStats> = {};
  const violations: Violation[] = [];
  let violationCount = 0,
    requests = 0,
    done = 0;
  // Interleave the classes so slow or heavy ones do not cluster.
  const queue: [FuzzClass, number][] = [];
  const max = Math.max(...o.classes.map((c) => counts[c.name] ?? 0));
  for (let i = 0; i < max; i++) for (const c of o.classes) if (i < (counts[c.name] ?? 0)) queue.push([c, i]);
  for (const c of o.classes)
    byClass[c.name] = {
      surface: c.surface,
      cases: 0,
      requests: 0,
      statuses: {},
      violations: 0,
      skipped: 0,
      generatorErrors: 0,
      ms: 0,
      notes: {},
    };

  const record = (cls: string, v: Violation) => {
    violationCount++;
    byClass[cls]!.violations++;
    if (violations.filter((x) => x.class === cls).length < keep) violations.push(v);
  };

  async function runCase(cls: FuzzClass, index: number): Promise<void> {
    const st = byClass[cls.name]!;
    const s = caseSeed(o.seed, cls.name, index);
    let c: FuzzCase;
    try {
      c = generate(cls, s);
    } catch (e) {
      st.generatorErrors++;
      record(
        cls.name,
        violation(
          cls.name,
          `generator error: ${(e as Error).message}`,
          s,
          o.seed,
          0,
          { method: '-', path: '-', headers: [] },
          'ok',
          { error: 'generator', ms: 0 },
          [`the generator threw: ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}`],
        ),
      );
      return;
    }
    st.cases++;
    const key = c.freshKey ? keys() : undefined;
    const memo: { t?: string; mac?: string } = {};
    const steps: Step[] = [c, ...(c.then ?? [])];
    const t1 = performance.now();
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      const base = key ? { ...step.request, path: step.request.path.replaceAll('{KEY}', key) } : step.request;
      const headers = step.sign
        ? [...base.headers, ...(await signedHeaders(step.sign, base.body ?? new Uint8Array(0), o.secret ?? '', memo))]
        : base.headers;
      const req: FuzzRequest = { ...base, headers };
      const n = step.concurrent ?? 1;
      const gots = await Promise.all(Array.from({ length: n }, () => o.send(req)));
      requests += n;
      st.requests += n;
      if (gots.some((g) => 'error' in g && g.error.startsWith('skipped:'))) {
        st.skipped++;
        break;
      }
      for (const g of gots) {
        const k = 'status' in g ? String(g.status) : 'no-answer';
        st.statuses[k] = (st.statuses[k] ?? 0) + 1;
        if ('status' in g && g.status === 200 && step.answer === 'classify') {
          try {
            const j = JSON.parse(g.text) as { where?: string; degraded?: boolean; reason?: string };
            const note = `${j.where}${j.degraded ? ` degraded:${j.reason}` : ''}`;
            st.notes[note] = (st.notes[note] ?? 0) + 1;
          } catch {
            /* the oracle reports it */
          }
        }
      }
      const problems = n > 1 ? checkConcurrent(step, req, gots, o.oracle) : checkStep(step, req, gots[0]!, o.oracle);
      if (problems.length) {
        const g = gots.find((x) => !('status' in x) || x.status >= 500) ?? gots[0]!;
        record(
          cls.name,
          violation(cls.name, `${c.name}${key ? ` [key ${key}]` : ''}`, s, o.seed, i, req, step.expect, g, problems),
        );
        if (c.freshKey) break; // the later steps of a lifecycle assume this one went as labelled
      }
    }
    st.ms += performance.now() - t1;
  }

  let next = 0;
  const total = queue.length;
  const worker = async () => {
    while (next < queue.length) {
      const [cls, i] = queue[next++]!;
      await runCase(cls, i);
      done++;
      o.onProgress?.(done, total);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 4) }, worker));
  return {
    seed: o.seed,
    cases: Object.values(byClass).reduce((s, c) => s + c.cases, 0),
    requests,
    violations,
    violationCount,
    byClass,
    ms: performance.now() - t0,
  };
}

/** One line per violation, for test failure messages and logs. */
export function formatViolation(v: Violation): string {
  return `[${v.class}] ${v.name} (caseSeed ${v.caseSeed}, step ${v.step}): ${v.problems.join('; ')} | ${v.request.method} ${v.request.path} body ${v.request.body.slice(0, 100)} → ${v.got.status ?? 'no answer'} ${v.got.contentType ?? ''} ${v.got.body.slice(0, 160)}`;
}

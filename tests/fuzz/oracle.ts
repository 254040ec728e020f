/**
 * The fuzz suite's oracle: what every answer must satisfy, whatever the input, plus the case's label.
 *   - no 5xx from our code;
 *   - every 4xx is `application/problem+json` with a JSON body whose `status` equals the HTTP status
 *     and whose `code` is a string;
 *   - the status matches the case's label ('ok' = 2xx, '4xx', or an exact status): so invalid inputs
 *     never get a 200, and valid ones always do;
 *   - a 2xx is well-formed for its route (classify: label, classIndex 0-9, confidence finite in [0, 1],
 *     exit, where, …; resume: the backend's answer);
 *   - concurrent copies of one signed body: exactly one accepted.
 * Returns problems as strings; the runner turns them into violations with the case's seed.
 */
import type { AnswerKind, Expect, FuzzRequest, Outcome, Step } from './types.js';
import { preview } from './util.js';

export type Got = { status: number; headers: Headers; text: string; ms: number } | { error: string; ms: number };

export interface OracleContext {
  classes: string[];
  exits: number;
}

export interface Violation {
  class: string;
  name: string;
  /** Reproduce with (class, caseSeed): `npm run fuzz -- --replay=<class>:<caseSeed>`. */
  caseSeed: number;
  runSeed: number;
  step: number;
  request: { method: string; path: string; headers: [string, string][]; body: string; bodyBytes: number };
  expected: Expect;
  got: { status: number | null; contentType: string | null; body: string };
  problems: string[];
}

const matches = (o: Outcome, status: number) =>
  o === 'ok' ? status >= 200 && status < 300 : o === '4xx' ? status >= 400 && status < 500 : status === o;
export const expectMatches = (e: Expect, status: number) =>
  Array.isArray(e) ? (e as Outcome[]).some((o) => matches(o, status)) : matches(e as Outcome, status);
export const describeExpect = (e: Expect) => (Array.isArray(e) ? (e as Outcome[]).join(' | ') : String(e));

const mediaType = (h: string | null) => (h ?? '').split(';')[0]!.trim().toLowerCase();
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isInt = (x: unknown): x is number => Number.isInteger(x);

function checkAnswer(kind: AnswerKind | undefined, j: Record<string, unknown>, ctx: OracleContext): string[] {
  const p: string[] = [];
  if (kind === 'classify' || kind === 'resume') {
    if (!isInt(j.classIndex) || (j.classIndex as number) < 0 || (j.classIndex as number) >= ctx.classes.length)
      p.push(`classIndex ${JSON.stringify(j.classIndex)} is not an integer in 0-${ctx.classes.length - 1}`);
    else if (j.label !== ctx.classes[j.classIndex as number])
      p.push(`label ${JSON.stringify(j.label)} is not class ${j.classIndex} (${ctx.classes[j.classIndex as number]})`);
    if (!isNum(j.confidence) || j.confidence < 0 || j.confidence > 1)
      p.push(`confidence ${JSON.stringify(j.confidence)} is not a finite number in [0, 1]`);
    if (!isInt(j.exit) || (j.exit as number) < 0 || (j.exit as number) > ctx.exits)
      p.push(`exit ${JSON.stringify(j.exit)} is not an integer in 0-${ctx.exits}`);
    const t = j.timings as Record<string, unknown> | undefined;
    if (!t || typeof t !== 'object' || !Object.values(t).every((v) => isNum(v)))
      p.push(`timings ${JSON.stringify(t)} are not finite numbers`);
  }
  if (kind === 'classify') {
    if (j.where !== 'edge' && j.where !== 'backend') p.push(`where ${JSON.stringify(j.where)} is not edge|backend`);
    if (typeof j.degraded !== 'boolean') p.push('degraded is not a boolean');
    for (const k of ['region', 'thresholdVersion', 'requestId'])
      if (typeof j[k] !== 'string') p.push(`${k} is not a string`);
  }
  if (kind === 'resume') {
    if (!isInt(j.batchSize) || (j.batchSize as number) < 1)
      p.push(`batchSize ${JSON.stringify(j.batchSize)} is not a positive integer`);
    if (typeof j.executor !== 'string') p.push('executor is not a string');
  }
  return p;
}

/** Problems with one answer to one step (empty: it satisfies the oracle). */
export function checkStep(step: Step, req: FuzzRequest, got: Got, ctx: OracleContext): string[] {
  if ('error' in got) return [`no answer: ${got.error}`];
  const p: string[] = [];
  const { status } = got;
  if (status >= 500) p.push(`server error ${status}`);
  if (!expectMatches(step.expect, status)) p.push(`expected ${describeExpect(step.expect)}, got ${status}`);
  const head = req.method === 'HEAD';
  let j: Record<string, unknown> | undefined;
  const parse = () => {
    try {
      const v = JSON.parse(got.text) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) j = v as Record<string, unknown>;
      else p.push(`body is JSON but not an object: ${got.text.slice(0, 80)}`);
    } catch {
      p.push(`body is not JSON: ${JSON.stringify(got.text.slice(0, 120))}`);
    }
  };
  if (status >= 400 && status < 500) {
    const ct = got.headers.get('content-type');
    if (mediaType(ct) !== 'application/problem+json')
      p.push(`a ${status} with content-type ${JSON.stringify(ct)}, not application/problem+json`);
    if (!head) {
      parse();
      if (j) {
        if (j.status !== status) p.push(`problem status ${JSON.stringify(j.status)} ≠ HTTP ${status}`);
        if (typeof j.code !== 'string') p.push(`problem code ${JSON.stringify(j.code)} is not a string`);
      }
    }
  } else if (status >= 200 && status < 300 && !head && step.answer && step.answer !== 'none' && status !== 204) {
    if (step.answer === 'text') {
      /* any text */
    } else {
      const ct = mediaType(got.headers.get('content-type'));
      if (ct !== 'application/json')
        p.push(`a ${status} with content-type ${JSON.stringify(ct)}, not application/json`);
      parse();
      if (j) p.push(...checkAnswer(step.answer, j, ctx));
    }
  }
  if (step.expectJson && expectMatches(step.expect, status) && !head) {
    if (!j && got.text) parse();
    for (const [k, v] of Object.entries(step.expectJson))
      if (JSON.stringify(j?.[k]) !== JSON.stringify(v))
        p.push(`body.${k} is ${JSON.stringify(j?.[k])}, expected ${JSON.stringify(v)}`);
  }
  if (step.expectHeaders && expectMatches(step.expect, status)) {
    for (const [k, v] of Object.entries(step.expectHeaders))
      if (got.headers.get(k) !== v)
        p.push(`header ${k} is ${JSON.stringify(got.headers.get(k))}, expected ${JSON.stringify(v)}`);
  }
  return p;
}

/** Concurrent copies of one signed body: exactly one 2xx (well-formed), every other one a problem+json 401. */
export function checkConcurrent(step: Step, req: FuzzRequest, gots: Got[], ctx: OracleContext): string[] {
  const p: string[] = [];
  const ok = gots.filter((g) => 'status' in g && g.status >= 200 && g.status < 300);
  if (ok.length !== 1)
    p.push(
      `${ok.length} of ${gots.length} concurrent copies of one signed body were accepted (statuses ${gots.map((g) => ('status' in g ? g.status : 'error')).join(',')}); exactly 1 may be`,
    );
  for (const g of gots) {
    const isOk = 'status' in g && g.status >= 200 && g.status < 300;
    p.push(
      ...checkStep({ ...step, expect: isOk ? step.expect : 401 }, req, g, ctx).filter((x) => !x.startsWith('expected')),
    );
    if ('status' in g && !isOk && g.status !== 401) p.push(`a concurrent copy got ${g.status}, expected 401`);
  }
  return [...new Set(p)];
}

export function violation(
  cls: string,
  name: string,
  caseSeed: number,
  runSeed: number,
  step: number,
  req: FuzzRequest,
  expect: Expect,
  got: Got,
  problems: string[],
): Violation {
  return {
    class: cls,
    name,
    caseSeed,
    runSeed,
    step,
    request: {
      method: req.method,
      path: req.path.length > 200 ? `${req.path.slice(0, 200)}… (${req.path.length} chars)` : req.path,
      headers: req.headers.map(([k, v]) => [k, v.length > 200 ? `${v.slice(0, 200)}…` : v]),
      body: preview(req.body),
      bodyBytes: req.body?.length ?? 0,
    },
    expected: expect,
    got:
      'error' in got
        ? { status: null, contentType: null, body: got.error }
        : { status: got.status, contentType: got.headers.get('content-type'), body: got.text.slice(0, 300) },
    problems,
  };
}

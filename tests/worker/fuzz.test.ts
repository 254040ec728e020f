/**
 * The fuzz suite's seeded slice against the edge worker in real workerd (tests/fuzz/, issue #9):
 * classify bodies under every content type (JSON shapes, raw bytes, PNG structure and chunk
 * mutations, zlib bombs), headers, methods and paths, and the admin API (auth, keys, If-Match,
 * bodies, whole lifecycles). The backend is tests/helpers/fake-backend.ts behind the service binding.
 * The full run against `wrangler dev` and the real backend is `npm run fuzz`.
 */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { edgeSurface, type FuzzModel } from '../fuzz/arbitraries.js';
import { fetchSender, formatViolation, runFuzz } from '../fuzz/runner.js';
import { m as served } from './bundle.js';

/** The bundle the worker under test serves. */
const m: FuzzModel = served;
const SEED = 20_259;
const CASES = 1500;

describe('fuzz: the edge worker (seeded slice)', () => {
  it(`${CASES} labelled cases, seed ${SEED}: zero violations`, async () => {
    const send = fetchSender((url, init) => SELF.fetch(url, init), 'https://edge.test');
    const r = await runFuzz({
      seed: SEED,
      classes: edgeSurface(m, 'test-admin-token'),
      total: CASES,
      send,
      oracle: { classes: m.classes, exits: m.exits.length },
      concurrency: 4,
    });
    console.log(
      `fuzz edge slice: ${r.cases} cases, ${r.requests} requests, ${r.violationCount} violations, ${Math.round(r.ms)} ms`,
    );
    expect(r.cases).toBeGreaterThanOrEqual(CASES * 0.95);
    for (const [name, s] of Object.entries(r.byClass)) expect(s.requests, name).toBeGreaterThan(0);
    expect(r.violations.map(formatViolation)).toEqual([]);
  }, 240_000);
});

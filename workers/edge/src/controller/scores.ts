/**
 * The explored inputs' score vectors (core/live-solve.ts), aggregated in the isolate per region key
 * and reported to that key's Durable Object in batches (controller/batch.ts): never a write per
 * request, never on an answer's path. A batch goes at REPORT_AFTER samples or REPORT_MS after its
 * first one.
 *
 * @example
 * recordExplored(env, (p) => ctx.waitUntil(p), 'colo:LHR', [0.93, 0.41]);
 * await flushScores(env);
 */
import { addScores, emptyHistogram, mergeHistogram, type ScoreHistogram } from '../../../../core/live-solve.js';
import type { Env } from '../env.js';
import { KeyedBatcher } from './batch.js';

export const REPORT_AFTER = 100;
export const REPORT_MS = 10_000;

type Batch = ScoreHistogram & { samples: number };

let env: Env | undefined;
const batcher = new KeyedBatcher<Batch>(
  'explored scores',
  () => ({ ...emptyHistogram(0), samples: 0 }),
  (a, b) => {
    mergeHistogram(a, b);
    a.samples = a.total;
  },
  async (key, b) => {
    await env!.REGIONS.getByName(key).reportScores(key, {
      minute: Math.floor(Date.now() / 60_000),
      exits: b.exits,
      total: b.total,
      counts: b.counts,
    });
  },
  { after: REPORT_AFTER, ms: REPORT_MS },
);

/** Counts one explored input's scores for `key`; returns at once, reports run under `defer`. Never throws. */
export function recordExplored(e: Env, defer: (p: Promise<unknown>) => void, key: string, scores: number[]): void {
  env = e;
  batcher.add(
    defer,
    key,
    (b) => {
      if (b.total === 0) b.exits = scores.length;
      addScores(b, scores);
      b.samples = b.total;
    },
    (b) => b.total === 0 || b.exits === scores.length,
  );
}

/** Reports everything held now. */
export async function flushScores(e: Env): Promise<void> {
  env = e;
  await batcher.flush();
}

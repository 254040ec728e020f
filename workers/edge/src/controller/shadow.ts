/**
 * Shadow verification at the edge (core/shadow.ts holds the arithmetic): a share of a region's
 * confident edge answers (its `shadow`; a canary's answers at the canary's own share) is also sent to
 * the backend after the response has gone, under `waitUntil`, for the full model's answer. The edge
 * recomputes the features at the region's split with every exit off (the isolate's inference thread,
 * queued behind live requests) and forwards them with every deeper exit off too (thresholds 2), so
 * the backend answers at the final head; the answer is compared with the edge's, and the result is
 * counted per (arm, exit, score bin) and reported to the region's Durable Object in batches
 * (controller/batch.ts). The same batches carry each arm's decision counts, for the canary's forward
 * rate. The user's answer is never changed or delayed; a failed shadow costs a sample, and is logged.
 *
 * Cost: one backend forward (GPU from the split to the final head, the feature bytes) and the edge
 * segments again, per shadowed answer; GET /admin/regions/{key}/guard prices it per million requests.
 */
import { scoreBin } from '../../../../core/live-solve.js';
import { log } from '../../../../core/log.js';
import type { Manifest } from '../../../../core/manifest.js';
import { type Arm, type ArmReport, addShadow, emptyArm, mergeArm } from '../../../../core/shadow.js';
import { encodeFeatures, resumeMetadata } from '../../../../core/wire.js';
import { backendTarget, forward } from '../cascade/forward.js';
import { type Answer, runEdge } from '../cascade/run-edge.js';
import type { Env } from '../env.js';
import { edgeModel } from '../model/edge-model.js';
import { KeyedBatcher } from './batch.js';

export const SHADOW_REPORT_AFTER = 50;
export const SHADOW_REPORT_MS = 10_000;
/** Request id prefix of shadow forwards, so the backend's logs tell them from users' requests. */
export const SHADOW_ID_PREFIX = 'shadow-';
/** A shadow forward may wait longer than a user's: nobody is waiting on it. */
const SHADOW_TIMEOUT_MS = 10_000;

interface Batch {
  samples: number;
  version: number;
  arms: Partial<Record<Arm, ArmReport>>;
}

let env: Env | undefined;
const batcher = new KeyedBatcher<Batch>(
  'shadow results',
  () => ({ samples: 0, version: 0, arms: {} }),
  (a, b) => {
    for (const [arm, r] of Object.entries(b.arms) as [Arm, ArmReport][]) {
      const cur = a.arms[arm] ?? emptyArm();
      mergeArm(cur, r);
      a.arms[arm] = cur;
    }
    a.samples += b.samples;
  },
  async (key, b) => {
    await env!.REGIONS.getByName(key).reportShadow(key, {
      minute: Math.floor(Date.now() / 60_000),
      version: b.version,
      arms: b.arms,
    });
  },
  { after: SHADOW_REPORT_AFTER, ms: SHADOW_REPORT_MS },
);

function add(
  e: Env,
  defer: (p: Promise<unknown>) => void,
  key: string,
  version: number,
  arm: Arm,
  f: (a: ArmReport) => void,
  sample: boolean,
) {
  env = e;
  batcher.add(
    defer,
    key,
    (b) => {
      b.version = version;
      const a = b.arms[arm] ?? emptyArm();
      b.arms[arm] = a;
      f(a);
      if (sample) b.samples++;
    },
    (b) => b.version === 0 || b.version === version,
  );
}

/** Counts one decision of `arm` (for its forward rate): the region shadows or runs a canary. */
export function recordArmDecision(
  e: Env,
  defer: (p: Promise<unknown>) => void,
  key: string,
  version: number,
  arm: Arm,
  where: 'edge' | 'forwarded',
): void {
  add(
    e,
    defer,
    key,
    version,
    arm,
    (a) => {
      a.requests++;
      if (where === 'edge') a.edge++;
      else a.forwarded++;
    },
    false,
  );
}

/**
 * Verifies one confident edge answer against the full model, after the response (`defer` is the
 * request's waitUntil). Never throws; returns at once.
 */
export function shadowAnswer(
  e: Env,
  defer: (p: Promise<unknown>) => void,
  o: {
    key: string;
    version: number;
    arm: Arm;
    x: Float32Array;
    answer: Answer;
    split: number;
    requestId: string;
    thresholdVersion: string;
  },
): void {
  const target = backendTarget(e, SHADOW_TIMEOUT_MS);
  if (!target) return;
  const model = edgeModel();
  const m = model.manifest;
  track(
    defer,
    (async () => {
      const off = new Array<number>(m.exits.length).fill(2);
      const { result: r } = await model.exclusive((runner) =>
        runEdge(runner, m, o.x, { policy: 'max-softmax', thresholds: off, split: o.split }),
      );
      // The whole backbone at the edge: the final head already answered here, nothing to verify against.
      if (r.kind !== 'forward') return;
      const id = `${SHADOW_ID_PREFIX}${o.requestId}`;
      const body = encodeFeatures(r.features, r.featureShape, 'f32', shadowMetadata(m, r, o, id));
      const fwd = await forward(target, body, id);
      if (!fwd.ok) {
        log.warn('controller: shadow forward failed; no sample', {
          region: o.key,
          reason: fwd.reason,
          detail: fwd.detail,
        });
        return;
      }
      const disagreed = fwd.answer.classIndex !== o.answer.classIndex;
      // A report this result completed is part of the verification (shadowsSettled waits for it).
      await add(
        e,
        defer,
        o.key,
        o.version,
        o.arm,
        (a) => addShadow(a.counts, o.answer.exit, scoreBin(o.answer.confidence), disagreed),
        true,
      );
    })().catch((err) =>
      log.warn('controller: shadow verification failed; the answer is unaffected', { region: o.key, error: err }),
    ),
  );
}

function shadowMetadata(
  m: Manifest,
  r: { resumeAt: number; scores: number[] },
  o: { key: string; thresholdVersion: string },
  id: string,
) {
  const resumeAt = r.resumeAt;
  return resumeMetadata({
    model: m.name,
    modelHash: m.backbone.sha256,
    segment: resumeAt,
    thresholdVersion: o.thresholdVersion,
    requestId: id,
    region: o.key,
    policy: 'max-softmax',
    // Every deeper exit off: the backend answers at the final head, the full model's answer.
    thresholds: new Array<number>(m.exits.length - resumeAt).fill(2),
    scores: r.scores,
  });
}

const inFlight = new Set<Promise<void>>();
function track(defer: (p: Promise<unknown>) => void, p: Promise<void>): void {
  inFlight.add(p);
  void p.finally(() => inFlight.delete(p));
  defer(p);
}

/** Resolves once every shadow verification started so far has finished (recorded or failed). */
export async function shadowsSettled(): Promise<void> {
  while (inFlight.size) await Promise.all([...inFlight]);
}

/** Reports everything held now. */
export async function flushShadow(e: Env): Promise<void> {
  env = e;
  await batcher.flush();
}

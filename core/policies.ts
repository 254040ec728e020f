/**
 * Exit policies: kept as the import path of the scores and the first-passing-exit decision; the rule
 * itself (scores, scheduler, decision) lives in ./cascade-rule.ts, the one module calibration, the
 * edge and the backend share.
 *
 * @example
 * const s = exitScore('max-softmax', logits, conf);
 * const exit = decideExit([0.97, 0.5], [0.9, 0.9]); // 0
 */
import { passes } from './cascade-rule.js';

export { argmax, exitScore, POLICIES, type Policy, softmax } from './cascade-rule.js';

/** Index of the first exit whose score reaches its threshold, or -1 (go deeper / final head). */
export function decideExit(
  scores: ArrayLike<number>,
  thresholds: ArrayLike<number>,
  logitsFinite?: ArrayLike<boolean>,
): number {
  for (let i = 0; i < scores.length; i++)
    if (passes(scores[i]!, thresholds[i], logitsFinite ? logitsFinite[i]! : true)) return i;
  return -1;
}

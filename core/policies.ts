/**
 * Exit policies: a score per exit, compared with that exit's threshold; the first exit whose score
 * reaches its threshold answers, otherwise the final head does.
 *
 *   - `confidence`: PTEENet's learned confidence head (sigmoid output);
 *   - `max-softmax`: BranchyNet-style largest class probability;
 *   - `entropy`: 1 − H(softmax)/log K (1 = certain), so larger is more confident for every policy.
 *
 * @example
 * const s = exitScore('max-softmax', logits, conf);
 * const exit = decideExit([0.97, 0.5], [0.9, 0.9]); // 0
 */
export const POLICIES = ['confidence', 'max-softmax', 'entropy'] as const;
export type Policy = (typeof POLICIES)[number];

export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

/** The policy's score for one sample at one exit (higher = more confident). */
export function exitScore(policy: Policy, logits: ArrayLike<number>, confidence: number): number {
  switch (policy) {
    case 'confidence':
      return confidence;
    case 'max-softmax': {
      const p = softmax(logits);
      return p[argmax(p)]!;
    }
    case 'entropy': {
      const p = softmax(logits);
      let h = 0;
      for (const v of p) if (v > 0) h -= v * Math.log(v);
      return 1 - h / Math.log(p.length);
    }
  }
}

/** Index of the first exit whose score reaches its threshold, or -1 (go deeper / final head). */
export function decideExit(scores: ArrayLike<number>, thresholds: ArrayLike<number>): number {
  for (let i = 0; i < scores.length; i++) if (scores[i]! >= thresholds[i]!) return i;
  return -1;
}

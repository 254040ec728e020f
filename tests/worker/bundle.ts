/**
 * The bundle the worker under test serves (workers/edge/src/model/bundle.generated.ts, written by
 * scripts/gen-edge-bundle.ts), so the worker tests derive exit and segment counts from it instead of
 * assuming one bundle's shape.
 */
import { parseManifest } from '../../core/manifest.js';
import { BUNDLE } from '../../workers/edge/src/model/bundle.generated.js';

export const m = parseManifest(BUNDLE.manifest);
export const EXITS = m.exits.length;
export const SEGMENTS = m.segments.length;
/** One threshold per exit, all `t`. */
export const every = (t: number): number[] => m.exits.map(() => t);
/**
 * A valid split for any bundle with at least 2 exits: 2 segments (and their exits) at the edge, so
 * a request no exit is confident about is forwarded (split ≤ EXITS < SEGMENTS) rather than answered
 * by the final head at the edge.
 */
export const SPLIT = Math.min(2, EXITS);
/** The deepest split that still forwards: every exit at the edge, the backend runs the final segment. */
export const DEEPEST_FORWARDING_SPLIT = EXITS;

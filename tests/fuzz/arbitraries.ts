/**
 * Every fuzz class of the system, by surface (issue #9). Each class's `arb` yields one labelled case
 * `{ name, class, request: { method, path, headers, body }, expect, … }` (tests/fuzz/types.ts).
 *
 * @example
 * const classes = [...edgeSurface(manifest, adminToken), ...backendSurface(manifest)];
 * const c = generate(classes[0], 42); // the same case for the same seed, in Node and in workerd
 */
import { adminClasses } from './admin-arbitraries.js';
import { backendClasses } from './backend-arbitraries.js';
import { edgeClasses } from './edge-arbitraries.js';
import { pngClasses } from './png-arbitraries.js';
import type { FuzzClass, FuzzModel } from './types.js';

export type { Expect, FuzzCase, FuzzClass, FuzzModel, FuzzRequest, Step } from './types.js';

/** The edge worker's classes: classify (JSON, raw, PNG, content types, sizes), headers, paths, admin. */
export function edgeSurface(m: FuzzModel, adminToken: string): FuzzClass[] {
  return [...edgeClasses(m), ...pngClasses(m), ...adminClasses(m, adminToken)];
}

/** The GPU backend's classes: `POST /v1/resume` bodies, signatures, replays, non-finite results, misc. */
export function backendSurface(m: FuzzModel): FuzzClass[] {
  return backendClasses(m);
}

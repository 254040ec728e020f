/** Small helpers shared by the generators and runners (no Node APIs: they run in workerd too). */

import { POLICIES, type Policy } from '../../core/policies.js';
import { mulberry32 } from '../../core/random.js';
import type { FuzzModel } from './types.js';

/** The policies the bundle can serve: `eenet` only where every exit has a scheduler (the backend refuses it otherwise). */
export function servablePolicies(m: FuzzModel): Policy[] {
  const eenet = m.exits.length > 0 && m.exits.every((e) => e.scheduler !== undefined && e.scheduler !== null);
  return POLICIES.filter((p) => p !== 'eenet' || eenet);
}

/** The policies with a calibrated frontier in the bundle (the ones a budget can be given for). */
export function budgetPolicies(m: FuzzModel): Policy[] {
  return servablePolicies(m).filter((p) => (m.policies.frontier[p]?.length ?? 0) > 0);
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** mulberry32 (core/random.ts): big arrays come from one generated seed (fast, reproducible). */
export const prng = mulberry32;

export function randomBytes(seed: number, n: number): Uint8Array {
  const r = prng(seed),
    out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
  return out;
}

export function randomInts(seed: number, n: number, below: number): number[] {
  const r = prng(seed),
    out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * below);
  return out;
}

/** FNV-1a of a string: per-class seeds. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** The seed of case `index` of `cls` in a run with `seed`: a case is reproduced from (class, caseSeed) alone. */
export function caseSeed(seed: number, cls: string, index: number): number {
  let x = (fnv1a(cls) ^ Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) | 0;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
export const hex = (b: Uint8Array): string => Array.from(b, (x) => HEX[x]).join('');

/** A short printable preview of a body (for reports): UTF-8 if it decodes cleanly, else hex. */
export function preview(b: Uint8Array | undefined, max = 160): string {
  if (!b || b.length === 0) return '';
  const head = b.subarray(0, max);
  let s: string;
  try {
    s = JSON.stringify(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(head));
  } catch {
    s = `hex:${hex(head)}`;
  }
  return b.length > max ? `${s}… (${b.length} bytes)` : s;
}

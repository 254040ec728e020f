/**
 * How the dashboard writes numbers: one function per kind, so the page and its tests
 * (tests/e2e/dashboard.test.ts) agree on every figure's text. Pure; no DOM.
 */

/** An integer count with thousands separators: 12,345. */
export const count = (n: number): string => Math.round(n).toLocaleString('en-US');

/** A share in [0, 1] as a percentage with one decimal: 77.1 %; an em dash when unknown. */
export const pct = (x: number | null | undefined): string =>
  x === null || x === undefined ? '—' : `${(x * 100).toFixed(1)} %`;

/** A small share (a disagreement rate) with two decimals: 0.75 %; an em dash when unknown. */
export const pct2 = (x: number | null | undefined): string =>
  x === null || x === undefined ? '—' : `${(x * 100).toFixed(2)} %`;

/** An interval of shares, two decimals: [0.26 %, 2.18 %]. */
export const interval = (i: { lo: number; hi: number }): string => `[${pct2(i.lo)}, ${pct2(i.hi)}]`;

/** A share in [0, 1] as a percentage with at most one decimal, none when whole: 25 %, 22.5 %. */
export const share = (x: number): string => `${Number((x * 100).toFixed(1))} %`;

/** US dollars with three significant decimals for small amounts: $0.351, $2.81, $1,234. */
export function usd(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  if (x === 0) return '$0';
  const abs = Math.abs(x);
  if (abs >= 100) return `$${Math.round(x).toLocaleString('en-US')}`;
  return `$${x.toPrecision(3)}`;
}

/**
 * A latency quantile from the histogram: the upper bound of its bucket, so "≤ 13 ms" (the API's
 * value is that bound; 5000 means at least 5000).
 */
export function ms(x: number | null | undefined): string {
  if (x === null || x === undefined) return '—';
  return x >= 5000 ? '≥ 5000 ms' : `≤ ${x} ms`;
}

/** A cost as a fraction of the backbone's MACs: 27.2 % of the backbone. */
export const macShare = (x: number): string => `${(x * 100).toFixed(1)} %`;

/** Bytes in binary units: 1.5 MiB. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** A UTC timestamp for axis labels: the time for ranges within a day, the date and time otherwise. */
export function timeLabel(iso: string, withDate: boolean): string {
  const d = new Date(iso);
  const hm = d.toISOString().slice(11, 16);
  return withDate ? `${d.toISOString().slice(5, 10)} ${hm}` : hm;
}

/** An exit index as people say it: "exit 0" … and "final head" for the bundle's exit count. */
export const exitLabel = (index: number, exits: number): string => (index >= exits ? 'final head' : `exit ${index}`);

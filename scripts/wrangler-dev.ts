/**
 * The edge worker in `wrangler dev --env dev` on a port of the caller's, for tests and benchmarks
 * that run the real worker: one place for the command line (Node 22, loopback, vars, local state)
 * and for waiting until it answers. `npm start` (start.ts) and `npm run dev` (dev.ts) have their own
 * entry points; this is the programmatic one.
 *
 * @example
 * const w = spawnWranglerDev({ port: 8866, vars: { ADMIN_TOKEN: 't' }, persistTo: '.cache/x' });
 * await waitUntilUp('http://127.0.0.1:8866/healthz', w);
 * await putRegion('http://127.0.0.1:8866', 't', 'colo:LHR', settings);
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { WRANGLER_ENV } from './d1-migrations.js';
import { node22 } from './node22.js';

export interface WranglerDevOptions {
  port: number;
  /** `--var NAME:value` each: test and benchmark secrets are throwaway values, so the command line is fine. */
  vars?: Record<string, string>;
  /** wrangler's --persist-to: where local KV, D1 and Durable Objects are kept. */
  persistTo?: string;
  /** More wrangler dev arguments (`--inspector-port`, …). */
  extra?: string[];
  /** 'pipe' to read its output (the caller must then keep reading it: wrangler logs a line per request). */
  stdio?: 'ignore' | 'pipe';
}

export function spawnWranglerDev(o: WranglerDevOptions): ChildProcess {
  const args = [
    'node_modules/wrangler/bin/wrangler.js',
    'dev',
    '--env',
    'dev',
    '--port',
    String(o.port),
    '--ip',
    '127.0.0.1',
  ];
  for (const [k, v] of Object.entries(o.vars ?? {})) args.push('--var', `${k}:${v}`);
  if (o.persistTo) args.push('--persist-to', o.persistTo);
  args.push(...(o.extra ?? []));
  return spawn(node22(), args, { env: WRANGLER_ENV, stdio: ['ignore', o.stdio ?? 'ignore', o.stdio ?? 'ignore'] });
}

/** Resolves once `url` answers 2xx; rejects when `proc` exits first or after `ms` (with `log()` in the error). */
export async function waitUntilUp(url: string, proc?: ChildProcess, ms = 90_000, log?: () => string): Promise<void> {
  for (const t0 = Date.now(); ; ) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (proc && proc.exitCode !== null)
      throw new Error(`${url}: the process exited (${proc.exitCode})${log ? `:\n${log()}` : ''}`);
    if (Date.now() - t0 > ms) throw new Error(`${url} did not answer within ${ms / 1000} s${log ? `:\n${log()}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Creates or replaces a region entry through the admin API (If-Match from a fresh read); throws on refusal. */
export async function putRegion(edge: string, token: string, key: string, settings: unknown): Promise<void> {
  const auth = { authorization: `Bearer ${token}` };
  const cur = await fetch(`${edge}/admin/regions/${key}`, { headers: auth });
  await cur.arrayBuffer();
  const headers: Record<string, string> = {
    ...auth,
    'content-type': 'application/json',
    ...(cur.ok ? { 'if-match': cur.headers.get('etag')! } : {}),
  };
  const r = await fetch(`${edge}/admin/regions/${key}`, { method: 'PUT', headers, body: JSON.stringify(settings) });
  if (!r.ok) throw new Error(`PUT /admin/regions/${key}: ${r.status} ${await r.text()}`);
}

/**
 * Applies the edge's D1 migrations (workers/edge/migrations: the decision metrics' tables) to a
 * local database of `--env dev`, as `npm start` does before `wrangler dev` and the end-to-end tests
 * do for their own wrangler state. stdin is not a terminal, so wrangler applies without its
 * "continue?" prompt (harmless on a local database).
 *
 * @example
 * const r = applyLocalMigrations(['--persist-to', '.cache/e2e-wrangler-state'], 'pipe');
 * if (r.status !== 0) throw new Error(String(r.stderr));
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { node22 } from './node22.js';

/** Wrangler without network calls or telemetry: everything here is local. */
export const WRANGLER_ENV = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' };

/** `wrangler d1 migrations apply METRICS --local --env dev …extra`, synchronously; its output inherited or piped. */
export function applyLocalMigrations(extra: string[], output: 'inherit' | 'pipe'): SpawnSyncReturns<string> {
  return spawnSync(
    node22(),
    [
      'node_modules/wrangler/bin/wrangler.js',
      'd1',
      'migrations',
      'apply',
      'METRICS',
      '--local',
      '--env',
      'dev',
      ...extra,
    ],
    { stdio: ['ignore', output, output], env: WRANGLER_ENV, encoding: 'utf8' },
  );
}

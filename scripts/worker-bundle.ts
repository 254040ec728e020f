/**
 * The edge worker bundled exactly as a deploy uploads it (`wrangler deploy --dry-run --outdir`,
 * offline, after the dashboard build), with its size raw (what counts against Cloudflare's 64 MiB
 * Worker size limit) and gzipped (what is sent). `npm run deploy` (deploy.ts) and
 * `npm run build:worker` (bundle-worker.ts, bench:edge's size file) both build through this.
 *
 * @example
 * const b = await buildWorkerBundle('.cache/worker-dist', ['--env', 'staging']);
 * if (b.rawBytes > MAX_SCRIPT_BYTES) …
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildDashboard } from './build-dashboard.js';
import { node22 } from './node22.js';

/** Cloudflare's Worker size limit: 64 MiB uncompressed, Free and Paid plans (the old 10 MiB compressed limit is gone). */
export const MAX_SCRIPT_BYTES = 64 * 1024 * 1024;

export interface WorkerBundle {
  rawBytes: number;
  gzipBytes: number;
  files: { file: string; bytes: number; gzipBytes: number }[];
}

/** Builds into `outDir` (emptied first); throws with wrangler's output when the build fails. */
export async function buildWorkerBundle(outDir: string, wranglerArgs: string[] = []): Promise<WorkerBundle> {
  await buildDashboard();
  rmSync(outDir, { recursive: true, force: true });
  const r = spawnSync(
    node22(),
    ['node_modules/wrangler/bin/wrangler.js', 'deploy', '--dry-run', '--outdir', outDir, ...wranglerArgs],
    {
      encoding: 'utf8',
      env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' },
    },
  );
  if (r.status !== 0) throw new Error(`wrangler deploy --dry-run failed:\n${r.stdout}${r.stderr}`);
  const files = readdirSync(outDir, { recursive: true })
    .map(String)
    .filter((f) => statSync(join(outDir, f)).isFile() && !f.endsWith('.map') && !f.endsWith('README.md'))
    .map((file) => {
      const b = readFileSync(join(outDir, file));
      return { file, bytes: b.length, gzipBytes: gzipSync(b, { level: 9 }).length };
    });
  return {
    rawBytes: files.reduce((a, f) => a + f.bytes, 0),
    gzipBytes: files.reduce((a, f) => a + f.gzipBytes, 0),
    files,
  };
}

export const mib = (n: number) => `${(n / 1024 / 1024).toFixed(2)} MiB`;

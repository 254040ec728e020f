/**
 * Bundles the edge worker exactly as a deploy would (`wrangler deploy --dry-run`) and reports its
 * size raw (what counts against Cloudflare's 64 MiB Worker size limit) and gzipped (what is sent).
 * Fails above the limit. Writes bench/results/worker-bundle.json (read by bench:edge). `npm test`
 * checks the size through `npm run deploy -- --dry-run` instead, which writes no result file.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildDashboard } from './build-dashboard.js';
import { MAX_SCRIPT_BYTES } from './deploy-limits.js';
import { node22 } from './node22.js';

const OUT = '.cache/worker-dist';

await buildDashboard();
rmSync(OUT, { recursive: true, force: true });
const r = spawnSync(node22(), ['node_modules/wrangler/bin/wrangler.js', 'deploy', '--dry-run', '--outdir', OUT], {
  encoding: 'utf8',
  env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' },
});
if (r.status !== 0) {
  console.error(r.stdout, r.stderr);
  process.exit(r.status ?? 1);
}
const files = readdirSync(OUT, { recursive: true })
  .map(String)
  .filter((f) => statSync(join(OUT, f)).isFile() && !f.endsWith('.map') && !f.endsWith('README.md'));
let raw = 0,
  gz = 0;
const rows = files.map((f) => {
  const b = readFileSync(join(OUT, f));
  const g = gzipSync(b, { level: 9 }).length;
  raw += b.length;
  gz += g;
  return { file: f, bytes: b.length, gzipBytes: g };
});
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/worker-bundle.json',
  `${JSON.stringify({ date: new Date().toISOString(), rawBytes: raw, gzipBytes: gz, files: rows }, null, 2)}\n`,
);
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(2)} MiB`;
console.log(`worker bundle (wrangler deploy --dry-run): ${mib(raw)} raw, ${mib(gz)} gzip, ${files.length} files`);
if (raw > MAX_SCRIPT_BYTES) {
  console.error(`${mib(raw)} exceeds Cloudflare's ${mib(MAX_SCRIPT_BYTES)} Worker size limit`);
  process.exit(1);
}

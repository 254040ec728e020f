/**
 * Bundles the edge worker exactly as a deploy would (`wrangler deploy --dry-run`) and reports its
 * size raw (what counts against Cloudflare's 64 MiB Worker size limit) and gzipped (what is sent).
 * Fails above the limit. Writes bench/results/worker-bundle.json (read by bench:edge). `npm test`
 * checks the size through `npm run deploy -- --dry-run` instead, which writes no result file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { buildWorkerBundle, MAX_SCRIPT_BYTES, mib } from './worker-bundle.js';

let b: Awaited<ReturnType<typeof buildWorkerBundle>>;
try {
  b = await buildWorkerBundle('.cache/worker-dist');
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/worker-bundle.json',
  `${JSON.stringify({ date: new Date().toISOString(), rawBytes: b.rawBytes, gzipBytes: b.gzipBytes, files: b.files }, null, 2)}\n`,
);
console.log(
  `worker bundle (wrangler deploy --dry-run): ${mib(b.rawBytes)} raw, ${mib(b.gzipBytes)} gzip, ${b.files.length} files`,
);
if (b.rawBytes > MAX_SCRIPT_BYTES) {
  console.error(`${mib(b.rawBytes)} exceeds Cloudflare's ${mib(MAX_SCRIPT_BYTES)} Worker size limit`);
  process.exit(1);
}

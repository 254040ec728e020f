/**
 * `npm run backend:restart`: a health-checked rolling restart of a running `npm run backend:cluster`
 * (SIGHUP to its primary, whose pid is in PID_FILE, default .cache/backend-cluster-<PORT>.pid; see
 * gpu-backend/src/cluster-processes.ts). The primary logs each replacement and the outcome.
 *
 * @example
 * npm run backend:restart               # the cluster on PORT 8788
 * PORT=9000 npm run backend:restart
 */
import { readFileSync } from 'node:fs';

if (process.argv.includes('--help')) {
  console.log(`Usage: [PORT=8788] [PID_FILE=…] npm run backend:restart

Replaces the running backend cluster's processes one at a time (each new one must be ready before an
old one drains and stops), so the port keeps answering: to load new code or a new bundle from disk.`);
  process.exit(0);
}
const pidFile = process.env.PID_FILE || `.cache/backend-cluster-${process.env.PORT || '8788'}.pid`;
let pid: number;
try {
  pid = Number(readFileSync(pidFile, 'utf8').trim());
} catch {
  console.error(
    `npm run backend:restart: no ${pidFile}: is npm run backend:cluster running (and ready) with this PORT?`,
  );
  process.exit(2);
}
try {
  process.kill(pid, 'SIGHUP');
} catch (e) {
  console.error(`npm run backend:restart: process ${pid} (from ${pidFile}): ${(e as Error).message}`);
  process.exit(2);
}
console.log(`npm run backend:restart: sent SIGHUP to the backend primary ${pid}; it logs each replacement`);

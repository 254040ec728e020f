/**
 * `npm run dev`: the edge worker alone in `wrangler dev --env dev` (hot reload on every source edit),
 * for working on the worker against a backend you run yourself (`npm run backend`, or any
 * BACKEND_URL: `npm run dev -- --var BACKEND_URL:https://…`). Builds the dashboard and applies the
 * local D1 migrations first, as npm start does; arguments after `--` go to wrangler dev. `npm start`
 * is the whole cascade in one command.
 *
 * @example
 * npm run backend &   # terminal 1 (CASCADE_SECRET from .dev.vars)
 * npm run dev         # terminal 2: http://127.0.0.1:8787
 */
import { spawn } from 'node:child_process';
import { buildDashboard } from './build-dashboard.js';
import { applyLocalMigrations, WRANGLER_ENV } from './d1-migrations.js';
import { node22 } from './node22.js';

const extra = process.argv.slice(2);
if (extra.includes('--help') || extra.includes('-h')) {
  console.log(`Usage: npm run dev [-- <wrangler dev options>]

Runs the edge worker alone (wrangler dev --env dev, on http://127.0.0.1:8787 unless --port is given),
forwarding to the backend at env.dev's BACKEND_URL (http://127.0.0.1:8788: npm run backend). The
dashboard is built and the local D1 migrations applied first. npm start runs the whole cascade.`);
  process.exit(0);
}
await buildDashboard();
const migrate = applyLocalMigrations([], 'pipe');
if (migrate.status !== 0) {
  process.stderr.write(`${migrate.stdout}${migrate.stderr}`);
  console.error('npm run dev: applying the local D1 migrations failed (output above)');
  process.exit(1);
}
const child = spawn(node22(), ['node_modules/wrangler/bin/wrangler.js', 'dev', '--env', 'dev', ...extra], {
  stdio: 'inherit',
  env: WRANGLER_ENV,
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

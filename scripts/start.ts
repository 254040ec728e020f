/**
 * `npm start`: the cascade locally on the shipped bundle. Starts the edge worker in `wrangler dev`
 * (workerd, local KV) with development secrets and the region-header override on, so one machine
 * can play several regions. The GPU backend joins here when it lands; until then not-confident
 * requests get the best edge answer with `degraded: true, reason: "backend_unreachable"`.
 */
import { spawn } from 'node:child_process';
import { node22 } from './node22.js';

const PORT = process.env.PORT ?? '8787';
// Development-only secrets: production sets them with `wrangler secret put`.
const DEV_VARS = ['CASCADE_SECRET:dev-cascade-secret', 'ADMIN_TOKEN:dev-admin-token'];

const child = spawn(node22(), ['node_modules/wrangler/bin/wrangler.js', 'dev', '--env', 'dev', '--port', PORT, '--ip', '127.0.0.1', ...DEV_VARS.flatMap((v) => ['--var', v])], {
  stdio: 'inherit',
  env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' },
});
console.log(`edge worker on http://127.0.0.1:${PORT}; try:
  curl -s -X POST http://127.0.0.1:${PORT}/v1/classify -H 'content-type: application/octet-stream' --data-binary @<(head -c 784 /dev/zero)
  curl -s -H 'authorization: Bearer dev-admin-token' http://127.0.0.1:${PORT}/admin/regions`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
child.on('exit', (code) => process.exit(code ?? 0));

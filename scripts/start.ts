/**
 * `npm start`: the whole cascade locally on the shipped bundle. Starts the GPU backend (Node,
 * fastest executor available, CPU here) and the edge worker in `wrangler dev` (workerd, local KV)
 * with development secrets and the region-header override on, so one machine can play several
 * regions. Ctrl-C stops both (the backend drains first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { node22 } from './node22.js';

const EDGE_PORT = process.env.PORT ?? '8787';
const BACKEND_PORT = process.env.BACKEND_PORT ?? '8788';
// Development-only secrets: production sets them with `wrangler secret put` and the backend's env.
const SECRET = 'dev-cascade-secret-change-me';
const ADMIN = 'dev-admin-token';

const children: ChildProcess[] = [];
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' };
children.push(spawn(process.execPath, ['--import', 'tsx', 'gpu-backend/src/server.ts'], { stdio: 'inherit', env: { ...env, PORT: BACKEND_PORT, CASCADE_SECRET: SECRET } }));
children.push(spawn(node22(), ['node_modules/wrangler/bin/wrangler.js', 'dev', '--env', 'dev', '--port', EDGE_PORT, '--ip', '127.0.0.1',
  '--var', `CASCADE_SECRET:${SECRET}`, '--var', `ADMIN_TOKEN:${ADMIN}`, '--var', `BACKEND_URL:http://127.0.0.1:${BACKEND_PORT}`], { stdio: 'inherit', env }));
console.log(`edge worker on http://127.0.0.1:${EDGE_PORT}, backend on http://127.0.0.1:${BACKEND_PORT}; try:
  curl -s -X POST http://127.0.0.1:${EDGE_PORT}/v1/classify -H 'content-type: application/octet-stream' --data-binary @<(head -c 784 /dev/zero)
  curl -s -H 'authorization: Bearer ${ADMIN}' http://127.0.0.1:${EDGE_PORT}/admin/regions`);
const stopAll = (sig: NodeJS.Signals) => { for (const c of children) c.kill(sig); };
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => stopAll(sig));
for (const c of children) c.on('exit', (code) => { stopAll('SIGTERM'); process.exitCode = code ?? 0; });

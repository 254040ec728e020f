/**
 * The backend on several cores: `BACKEND_PROCESSES` copies of the server (node:cluster) sharing one
 * port, each with its own executor and batcher. One Node process spends its single JS thread on HTTP
 * parsing, HMAC checks and decoding; past ~10k requests/s that thread, not the GPU, is the limit.
 * The primary hands out connections round-robin; clients keep connections alive, so requests spread
 * with them. Each process holds its own GPU device (WebGPU) and forms its own batches.
 *
 * Caveat: the replay guard is per process, so a replayed body reaching another process within the
 * window is not caught; production routes by signature (or shares the guard) before relying on it.
 *
 * @example
 * BACKEND_PROCESSES=8 CASCADE_SECRET=… node --import tsx gpu-backend/src/cluster.ts
 * // stderr: "[cluster] 8 backend processes ready on http://127.0.0.1:8788"
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { ConfigError } from './config.js';
import { startBackend } from './server.js';

/** Up to 256 processes: beyond the core count it only adds contention. */
const processesSchema = z.coerce.number().int().min(1).max(256);

export function backendProcesses(env: Record<string, string | undefined>): number {
  const raw = env.BACKEND_PROCESSES ?? String(Math.max(1, Math.floor(availableParallelism() / 2)));
  const r = processesSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(`BACKEND_PROCESSES=${JSON.stringify(raw)}: must be an integer 1-256`);
  return r.data;
}

async function primary(n: number): Promise<void> {
  let ready = 0, url = '';
  let stopping = false;
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('message', (_w, msg: { ready?: string }) => {
    if (!msg.ready) return;
    url = msg.ready;
    if (++ready === n) console.error(`[cluster] ${n} backend processes ready on ${url}`);
  });
  cluster.on('exit', (w, code) => {
    if (!stopping) {
      console.error(`[cluster] backend process ${w.process.pid} exited (${code}); stopping all`);
      stopping = true;
      for (const o of Object.values(cluster.workers ?? {})) o?.kill('SIGTERM');
      process.exitCode = 1;
    }
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.kill(sig);
    });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    if (cluster.isPrimary) {
      await primary(backendProcesses(process.env));
    } else {
      const b = await startBackend(process.env, (m) => console.error(`[backend ${process.pid}] ${m}`));
      process.send?.({ ready: b.url });
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void b.stop().then(() => process.exit(0)));
    }
  } catch (e) {
    console.error(e instanceof ConfigError ? `[backend] configuration error: ${e.message}` : e);
    process.exit(1);
  }
}

/**
 * One backend process as a library: startBackend() validates the config (an environment-shaped
 * record), loads the bundle, picks and warms an executor and serves HTTP; its stop() stops accepting
 * work and drains what is in flight. The entry `npm run backend` is server.ts (signals, exit codes);
 * cluster-processes.ts starts one of these in each server process.
 *
 * @example
 * const b = await startBackend({ CASCADE_SECRET: '…', PORT: '0' });
 * await fetch(`${b.url}/readyz`); await b.stop();
 */

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { log, parseLogLevel, setLogLevel, setLogSink, stderrSink } from '../../core/log.js';
import { type BackendState, createBackendApp } from './app.js';
import { Batcher } from './batcher.js';
import { loadBundle } from './bundle.js';
import { answerClientError } from './client-error.js';
import { ConfigError, loadConfig } from './config.js';
import { createConfiguredExecutor, type ExecutorChoice } from './executors/create.js';
import type { Executor } from './executors/executor.js';
import { Metrics } from './metrics.js';
import { SharedReplayGuard } from './shared-replay-guard.js';

// The backend has always logged to stderr (stdout stays free; the cluster's primary and the benches read stderr).
setLogSink(stderrSink);

export interface RunningBackend {
  url: string;
  state: BackendState;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Wraps the chosen executor (tests hold batches back with it to observe queueing and draining). */
  wrapExecutor?: (e: Executor) => Executor;
  /** An executor chosen elsewhere (cluster-processes.ts: the primary process's, shared by its HTTP workers). */
  executor?: ExecutorChoice;
  /** A replay check shared by several processes (cluster-processes.ts: the primary's); default this process's own. */
  fresh?: BackendState['fresh'];
  /** The /metrics text of several processes (cluster-processes.ts); default this process's own. */
  metricsText?: BackendState['metricsText'];
}

/**
 * @param say where start-up and shutdown lines go: by default an info line of core/log.ts
 *   (`component: 'backend'`); the tests pass a no-op.
 */
export async function startBackend(
  env: Record<string, string | undefined>,
  say: (m: string) => void = (m) => log.info(m, { component: 'backend' }),
  opts: StartOptions = {},
): Promise<RunningBackend> {
  try {
    const level = parseLogLevel(env.LOG_LEVEL);
    if (level) setLogLevel(level);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  const cfg = loadConfig(env);
  const bundle = loadBundle(cfg.MODEL_DIR);
  const chosen = opts.executor ?? (await createConfiguredExecutor(cfg, bundle, say));
  const { fallbacks } = chosen;
  const executor = opts.wrapExecutor ? opts.wrapExecutor(chosen.executor) : chosen.executor;
  // REPLAY_STORE_URL: every process on every host claims replay keys in one store; else the caller's
  // guard (the cluster primary's) or this process's own.
  const store = cfg.REPLAY_STORE_URL ? new SharedReplayGuard(cfg.REPLAY_STORE_URL, cfg.SIGNATURE_WINDOW_MS) : undefined;
  const metrics = new Metrics();
  const batcher = new Batcher(
    executor,
    bundle.manifest,
    { maxBatch: cfg.MAX_BATCH, maxWaitMs: cfg.MAX_WAIT_MS, maxQueue: cfg.MAX_QUEUE },
    metrics,
  );
  const state: BackendState = {
    cfg,
    manifest: bundle.manifest,
    batcher,
    metrics,
    executor: { name: executor.name, fallbacks, ...(executor.info ? { info: executor.info } : {}) },
    draining: false,
    inFlight: 0,
    ...(store
      ? { fresh: (k: string) => store.fresh(k), replayGuard: { kind: 'store' as const, status: () => store.status() } }
      : opts.fresh
        ? { fresh: opts.fresh, replayGuard: { kind: 'primary' as const } }
        : {}),
    ...(opts.metricsText ? { metricsText: opts.metricsText } : {}),
  };
  const app = createBackendApp(state);
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: cfg.PORT, hostname: cfg.HOST }, () => resolve(s));
  });
  server.on('clientError', answerClientError);
  const { port } = server.address() as AddressInfo;
  const url = `http://${cfg.HOST}:${port}`;
  say(`model ${bundle.manifest.name} on ${url} (max batch ${cfg.MAX_BATCH}, max wait ${cfg.MAX_WAIT_MS} ms)`);
  let stopping: Promise<void> | undefined;
  return {
    url,
    state,
    stop: () =>
      (stopping ??= (async () => {
        // Accepted requests run at once (no batch wait) and are answered. Until they are, the server
        // still listens, so a request arriving meanwhile gets 503 SHUTTING_DOWN (and connection: close),
        // not a refused connection.
        state.draining = true;
        await batcher.drain();
        while (state.inFlight > 0) {
          await batcher.drain();
          await new Promise((r) => setTimeout(r, 5));
        }
        const closed = new Promise<void>((r) => server.close(() => r()));
        // Keep-alive sockets hold close() open until they time out: close each once its last answer is written.
        const sweep = setInterval(() => (server as Server).closeIdleConnections(), 10);
        (server as Server).closeIdleConnections();
        await closed;
        clearInterval(sweep);
        await executor.release();
        await store?.close();
        say('stopped after draining');
      })()),
  };
}

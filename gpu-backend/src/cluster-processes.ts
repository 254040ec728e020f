/**
 * The backend on several cores: `BACKEND_PROCESSES` copies of the server (node:cluster) sharing one
 * port. One Node process spends its single JS thread on HTTP parsing, HMAC checks and decoding; past
 * a few thousand requests/s that thread, not the GPU, is the limit. The primary hands out connections
 * round-robin; clients keep connections alive, so requests spread with them. Each process forms its
 * own batches. By default each also holds its own executor (its own GPU device, for WebGPU); with
 * `BACKEND_SHARED_EXECUTOR=1` the primary owns the one executor and the workers send it their
 * batches over IPC (V8 serialization: typed arrays travel as bytes), so one device runs everything.
 * There the primary merges the batches that wait for the executor into calls of up to `MAX_BATCH`
 * samples (coalesce.ts), and logs how many runs took how many calls when it stops.
 *
 * With several processes the replay guard lives in the primary: each process asks it, over IPC, whether
 * a verified signature is new (one small round trip per request), so a replayed body is refused
 * whichever process it reaches. Several machines would need a shared store (or routing by signature).
 * Likewise /metrics, wherever a scrape lands, is the primary's sum over every process's metrics.
 *
 * This module is the library (runCluster); the entry is cluster.ts (bench/backend-free-server.ts is
 * another). node:cluster forks the entry script (process.argv[1]) again for every server process, so
 * an entry must call runCluster() at top level, in the primary and in each forked process alike.
 *
 * @example
 * BACKEND_PROCESSES=8 BACKEND_SHARED_EXECUTOR=1 CASCADE_SECRET=… node --import tsx gpu-backend/src/cluster.ts
 * // stderr: {"time":"…","level":"info","msg":"8 backend processes ready on http://127.0.0.1:8788, sharing the primary's cuda executor",…}
 */
import cluster from 'node:cluster';
import { log } from '../../core/log.js';
import type { Manifest } from '../../core/manifest.js';
import { gauges } from './app.js';
import { loadBundle } from './bundle.js';
import {
  answerSnapshots,
  type CollectedMsg,
  type CollectMsg,
  type ExecutorMsg,
  type FreshMsg,
  metricsCollector,
  type ResultMsg,
  type RunMsg,
  remoteExecutor,
  remoteMetrics,
  remoteReplayGuard,
  type SeenMsg,
  type SnapshotMsg,
} from './cluster-ipc.js';
import { coalesce } from './coalesce.js';
import { backendProcesses, ConfigError, loadConfig, sharedExecutor } from './config.js';
import { createConfiguredExecutor, type ExecutorChoice } from './executors/create.js';
import { callBatch, type Executor } from './executors/executor.js';
import { PrimaryMetrics } from './metrics.js';
import { ReplayGuard } from './replay-guard.js';
import { startBackend } from './start-backend.js';

/** An executor made here instead of by the configured chain (bench/backend-free-server.ts). */
export type ExecutorFactory = (m: Manifest) => Executor;

async function primary(n: number, shared: boolean, factory?: ExecutorFactory): Promise<void> {
  const cfg = loadConfig(process.env);
  const replay = new ReplayGuard(cfg.SIGNATURE_WINDOW_MS);
  let choice: ExecutorChoice | undefined;
  let merged: ReturnType<typeof coalesce> | undefined;
  if (shared) {
    cluster.setupPrimary({ serialization: 'advanced' });
    const bundle = loadBundle(cfg.MODEL_DIR);
    choice = factory
      ? { executor: factory(bundle.manifest), fallbacks: [] }
      : await createConfiguredExecutor(cfg, bundle, (m) => log.info(m, { component: 'cluster' }));
    merged = coalesce(choice.executor, cfg.MAX_BATCH);
  }
  // The primary's own metrics (cascade_processes, the shared executor's counters), added to the processes' (prom-client's AggregatorRegistry).
  const coalesced = merged;
  const metrics = metricsCollector(new PrimaryMetrics(coalesced && (() => coalesced.stats())));
  let ready = 0,
    url = '';
  let stopping = false;
  for (let i = 0; i < n; i++) {
    const w = cluster.fork();
    if (choice) {
      const hello: ExecutorMsg = {
        rpc: 'executor',
        name: choice.executor.name,
        fallbacks: choice.fallbacks,
        ...(choice.executor.info ? { info: choice.executor.info } : {}),
      };
      w.once('online', () => w.send(hello));
    }
  }
  cluster.on('message', (w, msg: { ready?: string } | RunMsg | SeenMsg | CollectMsg | SnapshotMsg) => {
    if ('rpc' in msg && msg.rpc === 'collect') {
      const reply = (m: CollectedMsg) => {
        if (w.isConnected()) w.send(m);
      };
      metrics.collect().then(
        (text) => reply({ rpc: 'collected', id: msg.id, text }),
        (e: unknown) => reply({ rpc: 'collected', id: msg.id, text: '', error: (e as Error).message }),
      );
      return;
    }
    if ('rpc' in msg && msg.rpc === 'snapshot-reply') {
      metrics.onSnapshot(msg);
      return;
    }
    if ('rpc' in msg && msg.rpc === 'seen') {
      const fresh = msg.signatures.map((s) => replay.fresh(s));
      if (w.isConnected()) w.send({ rpc: 'fresh', id: msg.id, fresh } satisfies FreshMsg);
      return;
    }
    if ('rpc' in msg && msg.rpc === 'run' && merged) {
      const reply = (r: ResultMsg) => {
        if (w.isConnected()) w.send(r);
      };
      merged.run(msg.kind, msg.index, msg.input, msg.dims).then(
        (out) => reply({ rpc: 'result', id: msg.id, out, batch: callBatch.get(out) ?? msg.dims[0] ?? 1 }),
        (e: unknown) => reply({ rpc: 'result', id: msg.id, error: (e as Error).message }),
      );
      return;
    }
    if (!('ready' in msg) || !msg.ready) return;
    url = msg.ready;
    // The URL is followed by ", " in the message: readers find it with /ready on (http:\/\/[^\s,]+)/.
    if (++ready === n)
      log.info(
        `${n} backend processes ready on ${url}, ${choice ? `sharing the primary's ${choice.executor.name} executor` : 'each with its own executor'}`,
        { component: 'cluster', processes: n, url, sharedExecutor: choice?.executor.name ?? null },
      );
  });
  let alive = n;
  cluster.on('exit', (w, code) => {
    if (--alive === 0) {
      if (merged) {
        const st = merged.stats();
        log.info(
          `shared executor: ${st.runs} runs in ${st.calls} calls, ${st.samples} samples (${(st.samples / Math.max(1, st.calls)).toFixed(1)} per call)`,
          { component: 'cluster', ...st },
        );
      }
      void choice?.executor.release();
    }
    if (!stopping) {
      log.error(`backend process ${w.process.pid} exited (${code}); stopping all`, {
        component: 'cluster',
        pid: w.process.pid,
        code,
      });
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

/**
 * Runs this process as the cluster's primary or as one of its server processes (node:cluster forks
 * the entry script that called this one, which calls it again there). `factory` replaces the configured executors (a benchmark's free executor).
 */
export async function runCluster(factory?: ExecutorFactory): Promise<void> {
  try {
    if (cluster.isPrimary) {
      await primary(backendProcesses(process.env), sharedExecutor(process.env), factory);
    } else {
      const executor = sharedExecutor(process.env)
        ? await remoteExecutor()
        : factory
          ? { executor: factory(loadBundle(loadConfig(process.env).MODEL_DIR).manifest), fallbacks: [] }
          : undefined;
      // One process keeps its own replay guard; several share the primary's. With several, or with the
      // primary's executor, /metrics is the primary's view: the sum over all (a scrape reaches any one),
      // and the shared executor's counters.
      const many = backendProcesses(process.env) > 1;
      const b = await startBackend(process.env, (m) => log.info(m, { component: 'backend', pid: process.pid }), {
        ...(executor ? { executor } : {}),
        ...(many ? { fresh: remoteReplayGuard() } : {}),
        ...(many || sharedExecutor(process.env) ? { metricsText: remoteMetrics() } : {}),
      });
      answerSnapshots(() => b.state.metrics.snapshot(gauges(b.state)));
      process.send?.({ ready: b.url });
      for (const sig of ['SIGINT', 'SIGTERM'] as const)
        process.once(sig, () => void b.stop().then(() => process.exit(0)));
    }
  } catch (e) {
    if (e instanceof ConfigError)
      log.error(`configuration error: ${e.message}`, { component: 'backend', pid: process.pid });
    else log.error('backend failed to start', { component: 'backend', pid: process.pid, error: e });
    process.exit(1);
  }
}

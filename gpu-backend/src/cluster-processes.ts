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
 * Rolling restart: SIGHUP to the primary replaces the server processes one at a time, so the port
 * never stops answering: fork a new one (it loads the code and the bundle from disk again, warms its
 * executor up), wait for its ready message and for /readyz through the shared port, then SIGTERM the
 * old one (it drains what it holds) and wait for it to exit; then the next. A replacement that exits
 * or is not ready within ROLLING_READY_TIMEOUT_MS (default 120 s) stops the restart: it is killed, the
 * old processes keep serving, and the error is logged. The replay guard and the metrics of the
 * primary survive it. `npm run backend:restart` sends the SIGHUP to the pid in PID_FILE (default
 * .cache/backend-cluster-<PORT>.pid, written once every process is ready); `systemctl reload` does too.
 *
 * This module is the library (runCluster); the entry is cluster.ts (bench/backend-free-server.ts is
 * another). node:cluster forks the entry script (process.argv[1]) again for every server process, so
 * an entry must call runCluster() at top level, in the primary and in each forked process alike.
 *
 * @example
 * BACKEND_PROCESSES=8 BACKEND_SHARED_EXECUTOR=1 CASCADE_SECRET=… node --import tsx gpu-backend/src/cluster.ts
 * // stderr: {"time":"…","level":"info","msg":"8 backend processes ready on http://127.0.0.1:8788, sharing the primary's cuda executor",…}
 */
import cluster, { type Worker } from 'node:cluster';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
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
  // Where `npm run backend:restart` finds this primary (its pid; removed when it exits).
  // PORT=0 (tests: a port the OS picks) has no stable name, so no default file then.
  const pidFile = process.env.PID_FILE || (cfg.PORT ? `.cache/backend-cluster-${cfg.PORT}.pid` : '');
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
  /** Processes whose exit is expected: retired by a rolling restart, or a failed replacement. */
  const retiring = new Set<number>();
  /** Replacements forked by a rolling restart and not yet ready: their exit fails the restart, not the cluster. */
  const onProbation = new Set<number>();
  /** Resolvers waiting for a given process's ready message. */
  const readyWaiters = new Map<number, () => void>();
  const fork = () => {
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
    return w;
  };
  for (let i = 0; i < n; i++) fork();
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
    const waiter = readyWaiters.get(w.id);
    if (waiter) {
      readyWaiters.delete(w.id);
      waiter();
      return;
    }
    // The URL is followed by ", " in the message: readers find it with /ready on (http:\/\/[^\s,]+)/.
    if (++ready === n) {
      writePidFile();
      log.info(
        `${n} backend processes ready on ${url}, ${choice ? `sharing the primary's ${choice.executor.name} executor` : 'each with its own executor'}`,
        { component: 'cluster', processes: n, url, sharedExecutor: choice?.executor.name ?? null, pid: process.pid },
      );
    }
  });
  // Live server processes: the first n, plus each replacement a rolling restart forks (replace()).
  let alive = n;
  cluster.on('exit', (w, code) => {
    if (retiring.delete(w.id) || onProbation.delete(w.id)) {
      alive--;
      return;
    }
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
    process.on(sig, () => {
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.kill(sig);
    });
  }

  function writePidFile(): void {
    if (!pidFile) return;
    mkdirSync(dirname(pidFile), { recursive: true });
    writeFileSync(pidFile, `${process.pid}\n`);
    process.once('exit', () => rmSync(pidFile, { force: true }));
  }

  let restarting = false;
  const readyTimeout = Number(process.env.ROLLING_READY_TIMEOUT_MS ?? 120_000);
  /** One replacement: fork, wait until it and the port are ready, then retire `old` and wait for it to go. */
  const replace = async (old: Worker): Promise<void> => {
    const fresh = fork();
    alive++;
    onProbation.add(fresh.id);
    const failure = await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(`was not ready within ${readyTimeout} ms`), readyTimeout);
      readyWaiters.set(fresh.id, () => {
        clearTimeout(timer);
        resolve(undefined);
      });
      fresh.once('exit', (code, signal) => {
        clearTimeout(timer);
        resolve(`exited (${code ?? signal}) before it was ready`);
      });
    });
    readyWaiters.delete(fresh.id);
    const why = failure ?? ((await answers(url)) ? undefined : 'ready, but /readyz did not answer 200');
    if (why) {
      if (!fresh.isDead()) fresh.process.kill('SIGKILL');
      throw new Error(`replacement process ${fresh.process.pid} ${why}`);
    }
    onProbation.delete(fresh.id);
    retiring.add(old.id);
    const gone = new Promise<void>((r) => old.once('exit', () => r()));
    old.kill('SIGTERM');
    await gone;
  };
  process.on('SIGHUP', () => {
    if (stopping || restarting) {
      log.warn(`rolling restart ignored: ${stopping ? 'stopping' : 'one is already running'}`, {
        component: 'cluster',
      });
      return;
    }
    restarting = true;
    const olds = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !retiring.has(w.id));
    log.info(`rolling restart of ${olds.length} backend processes`, { component: 'cluster' });
    void (async () => {
      let done = 0;
      try {
        for (const old of olds) {
          if (stopping) break;
          await replace(old);
          done++;
          log.info(`rolling restart: ${done}/${olds.length} replaced`, { component: 'cluster', done, of: olds.length });
        }
        log.info(`rolling restart done: ${done} backend processes replaced`, { component: 'cluster', replaced: done });
      } catch (e) {
        log.error(
          `rolling restart stopped after ${done}/${olds.length}: ${(e as Error).message}; the other processes keep serving`,
          { component: 'cluster', done, of: olds.length },
        );
      } finally {
        restarting = false;
      }
    })();
  });
}

/** Whether the backend answers /readyz through the shared port (any process may take it). */
async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) })).ok;
  } catch {
    return false;
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
        // With a shared store (REPLAY_STORE_URL) every process asks the store itself (start-backend.ts).
        ...(many && !process.env.REPLAY_STORE_URL ? { fresh: remoteReplayGuard() } : {}),
        ...(many || sharedExecutor(process.env) ? { metricsText: remoteMetrics() } : {}),
      });
      answerSnapshots(() => b.state.metrics.snapshot(gauges(b.state)));
      process.send?.({ ready: b.url });
      for (const sig of ['SIGINT', 'SIGTERM'] as const)
        process.on(sig, () => void b.stop().then(() => process.exit(0)));
    }
  } catch (e) {
    if (e instanceof ConfigError)
      log.error(`configuration error: ${e.message}`, { component: 'backend', pid: process.pid });
    else log.error('backend failed to start', { component: 'backend', pid: process.pid, error: e });
    process.exit(1);
  }
}

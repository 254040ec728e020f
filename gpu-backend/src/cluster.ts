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
 *
 * @example
 * BACKEND_PROCESSES=8 BACKEND_SHARED_EXECUTOR=1 CASCADE_SECRET=… node --import tsx gpu-backend/src/cluster.ts
 * // stderr: "[cluster] 8 backend processes ready on http://127.0.0.1:8788"
 */
import cluster from 'node:cluster';
import { backendProcesses, ConfigError, loadConfig, sharedExecutor } from './config.js';
import { loadBundle } from './bundle.js';
import { createExecutor, type ExecutorChoice } from './executors/create.js';
import { callBatch, type Executor } from './executors/executor.js';
import { coalesce } from './coalesce.js';
import { startBackend } from './server.js';
import { ReplayGuard } from './app.js';
import type { Manifest } from '../../core/manifest.js';

/** Primary ↔ worker messages of the shared-executor mode. */
type ExecutorMsg = { rpc: 'executor'; name: Executor['name']; info?: Executor['info']; fallbacks: ExecutorChoice['fallbacks'] };
type RunMsg = { rpc: 'run'; id: number; kind: 'segment' | 'exit'; index: number; input: Float32Array; dims: number[] };
/** `batch`: samples in the executor call that produced `out` (several workers' batches merged). */
type ResultMsg = { rpc: 'result'; id: number; out?: Record<string, Float32Array>; batch?: number; error?: string };
/** The signatures one process verified in one event-loop turn, and whether each is new. */
type SeenMsg = { rpc: 'seen'; id: number; signatures: string[] };
type FreshMsg = { rpc: 'fresh'; id: number; fresh: boolean[] };

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
      : await createExecutor(cfg.EXECUTORS, bundle, { cpuThreads: cfg.CPU_THREADS, cpuSpinning: cfg.CPU_SPINNING, webgpuBuild: cfg.WEBGPU_BUILD, log: (m) => console.error(`[cluster] ${m}`) });
    merged = coalesce(choice.executor, cfg.MAX_BATCH);
  }
  let ready = 0, url = '';
  let stopping = false;
  for (let i = 0; i < n; i++) {
    const w = cluster.fork();
    if (choice) {
      const hello: ExecutorMsg = { rpc: 'executor', name: choice.executor.name, fallbacks: choice.fallbacks, ...(choice.executor.info ? { info: choice.executor.info } : {}) };
      w.once('online', () => w.send(hello));
    }
  }
  cluster.on('message', (w, msg: { ready?: string } | RunMsg | SeenMsg) => {
    if ('rpc' in msg && msg.rpc === 'seen') {
      const fresh = msg.signatures.map((s) => replay.fresh(s));
      if (w.isConnected()) w.send({ rpc: 'fresh', id: msg.id, fresh } satisfies FreshMsg);
      return;
    }
    if ('rpc' in msg && msg.rpc === 'run' && merged) {
      const reply = (r: ResultMsg) => { if (w.isConnected()) w.send(r); };
      merged.run(msg.kind, msg.index, msg.input, msg.dims).then(
        (out) => reply({ rpc: 'result', id: msg.id, out, batch: callBatch.get(out) ?? msg.dims[0] ?? 1 }),
        (e: unknown) => reply({ rpc: 'result', id: msg.id, error: (e as Error).message }),
      );
      return;
    }
    if (!('ready' in msg) || !msg.ready) return;
    url = msg.ready;
    if (++ready === n) console.error(`[cluster] ${n} backend processes ready on ${url}${choice ? `, sharing the primary's ${choice.executor.name} executor` : ''}`);
  });
  let alive = n;
  cluster.on('exit', (w, code) => {
    if (--alive === 0) {
      if (merged) {
        const st = merged.stats();
        console.error(`[cluster] shared executor: ${st.runs} runs in ${st.calls} calls, ${st.samples} samples (${(st.samples / Math.max(1, st.calls)).toFixed(1)} per call)`);
      }
      void choice?.executor.release();
    }
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

/**
 * A worker's view of the primary's replay guard: the signatures verified in one event-loop turn go
 * in one IPC round trip (under load many requests share a turn, so a request costs a fraction of one).
 */
function remoteReplayGuard(): (signature: string) => Promise<boolean> {
  const pending = new Map<number, ((fresh: boolean) => void)[]>();
  let next = 0;
  let turn: { signatures: string[]; resolve: ((fresh: boolean) => void)[] } | undefined;
  process.on('message', (m: FreshMsg) => {
    if (m?.rpc !== 'fresh') return;
    pending.get(m.id)?.forEach((resolve, i) => resolve(m.fresh[i] ?? false));
    pending.delete(m.id);
  });
  const flush = () => {
    const t = turn!;
    turn = undefined;
    const id = next++;
    pending.set(id, t.resolve);
    process.send!({ rpc: 'seen', id, signatures: t.signatures } satisfies SeenMsg);
  };
  return (signature) => new Promise((resolve, reject) => {
    if (!process.connected) { reject(new Error('the cluster primary (replay guard) is gone')); return; }
    if (!turn) { turn = { signatures: [], resolve: [] }; setImmediate(flush); }
    turn.signatures.push(signature);
    turn.resolve.push(resolve);
  });
}

/** A worker's view of the primary's executor: each run is a message there and its answer back. */
async function remoteExecutor(): Promise<ExecutorChoice> {
  const hello = await new Promise<ExecutorMsg>((resolve) => {
    const on = (m: ExecutorMsg) => { if (m?.rpc === 'executor') { process.off('message', on); resolve(m); } };
    process.on('message', on);
  });
  const pending = new Map<number, { resolve(o: Record<string, Float32Array>): void; reject(e: Error): void }>();
  let next = 0;
  process.on('message', (m: ResultMsg) => {
    if (m?.rpc !== 'result') return;
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.error !== undefined || !m.out) p?.reject(new Error(m.error ?? 'no output'));
    else {
      if (m.batch) callBatch.set(m.out, m.batch);
      p?.resolve(m.out);
    }
  });
  const executor: Executor = {
    name: hello.name,
    ...(hello.info ? { info: hello.info } : {}),
    run: (kind, index, input, dims) => new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      process.send!({ rpc: 'run', id, kind, index, input, dims } satisfies RunMsg);
    }),
    release: async () => undefined,
  };
  return { executor, fallbacks: hello.fallbacks };
}

/**
 * Runs this process as the cluster's primary or as one of its server processes (node:cluster forks
 * this same script). `factory` replaces the configured executors (a benchmark's free executor).
 */
export async function runCluster(factory?: ExecutorFactory): Promise<void> {
  try {
    if (cluster.isPrimary) {
      await primary(backendProcesses(process.env), sharedExecutor(process.env), factory);
    } else {
      const executor = sharedExecutor(process.env)
        ? await remoteExecutor()
        : factory ? { executor: factory(loadBundle(loadConfig(process.env).MODEL_DIR).manifest), fallbacks: [] } : undefined;
      // One process keeps its own guard; several share the primary's.
      const fresh = backendProcesses(process.env) > 1 ? remoteReplayGuard() : undefined;
      const b = await startBackend(process.env, (m) => console.error(`[backend ${process.pid}] ${m}`), { ...(executor ? { executor } : {}), ...(fresh ? { fresh } : {}) });
      process.send?.({ ready: b.url });
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void b.stop().then(() => process.exit(0)));
    }
  } catch (e) {
    console.error(e instanceof ConfigError ? `[backend] configuration error: ${e.message}` : e);
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runCluster();

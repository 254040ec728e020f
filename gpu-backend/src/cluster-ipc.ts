/**
 * The cluster's IPC (cluster.ts): the messages between the primary and its server processes, and a
 * server process's views of what the primary holds: the replay guard, and the shared executor
 * (`BACKEND_SHARED_EXECUTOR=1`). Messages use V8 serialization there, so typed arrays travel as bytes.
 *
 * @example
 * const fresh = remoteReplayGuard(); // in a server process
 * if (!(await fresh(signatureHeader))) refuse();
 */
import cluster from 'node:cluster';
import type { ExecutorChoice } from './executors/create.js';
import { callBatch, type Executor } from './executors/executor.js';
import { mergeSnapshots, renderSnapshot, type MetricsSnapshot } from './metrics.js';

/** Primary ↔ worker messages of the shared-executor mode. */
export type ExecutorMsg = { rpc: 'executor'; name: Executor['name']; info?: Executor['info']; fallbacks: ExecutorChoice['fallbacks'] };
export type RunMsg = { rpc: 'run'; id: number; kind: 'segment' | 'exit'; index: number; input: Float32Array; dims: number[] };
/** `batch`: samples in the executor call that produced `out` (several workers' batches merged). */
export type ResultMsg = { rpc: 'result'; id: number; out?: Record<string, Float32Array>; batch?: number; error?: string };
/** The signatures one process verified in one event-loop turn, and whether each is new. */
export type SeenMsg = { rpc: 'seen'; id: number; signatures: string[] };
export type FreshMsg = { rpc: 'fresh'; id: number; fresh: boolean[] };
/** /metrics in a cluster: a process asks (collect), the primary asks every process (snapshot), adds up and answers (collected). */
export type CollectMsg = { rpc: 'collect'; id: number };
export type SnapshotRequestMsg = { rpc: 'snapshot'; id: number };
export type SnapshotMsg = { rpc: 'snapshot-reply'; id: number; snapshot: MetricsSnapshot };
export type CollectedMsg = { rpc: 'collected'; id: number; text: string };

/** A process's /metrics in a cluster: the primary's sum over every process. */
export function remoteMetrics(): () => Promise<string> {
  const pending = new Map<number, (text: string) => void>();
  let next = 0;
  process.on('message', (m: CollectedMsg) => {
    if (m?.rpc !== 'collected') return;
    pending.get(m.id)?.(m.text);
    pending.delete(m.id);
  });
  return () => new Promise((resolve, reject) => {
    if (!process.connected) { reject(new Error('the cluster primary (metrics) is gone')); return; }
    const id = next++;
    pending.set(id, resolve);
    process.send!({ rpc: 'collect', id } satisfies CollectMsg);
  });
}

/**
 * The primary's side of /metrics: asks every connected process for its snapshot, waits for them (at
 * most `timeoutMs`: a process that does not answer is left out, and `cascade_processes` says how many
 * did), adds them up and renders them with the primary's own lines (`extra`).
 */
export function metricsCollector(extra: () => string[], timeoutMs = 1000): { collect(): Promise<string>; onSnapshot(m: SnapshotMsg): void } {
  const gathering = new Map<number, { snaps: MetricsSnapshot[]; left: number; finish(): void }>();
  let next = 0;
  return {
    collect() {
      const workers = Object.values(cluster.workers ?? {}).filter((w) => w?.isConnected());
      const id = next++;
      return new Promise((resolve) => {
        const g = {
          snaps: [] as MetricsSnapshot[], left: workers.length,
          finish: () => {
            clearTimeout(timer);
            gathering.delete(id);
            const text = renderSnapshot(mergeSnapshots(g.snaps));
            resolve(text + ['# TYPE cascade_processes gauge', `cascade_processes ${g.snaps.length}`, ...extra(), ''].join('\n'));
          },
        };
        const timer = setTimeout(g.finish, timeoutMs);
        gathering.set(id, g);
        for (const w of workers) w!.send({ rpc: 'snapshot', id } satisfies SnapshotRequestMsg);
        if (!workers.length) g.finish();
      });
    },
    onSnapshot(m) {
      const g = gathering.get(m.id);
      if (!g) return;
      g.snaps.push(m.snapshot);
      if (--g.left === 0) g.finish();
    },
  };
}

/** Answers the primary's snapshot requests with this process's metrics. */
export function answerSnapshots(snapshot: () => MetricsSnapshot): void {
  process.on('message', (m: SnapshotRequestMsg) => {
    if (m?.rpc === 'snapshot' && process.connected) process.send!({ rpc: 'snapshot-reply', id: m.id, snapshot: snapshot() } satisfies SnapshotMsg);
  });
}

/**
 * A worker's view of the primary's replay guard: the signatures verified in one event-loop turn go
 * in one IPC round trip (under load many requests share a turn, so a request costs a fraction of one).
 */
export function remoteReplayGuard(): (signature: string) => Promise<boolean> {
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
export async function remoteExecutor(): Promise<ExecutorChoice> {
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

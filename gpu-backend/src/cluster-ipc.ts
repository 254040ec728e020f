/**
 * The cluster's IPC (cluster-processes.ts): the messages between the primary and its server processes, and a
 * server process's views of what the primary holds: the replay guard, and the shared executor
 * (`BACKEND_SHARED_EXECUTOR=1`). Messages use V8 serialization there, so typed arrays travel as bytes.
 *
 * @example
 * const fresh = remoteReplayGuard(); // in a server process
 * if (!(await fresh(check.replayKey))) refuse(); // the canonical key from verifyBody
 */
import cluster from 'node:cluster';
import type { ExecutorChoice } from './executors/create.js';
import { callBatch, type Executor } from './executors/executor.js';
import type { MetricsSnapshot, PrimaryMetrics } from './metrics.js';

/** Primary ↔ worker messages of the shared-executor mode. */
export type ExecutorMsg = {
  rpc: 'executor';
  name: Executor['name'];
  info?: Executor['info'];
  fallbacks: ExecutorChoice['fallbacks'];
};
export type RunMsg = {
  rpc: 'run';
  id: number;
  kind: 'segment' | 'exit';
  index: number;
  input: Float32Array;
  dims: number[];
};
/** `batch`: samples in the executor call that produced `out` (several workers' batches merged). */
export type ResultMsg = {
  rpc: 'result';
  id: number;
  out?: Record<string, Float32Array>;
  batch?: number;
  error?: string;
};
/** The replay keys (canonical MACs) one process verified in one event-loop turn, and whether each is new. */
export type SeenMsg = { rpc: 'seen'; id: number; signatures: string[] };
export type FreshMsg = { rpc: 'fresh'; id: number; fresh: boolean[] };
/**
 * /metrics in a cluster: a process asks (collect), the primary asks every process (snapshot: its
 * prom-client registry as JSON), adds them up (AggregatorRegistry.aggregate) and answers (collected).
 */
export type CollectMsg = { rpc: 'collect'; id: number };
export type SnapshotRequestMsg = { rpc: 'snapshot'; id: number };
export type SnapshotMsg = { rpc: 'snapshot-reply'; id: number; snapshot: MetricsSnapshot };
/** `error`: the primary could not add them up (the asking process's /metrics fails with it). */
export type CollectedMsg = { rpc: 'collected'; id: number; text: string; error?: string };

/**
 * One kind of question a server process asks the primary: sends `{rpc, id, ...payload}` and resolves
 * with the primary's message `{rpc: answer, id, …}`; rejects at once when the primary is gone.
 */
function asker<Q extends { rpc: string; id: number }, A extends { id: number }>(
  rpc: Q['rpc'],
  answer: string,
): (payload: Omit<Q, 'rpc' | 'id'>) => Promise<A> {
  const pending = new Map<number, (a: A) => void>();
  let next = 0;
  process.on('message', (m: A & { rpc?: string }) => {
    if (m?.rpc !== answer) return;
    pending.get(m.id)?.(m);
    pending.delete(m.id);
  });
  return (payload) =>
    new Promise((resolve, reject) => {
      if (!process.connected) {
        reject(new Error(`the cluster primary is gone (${rpc})`));
        return;
      }
      const id = next++;
      pending.set(id, resolve);
      process.send!({ rpc, id, ...payload });
    });
}

/** A process's /metrics in a cluster: the primary's sum over every process. */
export function remoteMetrics(): () => Promise<string> {
  const ask = asker<CollectMsg, CollectedMsg>('collect', 'collected');
  return async () => {
    const m = await ask({});
    if (m.error !== undefined) throw new Error(`cluster metrics: ${m.error}`);
    return m.text;
  };
}

/**
 * The primary's side of /metrics: asks every connected process for its snapshot, waits for them (at
 * most `timeoutMs`: a process that does not answer is left out, and `cascade_processes` says how many
 * did), and adds them up with the primary's own metrics (`own`, prom-client's AggregatorRegistry).
 */
export function metricsCollector(
  own: Pick<PrimaryMetrics, 'render'>,
  timeoutMs = 1000,
): { collect(): Promise<string>; onSnapshot(m: SnapshotMsg): void } {
  const gathering = new Map<number, { snaps: MetricsSnapshot[]; left: number; finish(): void }>();
  let next = 0;
  return {
    collect() {
      const workers = Object.values(cluster.workers ?? {}).filter((w) => w?.isConnected());
      const id = next++;
      return new Promise((resolve, reject) => {
        const g = {
          snaps: [] as MetricsSnapshot[],
          left: workers.length,
          finish: () => {
            clearTimeout(timer);
            if (!gathering.delete(id)) return;
            own.render(g.snaps).then(resolve, reject);
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

/** Answers the primary's snapshot requests with this process's metrics (its registry as JSON). */
export function answerSnapshots(snapshot: () => Promise<MetricsSnapshot>): void {
  process.on('message', (m: SnapshotRequestMsg) => {
    if (m?.rpc !== 'snapshot') return;
    snapshot().then(
      (s) => {
        if (process.connected) process.send!({ rpc: 'snapshot-reply', id: m.id, snapshot: s } satisfies SnapshotMsg);
      },
      () => undefined,
    ); // unanswered: the primary leaves this process out after its timeout (cascade_processes says so)
  });
}

/**
 * A worker's view of the primary's replay guard: the signatures verified in one event-loop turn go
 * in one IPC round trip (under load many requests share a turn, so a request costs a fraction of one).
 */
export function remoteReplayGuard(): (signature: string) => Promise<boolean> {
  const ask = asker<SeenMsg, FreshMsg>('seen', 'fresh');
  let turn: { signatures: string[]; resolve: ((fresh: boolean) => void)[]; reject: ((e: Error) => void)[] } | undefined;
  const flush = () => {
    const t = turn!;
    turn = undefined;
    ask({ signatures: t.signatures }).then(
      (m) =>
        t.resolve.forEach((resolve, i) => {
          resolve(m.fresh[i] ?? false);
        }),
      (e: Error) =>
        t.reject.forEach((reject) => {
          reject(e);
        }),
    );
  };
  return (signature) =>
    new Promise((resolve, reject) => {
      if (!turn) {
        turn = { signatures: [], resolve: [], reject: [] };
        setImmediate(flush);
      }
      turn.signatures.push(signature);
      turn.resolve.push(resolve);
      turn.reject.push(reject);
    });
}

/** A worker's view of the primary's executor: each run is a message there and its answer back. */
export async function remoteExecutor(): Promise<ExecutorChoice> {
  const hello = await new Promise<ExecutorMsg>((resolve) => {
    const on = (m: ExecutorMsg) => {
      if (m?.rpc === 'executor') {
        process.off('message', on);
        resolve(m);
      }
    };
    process.on('message', on);
  });
  const ask = asker<RunMsg, ResultMsg>('run', 'result');
  const executor: Executor = {
    name: hello.name,
    ...(hello.info ? { info: hello.info } : {}),
    run: async (kind, index, input, dims) => {
      const m = await ask({ kind, index, input, dims });
      if (m.error !== undefined || !m.out) throw new Error(m.error ?? 'no output');
      if (m.batch) callBatch.set(m.out, m.batch);
      return m.out;
    },
    release: async () => undefined,
  };
  return { executor, fallbacks: hello.fallbacks };
}

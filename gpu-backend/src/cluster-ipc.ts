/**
 * The cluster's IPC (cluster.ts): the messages between the primary and its server processes, and a
 * server process's views of what the primary holds: the replay guard, and the shared executor
 * (`BACKEND_SHARED_EXECUTOR=1`). Messages use V8 serialization there, so typed arrays travel as bytes.
 *
 * @example
 * const fresh = remoteReplayGuard(); // in a server process
 * if (!(await fresh(signatureHeader))) refuse();
 */
import type { ExecutorChoice } from './executors/create.js';
import { callBatch, type Executor } from './executors/executor.js';

/** Primary ↔ worker messages of the shared-executor mode. */
export type ExecutorMsg = { rpc: 'executor'; name: Executor['name']; info?: Executor['info']; fallbacks: ExecutorChoice['fallbacks'] };
export type RunMsg = { rpc: 'run'; id: number; kind: 'segment' | 'exit'; index: number; input: Float32Array; dims: number[] };
/** `batch`: samples in the executor call that produced `out` (several workers' batches merged). */
export type ResultMsg = { rpc: 'result'; id: number; out?: Record<string, Float32Array>; batch?: number; error?: string };
/** The signatures one process verified in one event-loop turn, and whether each is new. */
export type SeenMsg = { rpc: 'seen'; id: number; signatures: string[] };
export type FreshMsg = { rpc: 'fresh'; id: number; fresh: boolean[] };

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

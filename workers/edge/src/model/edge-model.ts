/**
 * The bundle as the edge sees it: the validated manifest plus lazily created onnxruntime-web
 * sessions (one per segment/exit, created once per isolate and shared by concurrent requests).
 * Runs are serialised: ORT's single-threaded wasm runs one inference at a time anyway, and a
 * session must not be entered twice concurrently.
 *
 * @example
 * const m = edgeModel();
 * const feats = await m.segment(0, x);
 */
import { parseManifest, type Manifest } from '../../../../core/manifest.js';
import { createSession, run, tensor, type Session } from '../runtime/ort.js';
import type { EdgeRunner } from '../cascade/run-edge.js';
import { BUNDLE } from './bundle.generated.js';

export class EdgeModel implements EdgeRunner {
  readonly manifest: Manifest;
  private readonly sessions = new Map<string, Promise<Session>>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(bundle: { manifest: unknown; segments: ArrayBuffer[]; exits: ArrayBuffer[] }) {
    this.manifest = parseManifest(bundle.manifest);
    this.bundle = bundle;
  }
  private readonly bundle: { segments: ArrayBuffer[]; exits: ArrayBuffer[] };

  private session(kind: 'segments' | 'exits', i: number): Promise<Session> {
    const key = `${kind}:${i}`;
    let s = this.sessions.get(key);
    if (!s) {
      const bytes = this.bundle[kind][i];
      if (!bytes) throw new Error(`the edge bundle has no ${kind} ${i}`);
      s = createSession(bytes);
      // A failed creation is not cached: the next request retries.
      s.catch(() => this.sessions.delete(key));
      this.sessions.set(key, s);
    }
    return s;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Creates the sessions of the first `split` segments and exits (readiness, warm-up). */
  async load(split: number): Promise<void> {
    await Promise.all(Array.from({ length: split }, (_, i) => [this.session('segments', i), ...(i < this.manifest.exits.length ? [this.session('exits', i)] : [])]).flat());
  }

  loadedSessions(): number {
    return this.sessions.size;
  }

  /** `onCompute` gets the milliseconds this run held the (single) inference thread, queueing excluded. */
  segment(i: number, x: Float32Array, onCompute?: (ms: number) => void): Promise<Float32Array> {
    const seg = this.manifest.segments[i]!;
    return this.serial(async () => {
      const s = await this.session('segments', i);
      const t = performance.now();
      const out = (await run(s, { [seg.input]: tensor(x, [1, ...seg.inputShape]) }))[seg.output]!;
      onCompute?.(performance.now() - t);
      return out;
    });
  }

  exit(i: number, x: Float32Array, onCompute?: (ms: number) => void): Promise<{ logits: Float32Array; confidence: number }> {
    const e = this.manifest.exits[i]!;
    return this.serial(async () => {
      const s = await this.session('exits', i);
      const t = performance.now();
      const out = await run(s, { [e.inputName]: tensor(x, [1, ...e.inputShape]) });
      onCompute?.(performance.now() - t);
      return { logits: out[e.outputs.logits]!, confidence: out[e.outputs.confidence]![0]! };
    });
  }
}

let instance: EdgeModel | undefined;

/** The isolate's model (manifest parsed once; sessions on first use). */
export function edgeModel(): EdgeModel {
  instance ??= new EdgeModel(BUNDLE);
  return instance;
}

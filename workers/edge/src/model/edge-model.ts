/**
 * The bundle as the edge sees it: the validated manifest plus lazily created onnxruntime-web
 * sessions (one per segment/exit, created once per isolate and shared by concurrent requests).
 * Runs are serialised: ORT's single-threaded wasm runs one inference at a time anyway, and a
 * session must not be entered twice concurrently; `exclusive` runs one request's cascade whole.
 *
 * @example
 * const m = edgeModel();
 * const { result, computeMs } = await m.exclusive((runner) => runEdge(runner, m.manifest, x, opts));
 */
import { type Manifest, parseManifest } from '../../../../core/manifest.js';
import { serialQueue } from '../../../../core/serial.js';
import type { EdgeRunner } from '../cascade/run-edge.js';
import { createSession, run, type Session, tensor } from '../runtime/ort.js';
import { BUNDLE } from './bundle.generated.js';

export class EdgeModel {
  readonly manifest: Manifest;
  private readonly sessions = new Map<string, Promise<Session>>();

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

  /** One inference at a time: ORT's single-threaded wasm, and sessions are not re-entrant. */
  private readonly serial = serialQueue();

  /** Creates the sessions of the first `split` segments and exits (readiness, warm-up). */
  async load(split: number): Promise<void> {
    await Promise.all(
      Array.from({ length: split }, (_, i) => [
        this.session('segments', i),
        ...(i < this.manifest.exits.length ? [this.session('exits', i)] : []),
      ]).flat(),
    );
  }

  /**
   * Creates the sessions of the first `split` segments and exits and runs each once on zeros, so a
   * request pays neither session creation nor the first run's one-off costs.
   */
  async warmUp(split: number): Promise<void> {
    await this.load(split);
    await this.exclusive(async (runner) => {
      let x: Float32Array = new Float32Array(this.manifest.input.shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < split; i++) {
        x = await runner.segment(i, x);
        if (i < this.manifest.exits.length) await runner.exit(i, x);
      }
    });
  }

  loadedSessions(): number {
    return this.sessions.size;
  }

  /**
   * Runs `fn` with exclusive use of the (single) inference thread: a request's whole edge cascade
   * runs to completion instead of interleaving with other requests' segments, so a request waits
   * once, behind whole requests, and `computeMs` (its own inference) is measured without that wait.
   */
  exclusive<T>(fn: (runner: EdgeRunner) => Promise<T>): Promise<{ result: T; computeMs: number }> {
    return this.serial(async () => {
      let computeMs = 0;
      const timed = async <R>(f: () => Promise<R>): Promise<R> => {
        const t = performance.now();
        try {
          return await f();
        } finally {
          computeMs += performance.now() - t;
        }
      };
      const runner: EdgeRunner = {
        segment: (i, x) => timed(() => this.runSegment(i, x)),
        exit: (i, x) => timed(() => this.runExit(i, x)),
      };
      const result = await fn(runner);
      return { result, computeMs };
    });
  }

  private async runSegment(i: number, x: Float32Array): Promise<Float32Array> {
    const seg = this.manifest.segments[i]!;
    return (await run(await this.session('segments', i), { [seg.input]: tensor(x, [1, ...seg.inputShape]) }))[
      seg.output
    ]!;
  }

  private async runExit(i: number, x: Float32Array): Promise<{ logits: Float32Array; confidence: number }> {
    const e = this.manifest.exits[i]!;
    const out = await run(await this.session('exits', i), { [e.inputName]: tensor(x, [1, ...e.inputShape]) });
    return { logits: out[e.outputs.logits]!, confidence: out[e.outputs.confidence]![0]! };
  }
}

let instance: EdgeModel | undefined;

/** The isolate's model (manifest parsed once; sessions on first use). */
export function edgeModel(): EdgeModel {
  instance ??= new EdgeModel(BUNDLE);
  return instance;
}

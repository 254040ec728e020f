/**
 * Per-key aggregation in the isolate, reported in batches: what the controller's explored scores
 * (controller/scores.ts) and shadow results (controller/shadow.ts) share. A key's batch is sent when
 * it holds `after` samples, or `ms` after its first unsent one (a timer kept alive by that request's
 * `waitUntil`); `flush` sends everything now (tests, the scheduled handler). A failed send merges the
 * batch back into whatever arrived meanwhile, for the next one; an evicted isolate loses what it had
 * not sent, which costs the controller samples, never an answer. Never throws on the request path.
 *
 * @example
 * const b = new KeyedBatcher(empty, merge, (key, batch) => stub(key).report(batch), { after: 100, ms: 10_000 });
 * b.add(defer, 'colo:LHR', (batch) => { batch.total++; });
 */
import { log } from '../../../../core/log.js';

export class KeyedBatcher<B extends { samples: number }> {
  private readonly pending = new Map<string, { batch: B; timer: boolean }>();

  constructor(
    private readonly what: string,
    private readonly empty: (key: string) => B,
    private readonly merge: (into: B, from: B) => void,
    private readonly sendBatch: (key: string, batch: B) => Promise<void>,
    readonly o: { after: number; ms: number },
  ) {}

  /**
   * Adds to `key`'s batch (`fits` false starts a new one, sending the old); sends under `defer` when
   * due. Returns the send it started when the batch became full (callers already under `waitUntil`
   * may await it), else undefined.
   */
  add(
    defer: (p: Promise<unknown>) => void,
    key: string,
    update: (b: B) => void,
    fits: (b: B) => boolean = () => true,
  ): Promise<void> | undefined {
    try {
      let p = this.pending.get(key);
      if (p && !fits(p.batch)) {
        defer(this.send(key));
        p = undefined;
      }
      if (!p) {
        p = { batch: this.empty(key), timer: false };
        this.pending.set(key, p);
      }
      update(p.batch);
      if (p.batch.samples >= this.o.after) {
        const sent = this.send(key);
        defer(sent);
        return sent;
      }
      if (!p.timer) {
        p.timer = true;
        defer(new Promise((r) => setTimeout(r, this.o.ms)).then(() => this.send(key)));
      }
    } catch (e) {
      log.warn(`controller: recording ${this.what} failed; the answer is unaffected`, { region: key, error: e });
    }
    return undefined;
  }

  private async send(key: string): Promise<void> {
    const p = this.pending.get(key);
    if (!p || p.batch.samples === 0) return;
    this.pending.delete(key);
    try {
      await this.sendBatch(key, p.batch);
    } catch (e) {
      const now = this.pending.get(key);
      if (now) this.merge(now.batch, p.batch);
      else this.pending.set(key, { batch: p.batch, timer: false });
      log.warn(`controller: ${this.what} report failed; kept for the next one`, { region: key, error: e });
    }
  }

  /** Sends everything held now. */
  async flush(): Promise<void> {
    await Promise.all([...this.pending.keys()].map((k) => this.send(k)));
  }
}

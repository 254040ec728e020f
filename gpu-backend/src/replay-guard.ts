/**
 * Replay keys seen within the replay window: a signed body is served once. The key is the parsed,
 * canonical MAC (`verifyBody`'s `replayKey`), never the header's bytes, so a re-spelt header is no new body. Entries expire after twice
 * the window (a signature is accepted from window before to window after its timestamp), oldest first.
 *
 * @example
 * const guard = new ReplayGuard(30_000);
 * guard.fresh(check.replayKey); // true
 * guard.fresh(check.replayKey); // false: a replay
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();
  constructor(private readonly windowMs: number) {}
  /** True the first time a replay key is presented within the window. */
  fresh(sig: string, now = Date.now()): boolean {
    for (const [k, exp] of this.seen) {
      if (exp > now) break;
      this.seen.delete(k);
    }
    if (this.seen.has(sig)) return false;
    this.seen.set(sig, now + 2 * this.windowMs);
    return true;
  }
}

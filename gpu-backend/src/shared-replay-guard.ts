/**
 * The replay guard several backend hosts share: one Redis or Valkey (REPLAY_STORE_URL), so a signed
 * body is served once whichever host behind the load balancer it reaches. Each replay key (the
 * canonical MAC verifyBody returns, never header bytes) is claimed with `SET key 1 NX PX 2·window`:
 * atomic in the store, so two hosts racing on the same body cannot both win, and the key expires on
 * its own once the signature's timestamp can no longer be accepted (window before to window after).
 *
 * A store that restarts empty has forgotten the keys it held, so replays of bodies signed before the
 * restart would pass until their signatures expire. A sentinel key without expiry marks a store that
 * has been in use: the first host to find it missing (a new or an emptied store) writes into it the
 * time 2·window from now, and every host holds off (503) until that time, whenever it (re)connects.
 * The store needs `maxmemory-policy noeviction` so that neither the sentinel nor live keys are evicted.
 *
 * While the store cannot be reached, `fresh` throws StoreUnavailable and the route answers 503
 * REPLAY_STORE_UNAVAILABLE: refusing is the safe side (accepting could serve a replay), the edge turns
 * it into a flagged edge answer, and /readyz reports the store down. The client reconnects by itself;
 * commands fail fast while it is disconnected (no offline queue) and time out after COMMAND_TIMEOUT_MS.
 *
 * @example
 * const guard = new SharedReplayGuard('redis://10.0.0.5:6379', 30_000);
 * await guard.fresh(check.replayKey); // true the first time on any host, false after
 */
import { createClient } from 'redis';
import { log } from '../../core/log.js';

/** The store could not answer: the request is refused (503), not served unchecked. */
export class StoreUnavailable extends Error {}

const COMMAND_TIMEOUT_MS = 1000;
const KEY_PREFIX = 'edge-cascade:replay:';
/** Present while the store remembers its keys; its value is the time (ms) until which nothing is served. */
const SENTINEL = 'edge-cascade:replay-store-since';

export class SharedReplayGuard {
  private readonly client: ReturnType<typeof createClient>;
  private lastError: string | undefined = 'connecting';
  private loggedOutage = false;
  /** Until when (ms) to refuse: the store was found empty, and replays from before may still be valid. */
  private holdUntil = 0;

  constructor(
    url: string,
    private readonly windowMs: number,
  ) {
    this.client = createClient({
      url,
      disableOfflineQueue: true,
      socket: { connectTimeout: 2000, reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) },
    });
    this.client.on('ready', () => {
      void this.readSentinel().then(
        () => {
          if (this.loggedOutage) log.info('replay store reachable again', { component: 'backend' });
          this.lastError = undefined;
          this.loggedOutage = false;
        },
        (e: Error) => {
          this.lastError = e.message;
        },
      );
    });
    this.client.on('error', (e: Error) => {
      this.lastError = e.message || e.name;
      if (!this.loggedOutage) {
        this.loggedOutage = true;
        log.warn(`replay store unreachable (${this.lastError}); resume requests get 503 until it is back`, {
          component: 'backend',
        });
      }
    });
    // Reconnection is the client's own; a first failure is an outage like any later one.
    this.client.connect().catch(() => undefined);
  }

  /** On every (re)connect: claim the sentinel if the store is empty, then hold until its time. */
  private async readSentinel(): Promise<void> {
    const hold = String(Date.now() + 2 * this.windowMs);
    const claimed = await this.client.set(SENTINEL, hold, { condition: 'NX' });
    const until = claimed === 'OK' ? hold : await this.client.get(SENTINEL);
    this.holdUntil = Number(until ?? 0);
    if (this.holdUntil > Date.now())
      log.warn(
        `replay store ${claimed === 'OK' ? 'is empty (new, or restarted without its data)' : 'was emptied recently'}: refusing resume requests for ${this.holdUntil - Date.now()} ms, until signatures from before can no longer be accepted`,
        { component: 'backend' },
      );
  }

  /** True the first time `replayKey` is presented within the window, on any host sharing the store. */
  async fresh(replayKey: string): Promise<boolean> {
    const wait = this.holdUntil - Date.now();
    if (wait > 0) throw new StoreUnavailable(`replay store: found empty, holding for ${wait} ms more`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const r = await Promise.race([
        this.client.set(`${KEY_PREFIX}${replayKey}`, '1', {
          condition: 'NX',
          expiration: { type: 'PX', value: 2 * this.windowMs },
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${COMMAND_TIMEOUT_MS} ms`)), COMMAND_TIMEOUT_MS);
        }),
      ]);
      return r === 'OK';
    } catch (e) {
      throw new StoreUnavailable(`replay store: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** For /readyz: whether the store is connected, and the last error when not. */
  status(): { ok: boolean; error?: string } {
    if (!this.client.isReady) return { ok: false, error: this.lastError ?? 'not connected' };
    const wait = this.holdUntil - Date.now();
    return wait > 0 ? { ok: false, error: `found empty: holding for ${wait} ms` } : { ok: true };
  }

  async close(): Promise<void> {
    try {
      await this.client.close();
    } catch {
      this.client.destroy();
    }
  }
}

/**
 * The edge worker's bindings and variables.
 *
 * Generated: what wrangler.toml declares (THRESHOLDS, REGIONS, METRICS, BACKEND_URL, BACKEND_TIMEOUT_MS,
 * ALLOW_REGION_HEADER) is typed by `wrangler types` in ../worker-configuration.d.ts as the global
 * `Cloudflare.Env` (`npm run types:worker` after editing wrangler.toml; `npm run typecheck` fails
 * while that file is stale). What each binding is for is said next to it in wrangler.toml.
 *
 * Hand-written, below: only the bindings wrangler.toml does not declare, all optional, added to the
 * same interface. Why they are not in wrangler.toml:
 *   - BACKEND is a service binding only the worker tests bind (vitest.config.ts, to the fake backend);
 *     deployed, the backend is another machine behind BACKEND_URL, not a Worker a [[services]] entry could name.
 *   - CASCADE_SECRET, ADMIN_TOKEN and the BACKEND_ACCESS_CLIENT_* pair are secrets. Wrangler's one way to declare them, `secrets.required`,
 *     makes them required: a deploy fails while one is unset, and `wrangler dev` then ignores the
 *     .dev.vars keys it does not list. Both are optional by design (without them: degraded edge answers,
 *     admin API 503), so they are declared here.
 *   - LOG_LEVEL is optional and unset means info (core/log.ts); a [vars] default would hide that.
 *   - DECISIONS_AE, the Analytics Engine dataset of decisions, is opt-in (metrics/analytics-engine.ts:
 *     when to choose it over or beside D1); wrangler.toml shows the lines that bind it.
 *   - The METRICS_* tuning vars are optional for the same reason as LOG_LEVEL: unset means the default
 *     in metrics/config.ts, which documents each, so the defaults are written once.
 */
interface UndeclaredBindings {
  /** Service binding to the GPU backend (tests only); BACKEND_URL is used when absent. */
  BACKEND?: Fetcher;
  /** Shared HMAC secret with the backend (secret); without it, nothing is forwarded (degraded edge answers). */
  CASCADE_SECRET?: string;
  /** Bearer token of the admin API (secret); admin routes answer 503 while unset. */
  ADMIN_TOKEN?: string;
  /** Cloudflare Access service token the edge presents to a backend behind Access (secrets, both or
   *  neither; cascade/forward.ts backendHeaders, docs/deploy.md). */
  BACKEND_ACCESS_CLIENT_ID?: string;
  BACKEND_ACCESS_CLIENT_SECRET?: string;
  /** Lowest log level written: debug, info (default), warn or error (core/log.ts). */
  LOG_LEVEL?: string;
  /** Analytics Engine dataset: one data point per classify decision when bound (metrics/analytics-engine.ts). */
  DECISIONS_AE?: AnalyticsEngineDataset;
  /** Report the isolate's shadow results to a region's Durable Object when this many are held (default 50; controller/shadow.ts). */
  SHADOW_REPORT_AFTER?: string;
  /** Flush the isolate's decision counts to D1 when this many are held (default 1000; metrics/config.ts). */
  METRICS_FLUSH_DECISIONS?: string;
  /** … or when the oldest held is this many seconds old (default 10, at most 25). */
  METRICS_FLUSH_SECONDS?: string;
  /** Minute rows older than this many hours are rolled into hour rows by the cron (default 48). */
  METRICS_ROLLUP_AFTER_HOURS?: string;
  /** Hour rows older than this many days are deleted by the cron (default 90). */
  METRICS_RETAIN_DAYS?: string;
  /** "false": record no decisions (neither D1 nor Analytics Engine); default true. */
  METRICS_ENABLED?: string;
  /** "<edge>,<forwarded>": Workers CPU-ms per edge answer and per forward, from Cloudflare's Workers metrics, for the cost figures (metrics/cpu.ts; default: bench:edge:cpu's). */
  EDGE_CPU_MS?: string;
}

declare global {
  // Both generated spellings: `Cloudflare.Env` (cloudflare:test's and cloudflare:workers' `env`) and the global `Env`.
  namespace Cloudflare {
    interface Env extends UndeclaredBindings {}
  }
  interface Env extends UndeclaredBindings {}
}

/** The edge's `c.env`: wrangler.toml's bindings (generated) plus the undeclared ones above. */
// biome-ignore lint/suspicious/noRedeclare: a module export, not the global interface it names (declared above)
export type Env = Cloudflare.Env;

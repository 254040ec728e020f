import type { RegionObject } from './thresholds/region-object.js';

/** Bindings and variables of the edge worker (see wrangler.toml). */
export interface Env {
  /** Published region entries (`region:<key>`), the edge's read path; written only by RegionObject. */
  THRESHOLDS: KVNamespace;
  /** One Durable Object per region key: the entry's source of truth, version checks and history. */
  REGIONS: DurableObjectNamespace<RegionObject>;
  /** Optional service binding to the GPU backend; BACKEND_URL is used when absent. */
  BACKEND?: Fetcher;
  BACKEND_URL?: string;
  BACKEND_TIMEOUT_MS?: string;
  /** Shared HMAC secret with the backend (secret). */
  CASCADE_SECRET?: string;
  /** Bearer token of the admin API (secret); admin routes answer 503 while unset. */
  ADMIN_TOKEN?: string;
  /** Local use only: lets a request name its region key in `x-cascade-region`. Never "true" in production. */
  ALLOW_REGION_HEADER?: string;
}

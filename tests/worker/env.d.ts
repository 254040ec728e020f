// `env` from cloudflare:test carries the edge worker's bindings.
import type { Env as EdgeEnv } from '../../workers/edge/src/env.js';

declare global {
  namespace Cloudflare {
    interface Env extends EdgeEnv {}
  }
}

// `env` from cloudflare:test is the global `Cloudflare.Env`: wrangler.toml's bindings, generated in
// workers/edge/worker-configuration.d.ts (in this project's include), plus the bindings the tests set
// that wrangler.toml does not declare (BACKEND, ADMIN_TOKEN, CASCADE_SECRET, …), which
// workers/edge/src/env.ts adds to the same interface. This import keeps that file in the program.
import type {} from '../../workers/edge/src/env.js';

declare global {
  namespace Cloudflare {
    interface Env {
      /** The D1 migrations vitest.config.ts reads (readD1Migrations); applied by apply-migrations.ts. */
      TEST_MIGRATIONS: import('cloudflare:test').D1Migration[];
      /** Real test images of classes 2, 4, 6 only, raw u8 28×28, base64 (tests/helpers/shifted-images.ts). */
      TEST_SHIFTED_IMAGES: { count: number; base64: string };
    }
  }
}

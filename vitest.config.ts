import { fileURLToPath } from 'node:url';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { buildDashboard } from './scripts/build-dashboard.js';
import { FAKE_SECRET, fakeBackend } from './tests/helpers/fake-backend.js';
import { shiftedImages } from './tests/helpers/shifted-images.js';

/** Both Node projects. onnxruntime-node and tfjs-wasm sessions are heavy: isolate files in forks, not threads. */
const nodeProject = {
  environment: 'node',
  pool: 'forks',
  testTimeout: 120_000,
  hookTimeout: 300_000,
} as const;

// The worker's D1 migrations (wrangler.toml migrations_dir), handed to the workerd tests as a binding
// and applied to METRICS by tests/worker/apply-migrations.ts before each file (each gets fresh storage).
// The worker's static assets (wrangler.toml [assets]): the dashboard, built from its sources for every run.
await buildDashboard();

const migrations = await readD1Migrations(fileURLToPath(new URL('./workers/edge/migrations', import.meta.url)));

export default defineConfig({
  test: {
    projects: [
      // Functions called in process: no servers, child processes or whole training runs.
      { test: { name: 'node', include: ['tests/unit/**/*.test.ts'], ...nodeProject } },
      // Servers over real HTTP, child processes (cluster, CLI, npm start, wrangler dev), whole training runs.
      { test: { name: 'e2e', include: ['tests/e2e/**/*.test.ts'], ...nodeProject } },
      {
        // The edge worker in real workerd (Miniflare), with real KV; the backend machine is faked.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                ADMIN_TOKEN: 'test-admin-token',
                CASCADE_SECRET: FAKE_SECRET,
                ALLOW_REGION_HEADER: 'true',
                BACKEND_TIMEOUT_MS: '800',
                // Small enough that a test's few hundred requests take several count-triggered flushes.
                METRICS_FLUSH_DECISIONS: '50',
                // Every shadow result reported from its own request's waitUntil, awaited by shadowsSettled
                // (tests/worker/controller-guard.test.ts): a report left for a test's flush could hang
                // on a request context vitest-pool-workers has already ended.
                SHADOW_REPORT_AFTER: '1',
                TEST_MIGRATIONS: migrations,
                // Real pullover/coat/shirt test images (tests/worker/controller.test.ts).
                TEST_SHIFTED_IMAGES: shiftedImages(),
              },
              serviceBindings: { BACKEND: fakeBackend },
              // Miniflare's local Analytics Engine dataset: writeDataPoint accepts points and keeps
              // nothing to read back, so tests/worker/metrics.test.ts records points with a stand-in.
              analyticsEngineDatasets: { DECISIONS_AE: { dataset: 'edge_cascade_decisions_test' } },
            },
          }),
        ],
        test: {
          name: 'workers',
          include: ['tests/worker/**/*.test.ts'],
          setupFiles: ['tests/worker/apply-migrations.ts'],
          testTimeout: 60_000,
        },
      },
    ],
  },
});

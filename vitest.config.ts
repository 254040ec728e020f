import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { FAKE_SECRET, fakeBackend } from './tests/helpers/fake-backend.js';

/** Both Node projects. onnxruntime-node and tfjs-wasm sessions are heavy: isolate files in forks, not threads. */
const nodeProject = {
  environment: 'node',
  pool: 'forks',
  testTimeout: 120_000,
  hookTimeout: 300_000,
} as const;

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
              },
              serviceBindings: { BACKEND: fakeBackend },
            },
          }),
        ],
        test: {
          name: 'workers',
          include: ['tests/worker/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
    ],
  },
});

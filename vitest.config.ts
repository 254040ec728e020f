import { defineConfig } from 'vitest/config';
import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { fakeBackend, FAKE_SECRET } from './tests/helpers/fake-backend.js';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          include: ['tests/unit/**/*.test.ts'],
          environment: 'node',
          // onnxruntime-node and tfjs-wasm sessions are heavy: isolate files in forks, not threads.
          pool: 'forks',
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
      {
        // The edge worker in real workerd (Miniflare), with real KV; the backend machine is faked.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: { ADMIN_TOKEN: 'test-admin-token', CASCADE_SECRET: FAKE_SECRET, ALLOW_REGION_HEADER: 'true', BACKEND_TIMEOUT_MS: '800' },
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

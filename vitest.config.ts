import { defineConfig } from 'vitest/config';

// Projects: `node` now (training, core, ONNX parity); the workerd project joins with the edge worker.
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
    ],
  },
});

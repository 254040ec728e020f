// Entry file: exports only, plus the isolate's warm-up. The app is wired in app.ts.

import { log } from '../../../core/log.js';
import { defaultSplit } from '../../../core/regions.js';
import { createApp } from './app.js';
import { runController } from './controller/scheduled.js';
import type { Env } from './env.js';
import { rollUpDecisions } from './metrics/scheduled.js';
import { edgeModel } from './model/edge-model.js';

// Start onnxruntime-web, create the edge's sessions (segments and exits up to the default split;
// regions set deeper create the rest on first use) and run them once, while the isolate starts up rather than on its first requests: ORT's runtime init
// alone is ~170 ms of CPU here (`wrangler check startup`, see bench/edge.ts). A failure is logged;
// requests then retry it (failed sessions are not cached).
const model = edgeModel();
model
  .warmUp(defaultSplit(model.manifest))
  .catch((e: unknown) => log.error('edge warm-up failed', { model: model.manifest.name, error: e }));

const app = createApp();
// fetch: the Hono app; scheduled: the cron (wrangler.toml [triggers], every 5 minutes): the controller
// pass (controller/scheduled.ts: re-solves hourly, verification, money caps), then old decision
// minutes are rolled into hours (whose failure fails the run, so it shows).
export default {
  fetch: app.fetch,
  async scheduled(controller, env) {
    await runController(env, controller.scheduledTime).catch((e) => log.error('controller pass failed', { error: e }));
    await rollUpDecisions(controller, env);
  },
} satisfies ExportedHandler<Env>;
// The Durable Object class behind the REGIONS binding (wrangler.toml); workerd finds it among the entry's exports.
export { RegionObject } from './thresholds/region-object.js';

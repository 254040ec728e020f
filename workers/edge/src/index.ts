// Entry file: exports only, plus the isolate's warm-up. The app is wired in app.ts.
import { createApp } from './app.js';
import { edgeModel } from './model/edge-model.js';

// Start onnxruntime-web and create the sessions every request needs (segment 0, exit 0) while the
// isolate starts up, not on its first request: ORT's runtime init is ~300 ms of CPU (measured with
// `wrangler check startup`, see bench/edge.ts). A failure is logged; the first request retries it
// (failed sessions are not cached).
edgeModel().load(1).catch((e: unknown) => console.error(JSON.stringify({ level: 'error', event: 'edge warm-up failed', error: String(e) })));

export default createApp();

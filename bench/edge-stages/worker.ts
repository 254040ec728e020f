/**
 * The benchmark's in-isolate probe (bench/edge-cpu.ts): the edge worker's own app and model, plus
 * `POST /__stage/<name>?n=N`, which runs one piece of a classify request N times inside this
 * isolate, so the CPU the workerd process spends on it (read from /proc by the benchmark) is the
 * worker's own, with no HTTP parsing, wrangler dev layers or load generator in it. Every other path
 * is the real app (the benchmark's region PUTs go through it). Never deployed: `wrangler dev
 * bench/edge-stages/worker.ts` only.
 */
import { imageShape } from '../../core/manifest.js';
import { normaliseImages } from '../../core/normalise.js';
import { defaultSplit } from '../../core/regions.js';
import { encodeFeatures, resumeMetadata } from '../../core/wire.js';
import { createApp } from '../../workers/edge/src/app.js';
import { backendTarget, forward } from '../../workers/edge/src/cascade/forward.js';
import { runEdge } from '../../workers/edge/src/cascade/run-edge.js';
import type { Env } from '../../workers/edge/src/env.js';
import { edgeModel } from '../../workers/edge/src/model/edge-model.js';

export { RegionObject } from '../../workers/edge/src/thresholds/region-object.js';

const app = createApp();
const model = edgeModel();
const m = model.manifest;
const shape = imageShape(m);
const split = defaultSplit(m);
const imageBytes = shape.channels * shape.height * shape.width;

/** The stages: each gets the request's images (raw u8, `imageBytes` each) and runs once per call. */
type Stage = (images: Uint8Array[], i: number, env: Env, ctx: ExecutionContext, url: URL) => Promise<unknown>;
const norm = (u8: Uint8Array) =>
  normaliseImages(u8, 1, shape, m.input.normalisation.mean, m.input.normalisation.std, m.input.layout);
const stages: Record<string, Stage> = {
  /** A whole classify request through the app (routing, body, region, cascade, answer, metrics). */
  classify: async (images, i, env, ctx, url) => {
    const r = await app.fetch(
      new Request('http://edge.local/v1/classify', {
        method: 'POST',
        body: images[i % images.length]! as unknown as BodyInit,
        headers: { 'content-type': 'application/octet-stream', 'x-cascade-region': url.searchParams.get('region')! },
      }),
      env,
      ctx,
    );
    await r.arrayBuffer();
  },
  /** The smallest app answer: GET /healthz (routing, middleware, a JSON body). */
  healthz: async (_images, _i, env, ctx) => {
    await (await app.fetch(new Request('http://edge.local/healthz'), env, ctx)).arrayBuffer();
  },
  normalise: async (images, i) => norm(images[i % images.length]!),
  /** The edge cascade alone (normalise, segments, exits, the rule) at the bundle's default thresholds and split. */
  cascade: async (images, i) => {
    const x = norm(images[i % images.length]!);
    return model.exclusive((runner) =>
      runEdge(runner, m, x, { policy: m.policies.default, thresholds: m.exits.map((e) => e.defaultThreshold), split }),
    );
  },
  /** The forward body: the split's features as f16 safetensors, with the resume metadata (unsigned: signing is forward()'s). */
  encode: async () => encodeBody(),
  /** The forward itself: encode, sign, POST to the backend (BACKEND_URL), read and check its answer. */
  forward: async (_images, i, env) => {
    const target = backendTarget(env, 5000);
    if (!target) throw new Error('the probe needs BACKEND_URL and CASCADE_SECRET');
    const id = `probe-${i}-${crypto.randomUUID()}`;
    const r = await forward(target, encodeBody(id), id);
    if (!r.ok) throw new Error(`forward failed: ${r.reason} ${r.detail}`);
  },
};
/** A deterministic, non-trivial tensor of `shape` (no batch dimension). */
const filled = (shape: number[]) => new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, k) => Math.sin(k) * 2);
/** The split's output, made once: the encode stage times the encoding only. */
const features = filled(m.segments[split - 1]!.outputShape);
/** A forward body; `requestId` makes each distinct (the backend refuses a replayed signature). */
const encodeBody = (requestId = '00000000-0000-0000-0000-000000000000') =>
  encodeFeatures(
    features,
    [1, ...m.segments[split - 1]!.outputShape],
    'f16',
    resumeMetadata({
      model: m.name,
      modelHash: m.backbone.sha256,
      segment: split,
      thresholdVersion: 'colo:CPU@v1',
      requestId,
      region: 'colo:CPU',
      policy: m.policies.default,
      thresholds: m.exits.slice(split).map((e) => e.defaultThreshold),
      scores: m.exits.slice(0, split).map(() => 0.5),
    }),
  );

// One onnxruntime-web run each: the edge's segments and exits up to the default split.
for (let i = 0; i < split; i++) {
  const seg = m.segments[i]!;
  const x = filled(seg.inputShape);
  stages[`segment${i}`] = async () => model.exclusive((r) => r.segment(i, x));
  if (i < m.exits.length) {
    const f = filled(seg.outputShape);
    stages[`exit${i}`] = async () => model.exclusive((r) => r.exit(i, f));
  }
}

export default {
  async fetch(req: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(req.url);
    if (!url.pathname.startsWith('/__stage/')) return app.fetch(req, env, ctx);
    const stage = stages[url.pathname.slice('/__stage/'.length)];
    if (!stage)
      return Response.json({ error: `no stage ${url.pathname}`, stages: Object.keys(stages) }, { status: 404 });
    if (req.method !== 'POST') return Response.json({ error: 'POST the images' }, { status: 405 });
    const n = Number(url.searchParams.get('n') ?? 100);
    const body = new Uint8Array(await req.arrayBuffer());
    const images = Array.from({ length: Math.max(1, Math.floor(body.length / imageBytes)) }, (_, k) =>
      body.subarray(k * imageBytes, (k + 1) * imageBytes),
    );
    for (let i = 0; i < n; i++) await stage(images, i, env, ctx, url);
    return Response.json({ stage: url.pathname.slice('/__stage/'.length), n });
  },
} satisfies ExportedHandler<Env>;

/**
 * The model bundle's manifest (`models/<name>/manifest.json`): the single source of truth that
 * training writes and both runtimes read. Validated with zod on every load.
 *
 * Numbering: segment i reads `segments[i].input` and writes `segments[i].output`; exit i is
 * attached to the output of segment i (`exits[i].segment === i`), so a cascade runs segment 0,
 * exit 0, segment 1, exit 1, … and the last segment's output is the final head's logits.
 *
 * @example
 * const m = parseManifest(JSON.parse(text)); // throws ManifestError naming the bad field
 */
import { z } from 'zod';
import { type CascadeRule, POLICIES, type Policy, type SchedulerExit } from './cascade-rule.js';

const dims = z.array(z.number().int().positive());
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a lowercase hex sha256');
const fraction = z.number().min(0).max(1);

export const accuracySchema = z.object({ val: fraction, test: fraction });

export const frontierPointSchema = z.object({
  thresholds: z.array(z.number()),
  accuracy: fraction,
  cost: z.number().nonnegative(),
  exitRates: z.array(fraction),
  /** Share of validation images answered as the backbone answers them. */
  fidelity: fraction.optional(),
  /** p-value of "drop ≥ the default's maxDrop" (policies.defaultRule), and whether fixed-sequence testing certified it. */
  pValue: z.number().min(0).max(1).optional(),
  certified: z.boolean().optional(),
  test: z
    .object({
      accuracy: fraction,
      cost: z.number().nonnegative(),
      exitRates: z.array(fraction),
      fidelity: fraction.optional(),
    })
    .optional(),
});

/** One calibrated operating point of a policy's frontier. */
export type FrontierPoint = z.infer<typeof frontierPointSchema>;

const aurocSchema = z.object({ confidence: z.number(), maxSoftmax: z.number(), eenet: z.number().optional() });

export const manifestSchema = z
  .object({
    schemaVersion: z.literal(1),
    name: z.string().min(1),
    createdAt: z.string(),
    input: z.object({
      name: z.string(),
      /** Per-sample shape in `layout`, e.g. [1, 28, 28] for NCHW, [28, 28, 1] for NHWC. */
      shape: dims,
      layout: z.enum(['NCHW', 'NHWC']),
      dtype: z.literal('float32'),
      /** x = (u8 / 255 − mean[c]) / std[c] */
      normalisation: z.object({ mean: z.array(z.number()), std: z.array(z.number().positive()) }),
    }),
    classes: z.array(z.string()).min(2),
    backbone: z.object({
      file: z.string(),
      sha256,
      macs: z.number().int().nonnegative(),
      params: z.number().int().nonnegative(),
      output: z.string(),
      accuracy: accuracySchema,
    }),
    segments: z
      .array(
        z.object({
          index: z.number().int().nonnegative(),
          file: z.string(),
          sha256,
          input: z.string(),
          output: z.string(),
          inputShape: dims,
          outputShape: dims,
          macs: z.number().int().nonnegative(),
          params: z.number().int().nonnegative(),
          /** Bytes of this segment's output per sample as f32 (what a forward after it would send). */
          outputBytes: z.number().int().positive(),
        }),
      )
      .min(2),
    exits: z
      .array(
        z.object({
          index: z.number().int().nonnegative(),
          segment: z.number().int().nonnegative(),
          file: z.string(),
          sha256,
          /** The backbone tensor (cut) the exit reads: the output of segment `segment`. */
          input: z.string(),
          /** The exit graph's own input name. */
          inputName: z.string(),
          inputShape: dims,
          outputs: z.object({ logits: z.string(), confidence: z.string() }),
          macs: z.number().int().nonnegative(),
          params: z.number().int().nonnegative(),
          /** MACs spent when a sample leaves here (segments 0..i + branches 0..i) / backbone MACs. */
          costFraction: z.number().nonnegative(),
          /** Backbone MACs up to the cut / backbone MACs. */
          backboneFraction: fraction,
          accuracy: accuracySchema,
          defaultThreshold: z.number(),
          /** Branch width and the average pooling applied to the cut before it. */
          width: z.number().int().positive().optional(),
          pool: z.number().int().positive().optional(),
          /** How well each score ranks "this exit is right" (rank AUROC) on each split. */
          auroc: z.object({ val: aurocSchema, test: aurocSchema }).optional(),
          /**
           * EENet scheduler of this exit (policy `eenet`): score = σ(weights · [maxProb, certainty,
           * confidence, score_0 … score_{i−1}] + bias), also as ONNX in `file` (inputs `logits` [N, K],
           * `confidence` [N, 1], `previous` [N, i] from exit 1 on; output `score` [N, 1]).
           */
          scheduler: z
            .object({
              file: z.string(),
              sha256,
              inputs: z.array(z.string()),
              weights: z.array(z.number()),
              bias: z.number(),
            })
            .optional(),
        }),
      )
      .min(1),
    final: z.object({ costFraction: z.number().nonnegative(), accuracy: accuracySchema }),
    policies: z.object({
      default: z.enum(POLICIES),
      /** How the default (and each point's `certified`) was chosen. */
      defaultRule: z.object({ maxDrop: z.number(), delta: z.number(), method: z.string() }).optional(),
      frontier: z.record(z.string(), z.array(frontierPointSchema)),
      oracle: z.object({
        val: z.object({ accuracy: fraction, cost: z.number(), exitRates: z.array(fraction) }),
        test: z.object({ accuracy: fraction, cost: z.number(), exitRates: z.array(fraction) }),
      }),
      /** Cascade at the default thresholds on the test split. */
      atDefault: z.object({
        accuracy: fraction,
        cost: z.number(),
        exitRates: z.array(fraction),
        fidelity: fraction.optional(),
      }),
    }),
    provenance: z.object({
      dataset: z.string(),
      split: z.string(),
      counts: z.object({ train: z.number().int(), val: z.number().int(), test: z.number().int() }),
      seed: z.number().int(),
      config: z.record(z.string(), z.unknown()),
      backboneSha256: sha256,
      backboneTraining: z.record(z.string(), z.unknown()).optional(),
      exitTraining: z.object({ seconds: z.number(), samplesPerSec: z.number(), tfBackend: z.string() }).passthrough(),
      /** Which images trained the exits, calibrated the operating points ("val" figures) and measured them ("test" figures). */
      calibration: z
        .object({
          mode: z.enum(['val', 'test-half']),
          reason: z.string(),
          exitTraining: z.object({ split: z.string(), images: z.number().int() }),
          calibrate: z.object({ split: z.string(), images: z.number().int(), backboneAccuracy: fraction }),
          evaluate: z.object({ split: z.string(), images: z.number().int(), backboneAccuracy: fraction }),
          /** Set when the backbone is clearly better on the calibration images than on the evaluation ones. */
          warning: z.string().optional(),
        })
        .optional(),
      /** Where attach kept the cached features (f16 rounds them, as a forward with encoding f16 does). */
      featureCache: z.object({ mode: z.enum(['f32', 'f16', 'disk']), bytes: z.number().nonnegative() }).optional(),
      /** Every candidate exit position attach trained and measured, and whether it was kept. */
      candidates: z
        .array(
          z.object({
            tensor: z.string(),
            backboneFraction: fraction,
            width: z.number().int(),
            branchFraction: z.number(),
            kept: z.boolean(),
            accuracy: accuracySchema,
            auroc: z.object({ val: aurocSchema, test: aurocSchema }),
          }),
        )
        .optional(),
      tools: z.record(z.string(), z.string()),
    }),
  })
  .superRefine((m, ctx) => {
    if (m.exits.length !== m.segments.length - 1)
      ctx.addIssue({
        code: 'custom',
        path: ['exits'],
        message: `expected ${m.segments.length - 1} exits for ${m.segments.length} segments, found ${m.exits.length}`,
      });
    m.segments.forEach((s, i) => {
      if (s.index !== i)
        ctx.addIssue({
          code: 'custom',
          path: ['segments', i, 'index'],
          message: `segment at position ${i} has index ${s.index}`,
        });
      if (i > 0 && s.input !== m.segments[i - 1]!.output)
        ctx.addIssue({
          code: 'custom',
          path: ['segments', i, 'input'],
          message: `segment ${i} reads "${s.input}" but segment ${i - 1} writes "${m.segments[i - 1]!.output}"`,
        });
    });
    m.exits.forEach((e, i) => {
      if (e.index !== i || e.segment !== i)
        ctx.addIssue({
          code: 'custom',
          path: ['exits', i],
          message: `exit at position ${i} must have index and segment ${i}`,
        });
      const seg = m.segments[i];
      if (seg && e.input !== seg.output)
        ctx.addIssue({
          code: 'custom',
          path: ['exits', i, 'input'],
          message: `exit ${i} reads "${e.input}" but segment ${i} writes "${seg.output}"`,
        });
    });
    const usesEenet = m.policies.default === 'eenet' || (m.policies.frontier.eenet?.length ?? 0) > 0;
    if (usesEenet)
      m.exits.forEach((e, i) => {
        if (!e.scheduler)
          ctx.addIssue({
            code: 'custom',
            path: ['exits', i, 'scheduler'],
            message: `policy eenet is offered but exit ${i} has no scheduler`,
          });
        else if (e.scheduler.weights.length !== 3 + i)
          ctx.addIssue({
            code: 'custom',
            path: ['exits', i, 'scheduler', 'weights'],
            message: `exit ${i}'s scheduler needs ${3 + i} weights, has ${e.scheduler.weights.length}`,
          });
      });
    const { channels } = imageShape(m);
    if (m.input.normalisation.mean.length !== channels || m.input.normalisation.std.length !== channels) {
      ctx.addIssue({
        code: 'custom',
        path: ['input', 'normalisation'],
        message: `mean/std need one entry per channel (${channels})`,
      });
    }
  });

export type Manifest = z.infer<typeof manifestSchema>;

export class ManifestError extends Error {
  constructor(
    message: string,
    readonly issues: unknown[] = [],
  ) {
    super(message);
    this.name = 'ManifestError';
  }
}

/** Parses and validates a manifest; the error message lists every bad field by path. */
export function parseManifest(json: unknown): Manifest {
  const r = manifestSchema.safeParse(json);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ManifestError(`invalid manifest: ${lines.join('; ')}`, r.error.issues);
  }
  return r.data;
}

/** The image a bundle classifies (channels, height, width), whatever layout its backbone reads. */
export function imageShape(m: { input: { shape: number[]; layout: 'NCHW' | 'NHWC' } }): {
  channels: number;
  height: number;
  width: number;
} {
  const [a, b, c] = m.input.shape as [number, number, number];
  return m.input.layout === 'NHWC' ? { channels: c, height: a, width: b } : { channels: a, height: b, width: c };
}

/** Each manifest's schedulers, built once: `ruleOf` runs per request on the edge and the backend. */
const schedulers = new WeakMap<Manifest, SchedulerExit[]>();

/** The cascade rule a bundle serves with a policy and thresholds (the scheduler comes from the manifest). */
export function ruleOf(m: Manifest, policy: Policy, thresholds: ArrayLike<number>): CascadeRule {
  if (policy !== 'eenet') return { policy, thresholds };
  let scheduler = schedulers.get(m);
  if (!scheduler) {
    scheduler = m.exits.map((e, i) => {
      if (!e.scheduler) throw new ManifestError(`policy eenet: exit ${i} has no scheduler in this bundle`);
      return { weights: e.scheduler.weights, bias: e.scheduler.bias };
    });
    schedulers.set(m, scheduler);
  }
  return { policy, thresholds, scheduler };
}

/**
 * The edge → backend contract, whole, in one place: `POST /v1/resume` with a signed safetensors body
 * (feature-codec.ts: the features, and the string metadata below in `__metadata__`; signature.ts:
 * the `x-cascade-signature` header) and the request id in `x-request-id`; the answer is JSON of
 * `resumeAnswerSchema`. The edge builds the metadata with `resumeMetadata` (typed: a field added to
 * the schema does not compile at the edge until it is supplied) and parses the answer with
 * `resumeAnswerSchema`; the backend (and the tests' fake backend) parses the metadata with
 * `parseResumeMetadata` and types its answer `satisfies ResumeAnswer`. Pure: runs in workerd and Node.
 *
 * @example
 * // edge
 * const body = encodeFeatures(x, shape, 'f16', resumeMetadata({ model, modelHash, segment: 2, policy, thresholds, scores, thresholdVersion, requestId, region }));
 * await fetch(new URL(RESUME_PATH, url), { method: 'POST', body, headers: { [SIGNATURE_HEADER]: await signBody(secret, body), [REQUEST_ID_HEADER]: requestId } });
 * // backend
 * const md = parseResumeMetadata(decodeFeatures(body).metadata); // { ok: true, data: { segment: 2, … } } | { ok: false, detail }
 */
import { z } from 'zod';
import { POLICIES } from './cascade-rule.js';

export { decodeFeatures, encodeFeatures } from './feature-codec.js';
export type { FeatureEncoding } from './regions.js';
export { SafetensorsError } from './safetensors.js';
export {
  type Mac,
  parseSignature,
  SIGNATURE_HEADER,
  type SignatureCheck,
  signBody,
  verifyBody,
  webCryptoMac,
} from './signature.js';

/** The backend's resume route. */
export const RESUME_PATH = '/v1/resume';
/** The request id the edge assigned, sent along so both services' logs and problems name the same request. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** Longest metadata string the backend takes: ids and versions are tens of characters; thresholds a few numbers per exit. */
export const MAX_META_CHARS = 1024;
const metaString = z.string().max(MAX_META_CHARS);

/** A metadata string holding a JSON array of `item`. */
function jsonArray<T>(item: z.ZodType<T, unknown>, message: string) {
  return metaString.transform((s, ctx) => {
    try {
      return z.array(item).max(MAX_META_CHARS).parse(JSON.parse(s));
    } catch {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
  });
}

/**
 * The resume request's metadata (`__metadata__` strings) as the backend reads it. Keys it does not
 * know (the codec's own `encoding`, a newer edge's additions) pass through unread.
 *
 * @example
 * resumeMetadataSchema.parse({ modelHash: 'ab…', segment: '2', policy: 'confidence', thresholds: '[0.9]' }).segment; // 2
 */
export const resumeMetadataSchema = z.object({
  /** The bundle's name: for logs (modelHash is what must match). */
  model: metaString.optional(),
  modelHash: metaString,
  // A plain decimal index, parsed once: "0x1", "1e0" or " 1" are not segment numbers.
  segment: z
    .string()
    .regex(/^(0|[1-9]\d{0,5})$/, 'must be a decimal segment index')
    .transform(Number),
  policy: z.enum(POLICIES),
  /** Thresholds of the exits from `segment` on (the deeper ones the backend runs). */
  thresholds: jsonArray(z.number(), 'must be a JSON array of finite numbers'),
  /** Scores of the exits the edge ran (policy eenet reads them at the deeper exits). */
  // JSON has no NaN: an edge exit whose score was NaN sends null, read back as NaN (it never passes a threshold).
  scores: jsonArray(
    z
      .number()
      .nullable()
      .transform((v) => v ?? NaN),
    'must be a JSON array of numbers (null for a NaN score)',
  ).optional(),
  thresholdVersion: metaString.optional(),
  requestId: metaString.optional(),
  region: metaString.optional(),
});
/** The metadata as parsed (numbers and arrays, not strings). */
export type ResumeMetadata = z.output<typeof resumeMetadataSchema>;
/** Every metadata field, typed: what the edge must supply, optional or not (it always knows them all). */
export type ResumeFields = { [K in keyof ResumeMetadata]-?: Exclude<ResumeMetadata[K], undefined> };
/** The metadata keys of the contract. */
export const RESUME_METADATA_KEYS = Object.keys(resumeMetadataSchema.shape) as (keyof ResumeFields)[];

/** How each typed field is written as a string; the mapped type makes a schema field without a writer a type error. */
const WRITERS: { [K in keyof ResumeFields]: (v: ResumeFields[K]) => string } = {
  model: (v) => v,
  modelHash: (v) => v,
  segment: (v) => String(v),
  policy: (v) => v,
  // JSON.stringify writes NaN (a score of an exit that did not run) as null, which the schema reads back as NaN.
  thresholds: (v) => JSON.stringify(v),
  scores: (v) => JSON.stringify(v),
  thresholdVersion: (v) => v,
  requestId: (v) => v,
  region: (v) => v,
};

/**
 * The string metadata of a resume request, from typed fields: `resumeMetadataSchema` parses it back
 * to the same values.
 *
 * @example
 * resumeMetadata({ …, segment: 2, thresholds: [0.9], scores: [0.4, NaN] }); // { …, segment: '2', thresholds: '[0.9]', scores: '[0.4,null]' }
 */
export function resumeMetadata(f: ResumeFields): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of RESUME_METADATA_KEYS) out[k] = (WRITERS[k] as (v: unknown) => string)(f[k]);
  return out;
}

/**
 * The metadata of a decoded body, checked: the parsed fields, or one detail line naming every bad
 * field (`path: message; …`), as the backend's 400 BAD_METADATA says it.
 *
 * @example
 * const md = parseResumeMetadata(f.metadata);
 * if (!md.ok) return problem(c, 400, 'BAD_METADATA', md.detail);
 */
export function parseResumeMetadata(
  raw: Record<string, string>,
): { ok: true; data: ResumeMetadata } | { ok: false; detail: string } {
  const r = resumeMetadataSchema.safeParse(raw);
  return r.success
    ? { ok: true, data: r.data }
    : { ok: false, detail: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
}

/**
 * The backend's 200 answer to a resume request; the edge parses what it gets with this.
 *
 * @example
 * const a = resumeAnswerSchema.parse(await res.json()); // { classIndex: 4, label: 'Coat', …, batchSize: 12, executor: 'cuda' }
 */
export const resumeAnswerSchema = z.object({
  classIndex: z.number().int().nonnegative(),
  label: z.string(),
  /** The answering exit's score (finite: the backend refuses a non-finite one with 422). */
  confidence: z.number(),
  /** The exit that answered; the bundle's exit count for the final head. */
  exit: z.number().int().nonnegative(),
  /** Milliseconds: queueMs waiting for a batch, computeMs that batch's run up to this answer. */
  timings: z.object({ queueMs: z.number(), computeMs: z.number() }),
  /** Samples in the executor call that ran the request's first segment. */
  batchSize: z.number().int().positive(),
  /** The executor that answered (webgpu, cuda, cpu). */
  executor: z.string(),
});
export type ResumeAnswer = z.infer<typeof resumeAnswerSchema>;

/**
 * Backend configuration from the environment, validated: a bad value stops start-up with a message
 * naming the variable, the value and what is allowed (a ConfigError, core/config-error.ts: the one
 * the training and script command lines throw too; re-exported here for server.ts, start-backend.ts
 * and cluster-processes.ts).
 *
 * @example
 * const cfg = loadConfig(process.env); // throws ConfigError('MAX_BATCH="0": must be ≥ 1')
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { ConfigError, issueText } from '../../core/config-error.js';

export { ConfigError };

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const EXECUTORS = ['webgpu', 'cuda', 'cpu'] as const;

export const configSchema = z.object({
  PORT: int(0, 65535).default(8788),
  HOST: z.string().default('127.0.0.1'),
  MODEL_DIR: z.string().default('models/fashion-resnet'),
  /** Preference order; the first that loads wins and the fallbacks are logged. */
  EXECUTORS: z
    .string()
    .default('webgpu,cuda,cpu')
    .transform((s, ctx) => {
      const list = s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      const bad = list.filter((x) => !(EXECUTORS as readonly string[]).includes(x));
      if (bad.length || !list.length)
        ctx.addIssue({
          code: 'custom',
          message: `unknown executor(s) ${bad.join(', ') || '(none)'}; allowed: ${EXECUTORS.join(', ')}`,
        });
      return list as (typeof EXECUTORS)[number][];
    }),
  /** Largest batch the batcher forms per segment. */
  MAX_BATCH: int(1, 4096).default(64),
  /** How long a request that finds the executor idle may wait for company (ms; 0 = run at once).
   *  While the executor is busy, requests wait for it anyway and run together when it frees up. */
  MAX_WAIT_MS: z.coerce.number().min(0).max(1000).default(0),
  /** Requests waiting per segment before new ones get 503 + retry-after (back-pressure). */
  MAX_QUEUE: int(1, 1_000_000).default(1024),
  CASCADE_SECRET: z.string().min(16, 'must be at least 16 characters'),
  /** Accepted clock skew / replay window of signatures (ms). */
  SIGNATURE_WINDOW_MS: int(1000, 600_000).default(30_000),
  /** A Redis or Valkey every backend host shares for the replay guard (redis://, rediss:// for TLS);
   *  unset: each host (its cluster's primary) keeps its own. shared-replay-guard.ts. */
  REPLAY_STORE_URL: z.url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL' }).optional(),
  /** Largest request body: the biggest f32 feature map of the bundle is ~50 KB. */
  BODY_LIMIT_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  /** Longest a request may take end to end before 504. */
  REQUEST_TIMEOUT_MS: int(10, 600_000).default(5000),
  /** Intra-op threads of the CPU executor (0 = onnxruntime's default). */
  CPU_THREADS: int(0, 256).default(0),
  /** Whether onnxruntime's CPU threads busy-wait for work after each run (its default). Off here: the
   *  spinning threads take the cores the server's JS thread needs (measured: 64 clients on 2 cores,
   *  ~3,300 req/s spinning, ~5,300 without; bench/results/backend.md). */
  CPU_SPINNING: z
    .enum(['0', '1'])
    .default('0')
    .transform((v) => v === '1'),
  /** The onnxruntime-web build of the webgpu executor: `native` (its ./webgpu export) or `jsep`
   *  (the JSEP bundle, ~19 % faster on the H100 in docs/gpu-webgpu.md's probe; not yet measured here). */
  WEBGPU_BUILD: z.enum(['native', 'jsep']).default('native'),
});

export type Config = z.infer<typeof configSchema>;

/** A failed parse of the environment as one line: `NAME="value": what is allowed`, per variable. */
function envError(error: z.ZodError, env: Record<string, string | undefined>): ConfigError {
  return new ConfigError(
    error.issues
      .map((i) => {
        const name = String(i.path[0]);
        const value = env[name];
        return value === undefined
          ? `${name} is not set, and it is required`
          : `${name}=${JSON.stringify(value)}: ${issueText(i)}`;
      })
      .join('; '),
  );
}

export function loadConfig(env: Record<string, string | undefined>): Config {
  const r = configSchema.safeParse(env);
  if (!r.success) throw envError(r.error, env);
  return r.data;
}

// The cluster's settings (cluster-processes.ts), read before any server starts.

const clusterSchema = z.object({
  /** Up to 256 processes: beyond the core count it only adds contention. */
  BACKEND_PROCESSES: int(1, 256).optional(),
  /** One executor in the primary for every server process. */
  BACKEND_SHARED_EXECUTOR: z
    .enum(['0', '1', 'true', 'false'])
    .default('0')
    .transform((v) => v === '1' || v === 'true'),
});

function clusterConfig(env: Record<string, string | undefined>): z.output<typeof clusterSchema> {
  const picked = { BACKEND_PROCESSES: env.BACKEND_PROCESSES, BACKEND_SHARED_EXECUTOR: env.BACKEND_SHARED_EXECUTOR };
  const r = clusterSchema.safeParse(picked);
  if (!r.success) throw envError(r.error, picked);
  return r.data;
}

/** BACKEND_PROCESSES, by default half the cores. */
export function backendProcesses(env: Record<string, string | undefined>): number {
  return clusterConfig(env).BACKEND_PROCESSES ?? Math.max(1, Math.floor(availableParallelism() / 2));
}

export function sharedExecutor(env: Record<string, string | undefined>): boolean {
  return clusterConfig(env).BACKEND_SHARED_EXECUTOR;
}

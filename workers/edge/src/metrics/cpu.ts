/**
 * The Workers CPU-ms per request the cost model prices (core/cost-model.ts `edgeCpuMsPerRequest`),
 * for the cost dashboard and the money cap. Deployed, the edge's own timers do not advance during
 * compute, so the decision counters hold no CPU time: the figure comes from outside.
 *
 *   EDGE_CPU_MS = "<edge>,<forwarded>"   CPU-ms per edge answer and per forward, read off Cloudflare's
 *                                        Workers metrics (CPU time per request) by the operator
 *   unset                                bench:edge:cpu's in-isolate medians for the shipped bundle
 *                                        (bench/results/edge-cpu.json), when the served bundle is
 *                                        the one it measured; otherwise none (the totals' own figure)
 *
 * A value that does not parse is logged once and ignored, like the metrics settings (config.ts).
 *
 * @example
 * edgeCpuPerRequest({ EDGE_CPU_MS: '0.8,2.1' }, 'fashion-resnet'); // { edge: 0.8, forwarded: 2.1, source: 'EDGE_CPU_MS …' }
 */
import measured from '../../../../bench/results/edge-cpu.json' with { type: 'json' };
import type { EdgeCpuPerRequest } from '../../../../core/cost-model.js';
import { log } from '../../../../core/log.js';

let warned: string | undefined;

export function edgeCpuPerRequest(env: { EDGE_CPU_MS?: string }, model: string): EdgeCpuPerRequest | undefined {
  const v = env.EDGE_CPU_MS?.trim();
  if (v) {
    const parts = v.split(',').map((p) => Number(p.trim()));
    if (parts.length === 2 && parts.every((x) => Number.isFinite(x) && x >= 0))
      return { edge: parts[0]!, forwarded: parts[1]!, source: 'EDGE_CPU_MS, set by the operator' };
    if (warned !== v) {
      warned = v;
      log.warn('EDGE_CPU_MS ignored: expected "<edge CPU-ms>,<forwarded CPU-ms>", two numbers ≥ 0', { value: v });
    }
  }
  const s = measured.summary.isolate;
  if (measured.meta.model !== model || !s['classify-edge'] || !s['classify-backend']) return undefined;
  return {
    edge: round(s['classify-edge'].main.median),
    forwarded: round(s['classify-backend'].main.median),
    source: `bench:edge:cpu ${measured.meta.date.slice(0, 10)}, the worker's own CPU measured inside the isolate (workerd's main thread) in local workerd on a ${measured.meta.machine}, median of ${measured.meta.runs} runs; set EDGE_CPU_MS from Cloudflare's Workers metrics for the deployed figure`,
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

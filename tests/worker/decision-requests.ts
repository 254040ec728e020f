/**
 * Requests the decision-metrics tests send: a JSON classify for the served bundle's input size in a
 * chosen region (`x-cascade-region`, allowed in the test env), and a region entry published straight
 * to KV (the edge's read path) with explicit thresholds at the tests' split.
 *
 * @example
 * await putRegion('colo:MEA', every(0)); // every edge exit confident: answered at the edge
 * await SELF.fetch(classifyRequest('colo:MEA', { requestId: 'down-1' }));
 */
import { env } from 'cloudflare:test';
import { m, SPLIT } from './bundle.js';

const PIXELS = m.input.shape.reduce((a, b) => a * b, 1);

/** POST /v1/classify with every pixel `value`, in `region`, optionally with a request id (the fake backend reads its prefix). */
export function classifyRequest(region: string, opts: { value?: number; requestId?: string } = {}): Request {
  return new Request('https://edge.test/v1/classify', {
    method: 'POST',
    body: JSON.stringify({ pixels: new Array(PIXELS).fill(opts.value ?? 0) }),
    headers: {
      'content-type': 'application/json',
      'x-cascade-region': region,
      ...(opts.requestId ? { 'x-request-id': opts.requestId } : {}),
    },
  });
}

/** Publishes `key`'s entry (version 1, max-softmax, these thresholds, the tests' split, f16) to KV. */
export function putRegion(key: string, thresholds: number[]): Promise<void> {
  return env.THRESHOLDS.put(
    `region:${key}`,
    JSON.stringify({
      version: 1,
      updatedAt: 'now',
      settings: { policy: 'max-softmax', thresholds, split: SPLIT, encoding: 'f16' },
    }),
  );
}

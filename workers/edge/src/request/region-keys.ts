/** The region keys of a request: from `request.cf`, or (local use only) the `x-cascade-region` header. */
import type { Context } from 'hono';
import { type CfLocation, regionKeySchema, regionKeys } from '../../../../core/regions.js';
import type { Env } from '../env.js';
import { ProblemError } from '../errors.js';

export const REGION_HEADER = 'x-cascade-region';

export function requestRegionKeys(c: Context<{ Bindings: Env }>): string[] {
  const override = c.req.header(REGION_HEADER);
  if (override !== undefined && c.env.ALLOW_REGION_HEADER === 'true') {
    const key = regionKeySchema.safeParse(override);
    if (!key.success) throw new ProblemError(400, 'BAD_REGION', `${REGION_HEADER}: ${key.error.issues[0]!.message}`);
    return [...new Set([key.data, 'default'])];
  }
  return regionKeys((c.req.raw as Request & { cf?: CfLocation }).cf);
}

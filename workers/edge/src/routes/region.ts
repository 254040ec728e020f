/** The region keys of a request: from `request.cf`, or (local use only) the `x-cascade-region` header. */
import type { Context } from 'hono';
import { REGION_KEY, regionKeys, type CfLocation } from '../../../../core/regions.js';
import type { Env } from '../env.js';
import { ProblemError } from '../errors.js';

export const REGION_HEADER = 'x-cascade-region';

export function requestRegionKeys(c: Context<{ Bindings: Env }>): string[] {
  const override = c.req.header(REGION_HEADER);
  if (override !== undefined && c.env.ALLOW_REGION_HEADER === 'true') {
    if (!REGION_KEY.test(override)) throw new ProblemError(400, 'BAD_REGION', `${REGION_HEADER} "${override}" is not a region key; expected colo:XXX, country:XX, continent:XX or default`);
    return [...new Set([override, 'default'])];
  }
  return regionKeys((c.req.raw as Request & { cf?: CfLocation }).cf);
}

/**
 * The controller's pass on the cron trigger (wrangler.toml [triggers], every 5 minutes): reports
 * this isolate's explored scores, shadow results and decisions, then for every region entry
 *   - with a forward-rate budget, re-solves it on its own traffic, hourly (the first pass of each
 *     hour; thresholds/region-object.ts `resolve`);
 *   - that shadows or runs a canary, verifies it and acts (promote / roll back the canary, raise the
 *     thresholds of exits whose guard broke; `verify`);
 *   - with a money cap, sets the share of would-be forwards kept at the edge (controller/cap.ts).
 * A region that cannot be handled (too few samples) is skipped and logged; one region failing does
 * not stop the others. `nowMs` is the cron's scheduled time: tests drive the controller's clock.
 */
import { log } from '../../../../core/log.js';
import type { Env } from '../env.js';
import { flushDecisions } from '../metrics/record.js';
import { invalidate, listRegions, resolveEntry, verifyEntry } from '../thresholds/region-entries.js';
import { capDecision } from './cap.js';
import { flushScores } from './scores.js';
import { flushShadow } from './shadow.js';

export interface ControllerPass {
  resolved: string[];
  verified: string[];
  capped: string[];
  actions: { region: string; kind: string; reason: string }[];
  skipped: string[];
}

export async function runController(env: Env, nowMs: number): Promise<ControllerPass> {
  await Promise.all([flushScores(env), flushShadow(env), flushDecisions(env)]);
  const out: ControllerPass = { resolved: [], verified: [], capped: [], actions: [], skipped: [] };
  const hourly = new Date(nowMs).getUTCMinutes() < 5;
  for (const e of await listRegions(env.THRESHOLDS)) {
    const s = e.settings;
    try {
      if (s.maxForwardRate !== undefined && hourly) {
        const r = await resolveEntry(env.REGIONS, e.key, {});
        if (r.ok) out.resolved.push(e.key);
        else {
          out.skipped.push(e.key);
          log.info('controller: region not re-solved', { region: e.key, ...r });
        }
      }
      if ((s.shadow ?? 0) > 0 || s.canary) {
        const v = await verifyEntry(env.REGIONS, e.key, { apply: true, now: nowMs });
        if (v.ok) {
          out.verified.push(e.key);
          if (v.action) out.actions.push({ region: e.key, kind: v.action.kind, reason: v.action.reason });
        }
      }
      if (s.maxUsdPerMillion !== undefined || s.capped) {
        // The money cap reads the entry as the Durable Object holds it now (a re-solve or verification above may have written).
        const cur = (await env.REGIONS.getByName(e.key).get(e.key))?.settings;
        const d = cur ? await capDecision(env, e.key, cur, nowMs) : null;
        if (d?.change) {
          await env.REGIONS.getByName(e.key).setCapped(e.key, d.capped, d.reason);
          invalidate(e.key);
          out.actions.push({ region: e.key, kind: 'cap', reason: d.reason });
        }
        if (d) out.capped.push(e.key);
      }
    } catch (err) {
      out.skipped.push(e.key);
      log.error('controller: a region failed', { region: e.key, error: err });
    }
  }
  return out;
}

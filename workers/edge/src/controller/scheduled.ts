/**
 * The controller's pass on the cron trigger (wrangler.toml [triggers], hourly): reports this
 * isolate's explored scores, then re-solves every region entry with a forward-rate budget on its own
 * traffic (thresholds/region-object.ts `resolve`). A region without enough explored samples is
 * skipped and logged; one region failing does not stop the others.
 */
import { log } from '../../../../core/log.js';
import type { Env } from '../env.js';
import { listRegions, resolveEntry } from '../thresholds/region-entries.js';
import { flushScores } from './scores.js';

export async function resolveLiveRegions(env: Env): Promise<{ resolved: string[]; skipped: string[] }> {
  await flushScores(env);
  const out = { resolved: [] as string[], skipped: [] as string[] };
  for (const e of await listRegions(env.THRESHOLDS)) {
    if (e.settings.maxForwardRate === undefined) continue;
    try {
      const r = await resolveEntry(env.REGIONS, e.key, {});
      if (r.ok) out.resolved.push(e.key);
      else {
        out.skipped.push(e.key);
        log.info('controller: region not re-solved', { region: e.key, ...r });
      }
    } catch (err) {
      out.skipped.push(e.key);
      log.error('controller: re-solving a region failed', { region: e.key, error: err });
    }
  }
  return out;
}

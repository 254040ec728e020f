/**
 * The worker's scheduled handler (cron trigger in wrangler.toml, hourly): writes what this isolate
 * holds, then rolls minute rows older than METRICS_ROLLUP_AFTER_HOURS (48) into hour rows and deletes
 * hour rows older than METRICS_RETAIN_DAYS (90) (metrics/config.ts, d1-store.ts `rollUp`). A failure
 * is logged and rethrown, so the cron run shows as failed; the next run redoes the whole roll-up (it
 * is one transaction).
 *
 * @example
 * export default { fetch: app.fetch, scheduled: rollUpDecisions } satisfies ExportedHandler<Env>;
 */
import { log } from '../../../../core/log.js';
import type { Env } from '../env.js';
import { metricsConfig } from './config.js';
import { rollUp } from './d1-store.js';
import { flushDecisions } from './record.js';

export async function rollUpDecisions(controller: ScheduledController, env: Env): Promise<void> {
  if (!env.METRICS) {
    log.info('decision metrics: no METRICS binding, nothing to roll up', { cron: controller.cron });
    return;
  }
  const cfg = metricsConfig(env);
  try {
    await flushDecisions(env);
    const r = await rollUp(env.METRICS, controller.scheduledTime, cfg);
    log.info('decision metrics rolled up', {
      cron: controller.cron,
      rollupAfterHours: cfg.rollupAfterHours,
      retainDays: cfg.retainDays,
      ...r,
    });
  } catch (e) {
    log.error('decision metrics roll-up failed; the next run retries it', { cron: controller.cron, error: e });
    throw e;
  }
}

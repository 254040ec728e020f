/**
 * Is a wrangler environment fit to deploy? The checks `npm run deploy` runs before it deploys (and
 * `npm run deploy -- --dry-run`, part of `npm test`, runs on every commit), on the configuration as
 * wrangler itself resolves it (`unstable_readConfig`: the environment's own bindings and vars, the
 * inherited keys), never on the file's text.
 *
 * Errors block every deploy, dry runs included: a loopback, private or plain-http BACKEND_URL (the
 * host is read with the WHATWG URL parser, so `http://0x7f.1`, `[::ffff:127.0.0.1]` and trailing dots
 * are caught in their canonical form), the region header override on, a secret written as a plain
 * var, a missing binding, no cron, observability off. Placeholders (the ids and the backend's host an
 * operator fills in: `REPLACE_…`, `*.invalid`) block a real deploy only: a dry run lists them.
 *
 * @example
 * const r = checkDeployConfig(unstable_readConfig({ config: 'wrangler.toml' }), 'production');
 * r.errors;       // [] when fit
 * r.placeholders; // ['KV namespace THRESHOLDS: id "REPLACE_WITH_KV_NAMESPACE_ID" (npx wrangler kv namespace create THRESHOLDS)', …]
 */
import { isIP } from 'node:net';

/** The parts of wrangler's resolved Config these checks read. */
export interface DeployConfig {
  name?: string;
  vars?: Record<string, unknown>;
  kv_namespaces?: { binding: string; id?: string }[];
  d1_databases?: { binding: string; database_name?: string; database_id?: string; migrations_dir?: string }[];
  durable_objects?: { bindings?: { name: string; class_name: string }[] };
  migrations?: { tag: string; new_sqlite_classes?: string[]; new_classes?: string[] }[];
  observability?: { enabled?: boolean; logs?: { enabled?: boolean } };
  triggers?: { crons?: string[] };
}

export interface DeployCheck {
  errors: string[];
  placeholders: string[];
}

const KV_ID = /^[0-9a-f]{32}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Values the worker reads as secrets (workers/edge/src/env.ts): set with `wrangler secret put`, never as vars. */
export const SECRETS = ['ADMIN_TOKEN', 'CASCADE_SECRET'] as const;

/** Why an IP literal (canonical, as URL gives it) is not a public address, or undefined. */
function nonPublicIp(host: string): string | undefined {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (isIP(h) === 4) {
    const [a, b] = h.split('.').map(Number) as [number, number];
    if (a === 127) return 'loopback';
    if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'private';
    if (a === 169 && b === 254) return 'link-local';
    if (a === 100 && b >= 64 && b <= 127) return 'carrier-grade NAT';
    if (a === 0) return 'unspecified';
    return undefined;
  }
  if (isIP(h) === 6) {
    if (h === '::1') return 'loopback';
    if (h === '::') return 'unspecified';
    const mapped = /^::ffff:(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/.exec(h);
    if (mapped) {
      const v4 =
        mapped[1] ??
        [mapped[2], mapped[3]].flatMap((x) => [Number.parseInt(x!, 16) >> 8, Number.parseInt(x!, 16) & 255]).join('.');
      return nonPublicIp(v4);
    }
    if (/^f[cd]/.test(h)) return 'unique local';
    if (/^fe[89ab]/.test(h)) return 'link-local';
    return undefined;
  }
  return undefined;
}

/**
 * BACKEND_URL for a deployed worker: https, a public host. Returns [error] or [undefined, placeholder].
 * Exported for tests.
 */
export function checkBackendUrl(raw: unknown): [string | undefined, string | undefined] {
  if (typeof raw !== 'string' || raw === '')
    return ['BACKEND_URL is not set (the GPU backend the edge forwards to)', undefined];
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return [`BACKEND_URL=${raw} is not a URL`, undefined];
  }
  const host = u.hostname.replace(/\.$/, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost'))
    return [`BACKEND_URL=${raw}: ${host} is this machine, not one a deployed worker can reach`, undefined];
  const ip = nonPublicIp(host);
  if (ip) return [`BACKEND_URL=${raw}: ${host} is a ${ip} address, not one a deployed worker can reach`, undefined];
  if (u.protocol !== 'https:')
    return [
      `BACKEND_URL=${raw}: features and answers would cross the internet unencrypted; use https:// (docs/deploy.md, "The backend on a GPU host")`,
      undefined,
    ];
  if (u.username || u.password)
    return [`BACKEND_URL must not carry credentials (the edge signs its requests)`, undefined];
  if (host.endsWith('.invalid') || /replace/i.test(host))
    return [undefined, `BACKEND_URL ${raw} (your GPU backend's public https URL)`];
  return [undefined, undefined];
}

export function checkDeployConfig(c: DeployConfig, env: string): DeployCheck {
  const errors: string[] = [];
  const placeholders: string[] = [];
  const flag = env === 'production' ? '' : ` --env ${env}`;
  const vars = c.vars ?? {};

  const [urlError, urlPlaceholder] = checkBackendUrl(vars.BACKEND_URL);
  if (urlError) errors.push(urlError);
  if (urlPlaceholder) placeholders.push(urlPlaceholder);
  if (String(vars.ALLOW_REGION_HEADER ?? 'false') !== 'false')
    errors.push('ALLOW_REGION_HEADER must be "false" outside local development (any client could pick its region)');
  for (const s of SECRETS)
    if (s in vars) errors.push(`${s} is a plain var; remove it and run: npx wrangler secret put ${s}${flag}`);

  const kv = c.kv_namespaces?.find((k) => k.binding === 'THRESHOLDS');
  if (!kv) errors.push('no KV namespace bound as THRESHOLDS');
  else if (!KV_ID.test(kv.id ?? ''))
    placeholders.push(`KV namespace THRESHOLDS: id "${kv.id}" (npx wrangler kv namespace create THRESHOLDS${flag})`);

  const d1 = c.d1_databases?.find((d) => d.binding === 'METRICS');
  if (!d1) errors.push('no D1 database bound as METRICS');
  else {
    if (!d1.migrations_dir) errors.push('D1 METRICS has no migrations_dir (its tables would never be created)');
    if (!UUID.test(d1.database_id ?? ''))
      placeholders.push(
        `D1 database METRICS: database_id "${d1.database_id}" (npx wrangler d1 create ${d1.database_name ?? 'edge-cascade-metrics'})`,
      );
  }

  const dob = c.durable_objects?.bindings?.find((b) => b.name === 'REGIONS');
  if (!dob) errors.push('no Durable Object bound as REGIONS');
  else if (
    !c.migrations?.some((m) => [...(m.new_sqlite_classes ?? []), ...(m.new_classes ?? [])].includes(dob.class_name))
  )
    errors.push(`no [[migrations]] entry creates the Durable Object class ${dob.class_name}`);

  if (!c.triggers?.crons?.length) errors.push('no cron trigger (the controller and the metrics roll-up run from it)');
  if (c.observability?.enabled !== true && c.observability?.logs?.enabled !== true)
    errors.push("observability is off: set [observability] enabled = true (Workers Logs keep the worker's JSON lines)");
  return { errors, placeholders };
}

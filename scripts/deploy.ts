/**
 * `npm run deploy`: the edge worker to Cloudflare, checked first. For the environment named (the
 * top level of wrangler.toml is production; `--env=staging` is the other one it defines):
 *   1. the configuration as wrangler resolves it passes scripts/deploy-check.ts (a public https
 *      BACKEND_URL, no region-header override, every binding, real KV/D1 ids, crons, observability);
 *   2. the bundle builds (`wrangler deploy --dry-run`) and fits Cloudflare's 64 MiB script limit;
 *   3. (not with --dry-run) both secrets exist (`wrangler secret list`), else it prints the
 *      `wrangler secret put` commands and stops; the D1 migrations are applied to the remote
 *      database; `wrangler deploy`.
 * `--dry-run` (run by `npm test`) does 1 and 2 without network or account, listing the
 * placeholders a real deploy would refuse. docs/deploy.md is the walk-through.
 *
 * @example
 * npm run deploy -- --dry-run              # what npm test checks
 * npm run deploy                           # production (the top level of wrangler.toml)
 * npm run deploy -- --env=staging
 */
import { spawnSync } from 'node:child_process';
import { unstable_readConfig } from 'wrangler';
import { cliArgs } from './cli-args.js';
import { checkDeployConfig, type DeployConfig, SECRETS } from './deploy-check.js';
import { node22 } from './node22.js';
import { buildWorkerBundle, MAX_SCRIPT_BYTES, mib, type WorkerBundle } from './worker-bundle.js';

const opt = cliArgs({
  usage: 'npm run deploy -- [options]',
  about:
    'Deploys the edge worker to Cloudflare after checking its configuration (wrangler.toml) and bundle;\n' +
    'see docs/deploy.md for the one-time setup (KV, D1, secrets, the GPU backend).',
  options: {
    env: {
      choices: ['production', 'staging'],
      description: 'The wrangler environment: production is the top level of wrangler.toml',
      default: 'production',
    },
    'dry-run': {
      flag: true,
      description: 'Check the configuration and build the bundle only: no account, no network (npm test runs this)',
    },
  },
  prefix: 'npm run deploy',
});
const ENV = opt.env;
const DRY = opt['dry-run'] ?? false;
const envArgs = ENV === 'production' ? [] : ['--env', ENV];
const WRANGLER_ENV = { ...process.env, WRANGLER_SEND_METRICS: 'false' };

function wrangler(args: string[], opts: { capture?: boolean } = {}) {
  return spawnSync(node22(), ['node_modules/wrangler/bin/wrangler.js', ...args], {
    encoding: 'utf8',
    stdio: opts.capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    env: WRANGLER_ENV,
  });
}

function fail(msg: string): never {
  console.error(`npm run deploy: ${msg}`);
  process.exit(2);
}

// 1. The configuration, as wrangler resolves it for this environment.
const config = unstable_readConfig({ config: 'wrangler.toml', env: ENV === 'production' ? undefined : ENV });
// Durable Object migrations are top-level only in wrangler's model: read them from there.
const top = unstable_readConfig({ config: 'wrangler.toml' });
const check = checkDeployConfig({ ...(config as DeployConfig), migrations: top.migrations }, ENV);
if (check.errors.length)
  fail(
    `the ${ENV} configuration (wrangler.toml) is not fit to deploy:\n${check.errors.map((e) => `  - ${e}`).join('\n')}`,
  );
if (check.placeholders.length && !DRY)
  fail(
    `wrangler.toml still holds placeholders for ${ENV}; fill them in (docs/deploy.md):\n${check.placeholders.map((p) => `  - ${p}`).join('\n')}`,
  );

// 2. The bundle, as the deploy will upload it.
let bundle: WorkerBundle;
try {
  bundle = await buildWorkerBundle(`.cache/deploy-dry-run-${ENV}`, envArgs);
} catch (e) {
  fail((e as Error).message);
}
const raw = bundle.rawBytes,
  gzip = bundle.gzipBytes;
if (raw > MAX_SCRIPT_BYTES) fail(`the bundle is ${mib(raw)}, over Cloudflare's ${mib(MAX_SCRIPT_BYTES)} script limit`);
console.log(
  `npm run deploy: ${ENV} (${config.name}) configuration OK; bundle ${mib(raw)} of the ${mib(MAX_SCRIPT_BYTES)} limit (${mib(gzip)} gzip)`,
);
if (DRY) {
  if (check.placeholders.length)
    console.log(
      `dry run: a real deploy would first need these filled in (docs/deploy.md):\n${check.placeholders.map((p) => `  - ${p}`).join('\n')}`,
    );
  process.exit(0);
}

// 3. Secrets, remote migrations, deploy.
const listed = wrangler(['secret', 'list', '--format', 'json', ...envArgs], { capture: true });
if (listed.status !== 0) fail(`wrangler secret list failed (logged in? npx wrangler login):\n${listed.stderr}`);
const have = new Set((JSON.parse(listed.stdout) as { name: string }[]).map((s) => s.name));
const missing = SECRETS.filter((s) => !have.has(s));
if (missing.length)
  fail(
    `the worker's secrets are not set; run (the backend gets the same CASCADE_SECRET):\n${missing.map((s) => `  npx wrangler secret put ${s}${envArgs.length ? ` ${envArgs.join(' ')}` : ''}`).join('\n')}`,
  );
const migrated = wrangler(['d1', 'migrations', 'apply', 'METRICS', '--remote', ...envArgs]);
if (migrated.status !== 0) fail('wrangler d1 migrations apply METRICS --remote failed (its output is above)');
const deployed = wrangler(['deploy', ...envArgs]);
if (deployed.status !== 0) fail('wrangler deploy failed (its output is above)');
console.log(`npm run deploy: ${ENV} deployed; check it with curl <worker URL>/readyz`);

/**
 * `npm run types:worker`: writes workers/edge/worker-configuration.d.ts with `wrangler types` from the
 * top-level wrangler.toml: the `Env` of its bindings and vars (every environment), declarations for its
 * module rules (`*.wasm`, `*.onnx`, …) and the workerd runtime types for its compatibility date.
 * `--check` (run by `npm run typecheck`) fails when the file is stale instead of writing it.
 * Wrangler needs Node >= 22, hence the node22() helper.
 *
 * @example
 * npm run types:worker            # regenerate after editing wrangler.toml or updating wrangler
 * npm run types:worker -- --check # exit 1 if the committed file is out of date
 */
import { spawnSync } from 'node:child_process';
import { node22 } from './node22.js';

/** The output path is part of the generated file's header and hash: always the same, relative to the repo root. */
export const OUTPUT = 'workers/edge/worker-configuration.d.ts';

// --strict-vars=false: vars are `string`, not the literal in wrangler.toml (deploys and `npm start` override them).
// --env-file=/dev/null (and no process.env): wrangler would otherwise type every key of a local .dev.vars or
// .env as a secret, so the output (and --check) would depend on the machine. The optional secrets are
// declared in src/env.ts instead; a missing env file (Windows) is ignored by wrangler alike.
const args = [
  'node_modules/wrangler/bin/wrangler.js',
  'types',
  OUTPUT,
  '--config',
  'wrangler.toml',
  '--strict-vars=false',
  '--env-file=/dev/null',
  ...process.argv.slice(2),
];
const r = spawnSync(node22(), args, {
  stdio: 'inherit',
  env: {
    ...process.env,
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    WRANGLER_SEND_METRICS: 'false',
    CLOUDFLARE_INCLUDE_PROCESS_ENV: 'false',
  },
});
if (r.status !== 0 && process.argv.includes('--check'))
  console.error(`${OUTPUT} is stale: run \`npm run types:worker\` and commit the result`);
process.exit(r.status ?? 1);

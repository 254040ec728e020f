/**
 * `npm start`: the whole cascade locally, on the shipped bundle or on the one MODEL names. Starts
 * the GPU backend (Node, fastest executor available, CPU here) and the edge worker in `wrangler dev`
 * (workerd, local KV) with development secrets and the region-header override on, so one machine
 * can play several regions. Ctrl-C stops both (the backend drains first).
 *
 * With MODEL set, both serve that bundle: the backend through MODEL_DIR, the edge through the
 * bundle's module, generated under .cache/edge-bundles/ (scripts/gen-edge-bundle.ts) and swapped in
 * for the committed default's by a wrangler module alias. `wrangler dev` reads `alias` from its
 * config only (4.164 accepts `dev --alias` and ignores it), so the worker runs from SERVED_CONFIG:
 * wrangler.toml plus that alias, written beside it so every path in it means the same. A MODEL
 * that cannot be served (outside the repository, missing, no valid manifest) exits 2 with one line
 * saying what to do.
 *
 * Before the worker starts, its D1 migrations (workers/edge/migrations: the decision metrics'
 * tables) are applied to the local database of `--env dev` (`wrangler d1 migrations apply METRICS
 * --local`, with the same config as `wrangler dev`, so the same local state); applied ones are
 * skipped, so every start runs it. Its output is shown only when it fails.
 *
 * Stopping: each service runs in a process group of its own (wrangler with its workerd), and any
 * one of them ending, SIGINT or SIGTERM to this process (Ctrl-C, tsx, or `kill`), or the end of the
 * npm (or shell) that started it stops them all: SIGTERM to each group (the backend drains first),
 * SIGKILL after 10 s. npm 11 does not pass its own SIGTERM on through `sh -c`, so the ancestors are
 * watched too; and workerd takes SIGTERM as "drain": it closes its port but lingers, so once ready
 * both ports are watched, and three refused connections in a row stop the rest.
 *
 * @example
 * npm start                              # models/fashion-resnet on :8787 (edge) and :8788 (backend)
 * MODEL=my-model PORT=9000 npm start     # models/my-model; backend on BACKEND_PORT (8788)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { issueText } from '../core/config-error.js';
import { manifestDefaults } from '../core/regions.js';
import { buildDashboard } from './build-dashboard.js';
import { cliArgs, text, usageExit } from './cli-args.js';
import { applyLocalMigrations, WRANGLER_ENV } from './d1-migrations.js';
import {
  BUNDLE_IMPORT,
  type Bundle,
  BundleError,
  DEFAULT_BUNDLE,
  ROOT,
  resolveBundle,
  writeServedModule,
} from './gen-edge-bundle.js';
import { node22 } from './node22.js';
import { procEntry } from './proc.js';

const HELP = `Usage: [MODEL=<name|path>] [PORT=8787] [BACKEND_PORT=8788] [STATE_DIR=<dir>] npm start

Runs the cascade locally: the edge worker (wrangler dev: workerd, local KV, local D1 with its
migrations applied first, development secrets, x-cascade-region header allowed) and the GPU
backend it forwards to. Ctrl-C stops both.
  MODEL         the bundle both serve: models/<name>, or the path (from the repository root) of
                a bundle folder inside the repository; default ${DEFAULT_BUNDLE}, the shipped model.
                The backend gets it as MODEL_DIR; the edge gets its module, generated to
                .cache/edge-bundles/ (npm run gen:edge-bundle -- --help), through
                .wrangler-served-<PORT>.toml (wrangler.toml plus a module alias). The committed
                module stays the default's.
  PORT          the edge worker's port (default 8787)
  BACKEND_PORT  the backend's port (default 8788)
  STATE_DIR     where the local KV, D1 and Durable Object state is kept (wrangler's --persist-to;
                default .wrangler/state): a fresh folder starts with no region entries and no
                decision counts.`;

// No options: --help, and anything else refused, by the parser every entry point uses.
cliArgs({
  usage: 'npm start',
  about: 'Runs the cascade locally.',
  options: {},
  help: () => HELP,
  prefix: 'npm start',
  hint: '; npm start is configured by MODEL, PORT, BACKEND_PORT and STATE_DIR (npm start -- --help)',
});
function usageError(msg: string): never {
  usageExit(msg, 'npm start');
}

const MODEL = process.env.MODEL || undefined;
let bundle: Bundle;
try {
  bundle = resolveBundle(MODEL ?? DEFAULT_BUNDLE);
} catch (e) {
  if (!(e instanceof BundleError)) throw e;
  usageError(`${MODEL ? `MODEL=${MODEL}` : `the default bundle ${DEFAULT_BUNDLE}`}: ${e.message}`);
}
// The backend alone reads MODEL_DIR; one that names another bundle would split the cascade in two.
const modelDir = process.env.MODEL_DIR;
if (modelDir !== undefined && resolve(ROOT, modelDir) !== resolve(ROOT, bundle.dir)) {
  usageError(
    `MODEL_DIR=${modelDir} is set but npm start serves ${bundle.dir}; unset MODEL_DIR and name the bundle with MODEL=<name|path> (npm start sets MODEL_DIR itself)`,
  );
}
const { dir, manifest } = bundle;

/** A port from the environment, checked before anything starts. */
function port(name: 'PORT' | 'BACKEND_PORT', fallback: string): string {
  const v = process.env[name] ?? fallback;
  const r = text.int(1, 65535).safeParse(v);
  if (!r.success) usageError(`${name}=${v}: ${r.error.issues.map((i) => issueText(i)).join('; ')}`);
  return v;
}
const EDGE_PORT = port('PORT', '8787');
const BACKEND_PORT = port('BACKEND_PORT', '8788');
/** The worker's config when MODEL is set (repository root, ignored by git), one per edge port: two
 *  cascades running at once have different ports, and neither rewrites the other's config. */
const SERVED_CONFIG = `.wrangler-served-${EDGE_PORT}.toml`;
// The committed module is the default's: another bundle's is generated and aliased in its place.
if (MODEL) {
  const module = resolve(ROOT, writeServedModule(bundle));
  writeFileSync(
    resolve(ROOT, SERVED_CONFIG),
    `# Generated by scripts/start.ts for MODEL=${MODEL} (${dir}) on port ${EDGE_PORT}: wrangler.toml plus the alias of its edge module. Do not edit.
alias = { ${JSON.stringify(BUNDLE_IMPORT)} = ${JSON.stringify(module)} }

${readFileSync(resolve(ROOT, 'wrangler.toml'), 'utf8')}`,
  );
}

// Development-only secrets, from .dev.vars (wrangler dev reads it too; created from the committed
// .dev.vars.example when missing). Production sets them with `wrangler secret put` and the backend's env.
const DEV_VARS = resolve(ROOT, '.dev.vars');
if (!existsSync(DEV_VARS)) {
  copyFileSync(resolve(ROOT, '.dev.vars.example'), DEV_VARS);
  console.log('npm start: created .dev.vars from .dev.vars.example (local development secrets)');
}
const devVars = parseDevVars(readFileSync(DEV_VARS, 'utf8'));
const SECRET = devVars.CASCADE_SECRET;
const ADMIN = devVars.ADMIN_TOKEN;
if (!SECRET || !ADMIN) {
  console.error('npm start: .dev.vars must set ADMIN_TOKEN and CASCADE_SECRET (see .dev.vars.example)');
  process.exit(1);
}

const env = WRANGLER_ENV;
const STATE_DIR = process.env.STATE_DIR || undefined;
const config = [...(MODEL ? ['--config', SERVED_CONFIG] : []), ...(STATE_DIR ? ['--persist-to', STATE_DIR] : [])];

await buildDashboard();
const migrate = applyLocalMigrations(config, 'pipe');
if (migrate.status !== 0) {
  process.stderr.write(`${migrate.stdout ?? ''}${migrate.stderr ?? ''}`);
  console.error(
    `npm start: applying the D1 migrations (wrangler d1 migrations apply METRICS --local --env dev) failed with status ${migrate.status ?? migrate.signal}; see its output above`,
  );
  process.exit(1);
}
{
  const applied = (migrate.stdout.match(/^│ (\S+\.sql)\s+│ ✅/gmu) ?? []).length;
  const none = /No migrations to apply/.test(migrate.stdout);
  console.log(`npm start: D1 migrations ${none ? 'up to date' : `applied (${applied} in all)`}`);
}

const children: ChildProcess[] = [];
// detached: a process group per service, so a stop reaches wrangler's workerd too, and Ctrl-C
// (the terminal's SIGINT to the foreground group) reaches them once, through stopAll.
children.push(
  spawn(process.execPath, ['--import', 'tsx', 'gpu-backend/src/server.ts'], {
    stdio: 'inherit',
    detached: true,
    env: { ...env, PORT: BACKEND_PORT, CASCADE_SECRET: SECRET, MODEL_DIR: dir },
  }),
);
children.push(
  spawn(
    node22(),
    [
      'node_modules/wrangler/bin/wrangler.js',
      'dev',
      '--env',
      'dev',
      '--port',
      EDGE_PORT,
      '--ip',
      '127.0.0.1',
      // ADMIN_TOKEN and CASCADE_SECRET come from .dev.vars (never on the command line, where ps shows them).
      '--var',
      `BACKEND_URL:http://127.0.0.1:${BACKEND_PORT}`,
      ...config,
    ],
    { stdio: 'inherit', detached: true, env },
  ),
);
const stopping = { now: false };
// The URLs once both services answer; then the local `default` region is seeded (the normal state
// of a deployment: the edge otherwise warns that it serves the manifest's defaults).
void (async () => {
  const edge = `http://127.0.0.1:${EDGE_PORT}`;
  try {
    await Promise.all([
      waitUntilUp(`http://127.0.0.1:${BACKEND_PORT}/healthz`, 300_000),
      waitUntilUp(`${edge}/healthz`, 300_000),
    ]);
  } catch (e) {
    if (!stopping.now) console.error(`npm start: ${(e as Error).message}`);
    return;
  }
  const seeded = await seedDefault(edge);
  watchListening([edge, `http://127.0.0.1:${BACKEND_PORT}`], (url) => {
    if (stopping.now) return;
    console.error(`npm start: ${url} stopped accepting connections; stopping`);
    stopAll('SIGTERM');
  });
  console.log(`ready: model ${manifest.name} (${dir}): edge worker on ${edge}, backend on http://127.0.0.1:${BACKEND_PORT}${seeded ? `; ${seeded}` : ''}; try:
  ${MODEL ? `curl -s -X POST ${edge}/v1/classify -H 'content-type: application/octet-stream' --data-binary @<(head -c ${manifest.input.shape.reduce((a, b) => a * b, 1)} /dev/zero)` : `curl -s -X POST ${edge}/v1/classify -H 'content-type: image/png' --data-binary @samples/ankle-boot-1.png`}
  curl -s -H 'authorization: Bearer ${ADMIN}' ${edge}/admin/regions
cost dashboard: ${edge}/dashboard/ (admin token ${ADMIN}, from .dev.vars)`);
})();

const running = new Set(children);
/** Signals every service's process group; the first call also arms the SIGKILL deadline. */
const stopAll = (sig: NodeJS.Signals) => {
  const first = !stopping.now;
  stopping.now = true;
  for (const c of running) killGroup(c, sig);
  if (first)
    setTimeout(() => {
      for (const c of running) killGroup(c, 'SIGKILL');
    }, 10_000).unref();
};
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => stopAll('SIGTERM'));
for (const c of children)
  c.on('exit', (code, signal) => {
    running.delete(c);
    // What is left of its group (wrangler's workerd when wrangler itself was killed).
    killGroup(c, 'SIGTERM');
    if (!stopping.now)
      console.error(
        `npm start: ${c === children[0] ? 'the backend' : 'wrangler dev'} exited (${code ?? signal}); stopping`,
      );
    stopAll('SIGTERM');
    if (!process.exitCode) process.exitCode = code ?? 0;
  });
watchAncestors(() => stopAll('SIGTERM'));

/**
 * Calls `onClosed(url)` once when `url`'s port refuses connections three times in a row (1 s apart).
 * A bare TCP connect, not a request: wrangler would log every request it is sent.
 */
function watchListening(urls: string[], onClosed: (url: string) => void): void {
  const refused = new Map(urls.map((u) => [u, 0]));
  const timer = setInterval(() => {
    for (const url of urls) {
      const { hostname, port } = new URL(url);
      const sock = connect({ host: hostname, port: Number(port) });
      sock.setTimeout(5000, () => sock.destroy());
      sock.once('connect', () => {
        refused.set(url, 0);
        sock.destroy();
      });
      sock.once('error', (e: NodeJS.ErrnoException) => {
        // Only a closed port counts: a slow answer (a loaded machine) is not a stopped service.
        if (e.code !== 'ECONNREFUSED') return;
        const n = (refused.get(url) ?? 0) + 1;
        refused.set(url, n);
        if (n === 3) {
          clearInterval(timer);
          onClosed(url);
        }
      });
    }
  }, 1000);
  timer.unref();
}

function killGroup(c: ChildProcess, sig: NodeJS.Signals): void {
  try {
    if (c.pid) process.kill(-c.pid, sig);
  } catch {
    // the group is gone
  }
}

/**
 * Calls `onGone` once when a process this one was started by (tsx, the shell, npm) ends: npm keeps
 * its child running when only npm gets SIGTERM. Linux reads the chain from /proc; elsewhere only
 * the parent is watched (a change of ppid means it ended).
 */
function watchAncestors(onGone: () => void): void {
  const chain: number[] = [];
  for (let pid = process.ppid; pid > 1 && chain.length < 4; ) {
    chain.push(pid);
    const e = procEntry(pid);
    if (!e || e.comm === 'npm' || e.comm.startsWith('npm ')) break;
    pid = e.ppid;
  }
  const parent = process.ppid;
  const timer = setInterval(() => {
    const gone =
      process.ppid !== parent ||
      chain.some((pid) => {
        try {
          process.kill(pid, 0);
          return false;
        } catch (e) {
          return (e as NodeJS.ErrnoException).code === 'ESRCH';
        }
      });
    if (gone) {
      clearInterval(timer);
      onGone();
    }
  }, 500);
  timer.unref();
}

/** KEY=VALUE lines of a .dev.vars file (wrangler's dotenv format: # comments, optional quotes). */
function parseDevVars(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 1) continue;
    const v = line.slice(eq + 1).trim();
    out[line.slice(0, eq).trim()] = /^(["']).*\1$/.test(v) ? v.slice(1, -1) : v;
  }
  return out;
}

/** Resolves once `url` answers 2xx; rejects after `ms`, or at once when npm start is stopping. */
async function waitUntilUp(url: string, ms: number): Promise<void> {
  const start = Date.now();
  for (;;) {
    if (stopping.now) throw new Error('stopped');
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() - start > ms) throw new Error(`${url} did not answer within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Creates the `default` region entry with the bundle's defaults when there is none (an existing
 * one, from an earlier run with the same state, is left as it is). Returns what it did, for the
 * ready line; a failure is reported and npm start goes on (the edge then serves the manifest's
 * defaults, as without an entry).
 */
async function seedDefault(edge: string): Promise<string> {
  const headers = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
  try {
    const cur = await fetch(`${edge}/admin/regions/default`, { headers });
    if (cur.ok) return '';
    if (cur.status !== 404) throw new Error(`GET /admin/regions/default: ${cur.status} ${await cur.text()}`);
    const put = await fetch(`${edge}/admin/regions/default`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ ...manifestDefaults(manifest), note: 'seeded by npm start: the bundle defaults' }),
    });
    if (!put.ok) throw new Error(`PUT /admin/regions/default: ${put.status} ${await put.text()}`);
    return 'seeded the local "default" region with the bundle\'s defaults';
  } catch (e) {
    console.error(
      `npm start: could not seed the "default" region (${(e as Error).message}); the edge serves the manifest's defaults`,
    );
    return '';
  }
}

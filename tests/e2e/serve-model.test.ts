/**
 * Serving a bundle other than the shipped one (`MODEL=<name> npm start`, scripts/start.ts and
 * scripts/gen-edge-bundle.ts): generated modules import only files inside the repository; a MODEL
 * outside it, missing or without a valid manifest is refused with one line (exit 2); the committed
 * module and `check:edge-bundle` stay the default's while another bundle exists under models/; and,
 * end to end, `npm start` with MODEL naming a renamed copy of the shipped bundle serves that copy at
 * both the edge (wrangler dev) and the backend.
 *
 * @example
 * npx tsx scripts/vitest.ts run tests/e2e/serve-model.test.ts
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BUNDLE_IMPORT,
  DEFAULT_BUNDLE,
  GENERATED,
  generateBundleModule,
  ROOT,
  resolveBundle,
  servedModulePath,
} from '../../scripts/gen-edge-bundle.js';

const NAME = `.tmp-serve-${process.pid}`;
const COPY = `models/${NAME}`;
const COPY_MODEL_NAME = 'serve-model-test-copy';
/** Folders that are not bundles, inside the repository (git ignores .cache/). */
const NOT_BUNDLES = `.cache/serve-model-test-${process.pid}`;
const EDGE_PORT = 8793,
  BACKEND_PORT = 8794;

/** A copy of the shipped bundle's served files (manifest and ONNX) at `dir`, with `name` in its manifest. */
function copyBundle(dir: string, name: string): void {
  cpSync(resolve(ROOT, DEFAULT_BUNDLE), dir, {
    recursive: true,
    filter: (src) => !/\.(safetensors|jsonl)$/.test(src) && !/backbone/.test(src),
  });
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...m, name }));
}

const tsx = (script: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });

beforeAll(() => {
  copyBundle(resolve(ROOT, COPY), COPY_MODEL_NAME);
  mkdirSync(resolve(ROOT, NOT_BUNDLES, 'empty'), { recursive: true });
  mkdirSync(resolve(ROOT, NOT_BUNDLES, 'invalid'), { recursive: true });
  writeFileSync(
    resolve(ROOT, NOT_BUNDLES, 'invalid', 'manifest.json'),
    JSON.stringify({ schemaVersion: 1, name: 'x' }),
  );
});

afterAll(() => {
  rmSync(resolve(ROOT, COPY), { recursive: true, force: true });
  rmSync(resolve(ROOT, NOT_BUNDLES), { recursive: true, force: true });
  rmSync(resolve(ROOT, servedModulePath(COPY)), { force: true });
  rmSync(resolve(ROOT, `.wrangler-served-${EDGE_PORT}.toml`), { force: true });
});

describe('generated bundle modules', () => {
  it('import only files inside the repository, from the bundle folder', () => {
    for (const [dir, out] of [
      [DEFAULT_BUNDLE, GENERATED],
      [COPY, servedModulePath(COPY)],
    ] as const) {
      const b = resolveBundle(dir);
      const imports = [...generateBundleModule(b, out).matchAll(/^import \w+ from '([^']+)';$/gm)].map((x) => x[1]!);
      expect(imports.length).toBe(1 + b.manifest.segments.length + b.manifest.exits.length);
      for (const spec of imports) {
        const p = resolve(ROOT, dirname(out), spec);
        expect(relative(resolve(ROOT, dir), dirname(p)), spec).toBe('');
        expect(existsSync(p), spec).toBe(true);
      }
    }
  });

  it("the committed module is the default's, and edge-model.ts imports it as start.ts aliases it", () => {
    expect(readFileSync(resolve(ROOT, GENERATED), 'utf8')).toBe(
      generateBundleModule(resolveBundle(DEFAULT_BUNDLE), GENERATED),
    );
    expect(readFileSync(resolve(ROOT, 'workers/edge/src/model/edge-model.ts'), 'utf8')).toContain(
      `import { BUNDLE } from '${BUNDLE_IMPORT}';`,
    );
  });

  it('a name and a path inside the repository name the same bundle', () => {
    expect(resolveBundle(NAME)).toEqual(resolveBundle(`./${COPY}/`));
    expect(resolveBundle(NAME).manifest.name).toBe(COPY_MODEL_NAME);
  });
});

describe('a MODEL that cannot be served', () => {
  let outside: string;
  beforeAll(() => {
    outside = mkdtempSync(join(tmpdir(), 'serve-model-'));
    copyBundle(outside, 'outside');
  });
  afterAll(() => rmSync(outside, { recursive: true, force: true }));

  const cases = (): [string, string, RegExp][] => [
    ['a valid bundle outside the repository', outside, /is outside the repository.*put the bundle under models\//],
    ['a path that climbs out', '../..', /is outside the repository/],
    [
      'a missing name',
      'no-such-model',
      /no folder models\/no-such-model \(bundles under models\/: .*fashion-resnet.*\).*models\//,
    ],
    [
      'a folder without a manifest',
      `${NOT_BUNDLES}/empty`,
      /has no manifest\.json, so it is not a model bundle.*models\//,
    ],
    ['an invalid manifest', `${NOT_BUNDLES}/invalid`, /manifest\.json: invalid manifest: .*--out=/],
  ];

  it('is refused by npm start: exit 2, one line, no stack trace, nothing started', () => {
    for (const [what, model, message] of cases()) {
      const r = tsx('scripts/start.ts', [], {
        MODEL: model,
        PORT: String(EDGE_PORT),
        BACKEND_PORT: String(BACKEND_PORT),
      });
      expect(r.status, what).toBe(2);
      expect(r.stdout, what).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines, what).toHaveLength(1);
      expect(lines[0], what).toMatch(new RegExp(`^npm start: MODEL=${model.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
      expect(lines[0], what).toMatch(message);
    }
  });

  it('is refused by gen:edge-bundle --model the same way, and the committed module is untouched', () => {
    const before = readFileSync(resolve(ROOT, GENERATED), 'utf8');
    const r = tsx('scripts/gen-edge-bundle.ts', [`--model=${outside}`]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^gen:edge-bundle: --model=.*is outside the repository/);
    expect(readFileSync(resolve(ROOT, GENERATED), 'utf8')).toBe(before);
  });

  it('a MODEL_DIR naming another bundle than MODEL is refused too (the edge and backend would differ)', () => {
    const r = tsx('scripts/start.ts', [], { MODEL: NAME, MODEL_DIR: DEFAULT_BUNDLE });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /^npm start: MODEL_DIR=models\/fashion-resnet is set but npm start serves models\/\.tmp-serve-\d+; unset MODEL_DIR/,
    );
  });
});

describe('command line', () => {
  it('npm start -- --help names MODEL, PORT and BACKEND_PORT with their defaults', () => {
    const r = tsx('scripts/start.ts', ['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/MODEL .*\n.*default models\/fashion-resnet/);
    expect(r.stdout).toMatch(/PORT .*default 8787/);
    expect(r.stdout).toMatch(/BACKEND_PORT .*default 8788/);
  });

  it('gen:edge-bundle --model writes the ignored module; --check still checks the default against models/fashion-resnet', () => {
    const before = readFileSync(resolve(ROOT, GENERATED), 'utf8');
    const gen = tsx('scripts/gen-edge-bundle.ts', [`--model=${NAME}`]);
    expect(gen.status, gen.stderr).toBe(0);
    const module = servedModulePath(COPY);
    expect(module.startsWith('.cache/edge-bundles/')).toBe(true);
    expect(readFileSync(resolve(ROOT, module), 'utf8')).toContain(`from '../../../${COPY}/segment_0.onnx'`);
    expect(readFileSync(resolve(ROOT, GENERATED), 'utf8')).toBe(before);
    const check = tsx('scripts/gen-edge-bundle.ts', ['--check']);
    expect(check.status, check.stderr).toBe(0);
    expect(tsx('scripts/gen-edge-bundle.ts', ['--check', `--model=${NAME}`]).status).toBe(2);
    expect(tsx('scripts/gen-edge-bundle.ts', [COPY]).status).toBe(2);
    for (const path of [module, COPY, `.wrangler-served-${EDGE_PORT}.toml`])
      expect(spawnSync('git', ['check-ignore', '-q', path], { cwd: ROOT }).status, path).toBe(0);
  });
});

describe('MODEL=<name> npm start', () => {
  it('serves that bundle at the edge and at the backend', async () => {
    const start = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MODEL: NAME, PORT: String(EDGE_PORT), BACKEND_PORT: String(BACKEND_PORT) },
    });
    let log = '';
    const keep = (d: Buffer) => {
      log += d.toString();
    };
    start.stdout.on('data', keep);
    start.stderr.on('data', keep);
    const exited = new Promise<void>((r) => start.on('exit', () => r()));
    try {
      const ready = async (url: string) => {
        const t0 = Date.now();
        for (;;) {
          try {
            const res = await fetch(url);
            if (res.ok) return (await res.json()) as Record<string, unknown>;
          } catch {
            // not up yet
          }
          if (start.exitCode !== null || Date.now() - t0 > 90_000)
            throw new Error(`${url} did not answer; npm start said:\n${log}`);
          await new Promise((r) => setTimeout(r, 250));
        }
      };
      const backend = await ready(`http://127.0.0.1:${BACKEND_PORT}/readyz`);
      expect(backend.model).toBe(COPY_MODEL_NAME);
      const edge = (await ready(`http://127.0.0.1:${EDGE_PORT}/readyz`)) as {
        checks: { model: { name: string }; backend: { ok: boolean } };
      };
      expect(edge.checks.model.name).toBe(COPY_MODEL_NAME);
      expect(edge.checks.backend.ok).toBe(true);
      // npm start prints its ready line once both services answer and the default region is seeded.
      for (let t = Date.now(); !log.includes('ready: model') && Date.now() - t < 30_000; )
        await new Promise((r) => setTimeout(r, 100));
      expect(log).toContain(`ready: model ${COPY_MODEL_NAME} (${COPY})`);
      const res = await fetch(`http://127.0.0.1:${EDGE_PORT}/v1/classify`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array(784),
      });
      expect(res.status, await res.clone().text()).toBe(200);
      expect(readFileSync(resolve(ROOT, GENERATED), 'utf8')).toBe(
        generateBundleModule(resolveBundle(DEFAULT_BUNDLE), GENERATED),
      );
    } finally {
      start.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      try {
        // Whatever is left of the process group this test started (wrangler's workerd included).
        process.kill(-start.pid!, 'SIGKILL');
      } catch {
        // all gone
      }
    }
  }, 150_000);
});

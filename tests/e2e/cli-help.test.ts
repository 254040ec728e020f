/**
 * `--help` and usage errors of `npm run train` (training/commands.ts, training/options-help.ts, and
 * its entry training/cli.ts in a child process) and of the benchmark and fuzz scripts
 * (scripts/cli-args.ts): every config key is described, every command's help lists its options with
 * their defaults, `--help` wins over other checks, unknown options and values a key's schema refuses
 * point at `--help`, and user errors (ConfigError, OnnxError) exit 2 without a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../core/config-error.js';
import { parseCli, text } from '../../scripts/cli-args.js';
import { main, reportError } from '../../training/commands.js';
import { ATTACH_CONFIGS, ATTACH_DEFAULTS, BACKBONE_CONFIGS, BACKBONE_DEFAULTS } from '../../training/config.js';
import { node, OnnxError, readOnnx, writeOnnx } from '../../training/onnx/proto.js';
import {
  ATTACH_CONFIG_NOTES,
  ATTACH_DESCRIPTIONS,
  BACKBONE_CONFIG_NOTES,
  BACKBONE_DESCRIPTIONS,
  formatValue,
} from '../../training/options-help.js';
import { foreignVgg } from '../helpers/foreign-backbones.js';

const COMMANDS = ['backbone', 'attach', 'evaluate', 'cuts', 'all'];

/** What main() prints with console.log. */
async function printed(argv: string[]): Promise<string> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  await main(argv);
  return log.mock.calls.map((c) => c.join(' ')).join('\n');
}

const run = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', ...args], { encoding: 'utf8', timeout: 60_000 });

afterEach(() => {
  vi.restoreAllMocks();
});

describe('training option descriptions', () => {
  it.each([
    ['backbone', BACKBONE_DEFAULTS, BACKBONE_DESCRIPTIONS, BACKBONE_CONFIGS, BACKBONE_CONFIG_NOTES],
    ['attach', ATTACH_DEFAULTS, ATTACH_DESCRIPTIONS, ATTACH_CONFIGS, ATTACH_CONFIG_NOTES],
  ] as const)(
    'every %s key and named config has a one-line description',
    (_, defaults, descriptions, configs, notes) => {
      expect(Object.keys(descriptions).sort()).toEqual(Object.keys(defaults).sort());
      for (const d of [...Object.values(descriptions), ...Object.keys(configs).map((k) => notes[k])]) {
        expect(d).toMatch(/\S/);
        expect(d).not.toContain('\n');
      }
    },
  );
});

describe('npm run train -- --help', () => {
  it('lists the commands, with --help alone, with no command and with an unknown command', async () => {
    for (const argv of [['--help'], [], ['fly', '--help']]) {
      const out = await printed(argv);
      for (const c of COMMANDS) expect(out).toMatch(new RegExp(`^  ${c} +\\S`, 'm'));
    }
  });

  it("prints every command's usage", async () => {
    for (const c of COMMANDS) expect(await printed([c, '--help'])).toContain(`npm run train -- ${c}`);
    expect(await printed(['cuts', '--help'])).toContain(
      `--backbone=<file.onnx>  Backbone ONNX file to analyse (any exporter) (default: ${ATTACH_DEFAULTS.backbone})`,
    );
    expect(await printed(['evaluate', '--help'])).toMatch(/--bundle=<dir> .*\(default: models\/fashion-resnet\)/);
    const all = await printed(['all', '--help']);
    expect(all).toMatch(/--config=<name> .*default, smoke/);
    for (const k of [...Object.keys(BACKBONE_CONFIGS), ...Object.keys(ATTACH_CONFIGS)])
      expect(all).toMatch(new RegExp(`^  ${k} +\\S`, 'm'));
  });

  it('attach --help lists every attach option with its description and default', async () => {
    const out = await printed(['attach', '--help']);
    for (const [k, v] of Object.entries(ATTACH_DEFAULTS)) {
      const line = out.split('\n').find((l) => l.startsWith(`  --${k}=`));
      expect(line, k).toBeDefined();
      expect(line).toContain(ATTACH_DESCRIPTIONS[k as keyof typeof ATTACH_DEFAULTS]);
      expect(line).toContain(`(default: ${formatValue(v)})`);
    }
    expect(out).toMatch(/^ {2}smoke +.*sets backbone=\.cache\/smoke-bundle\/backbone\.onnx, epochs=1/m);
  });

  it('backbone --help shows the values of the chosen config beside the built-in defaults', async () => {
    const out = await printed(['backbone', '--help']);
    for (const k of Object.keys(BACKBONE_DEFAULTS)) expect(out).toMatch(new RegExp(`^  --${k}=.*\\(default: `, 'm'));
    expect(out).toMatch(/--epochs=<number> .*\(default: 2 under --config=default; built-in: 10\)/);
    expect(out).toMatch(/--widths=<n,n,…> .*\(default: 16,32,64\)/);
    expect(out).toMatch(/--tfBackend=<auto\|tensorflow\|wasm\|cpu> .*\(default: auto\)/);
    expect(out).toMatch(/--augment=<true\|false> .*\(default: true\)/);
    expect(await printed(['backbone', '--config=smoke', '--help'])).toMatch(
      /--stemWidth=<number> .*\(default: 4 under --config=smoke; built-in: 16\)/,
    );
  });

  it('--help wins over every other check', async () => {
    expect(await printed(['attach', '--epochs=many', '--config=nope', '--help'])).toContain('npm run train -- attach');
    expect(await printed(['backbone', '-h'])).toContain('npm run train -- backbone');
    expect(await printed(['cuts', '--bundle=x', '--help'])).toContain('--backbone=<file.onnx>');
    expect(await printed(['all', '--epochs=3', '--help'])).toContain('npm run train -- all');
  });

  it('unknown options are errors that list the allowed ones and point at --help', async () => {
    await expect(main(['attach', '--epoch=3'])).rejects.toThrow(
      /^attach: unknown option\(s\) --epoch; allowed: --config, --backbone, .*--epochs.*; see `npm run train -- attach --help`$/,
    );
    await expect(main(['attach', 'extra', '--x'])).rejects.toThrow(/unknown option\(s\) extra, --x;/);
    await expect(main(['backbone', '--tfBackend=foo'])).rejects.toThrow(
      new ConfigError(
        'backbone: --tfBackend=foo: expected one of auto, tensorflow, wasm, cpu; see `npm run train -- backbone --help`',
      ),
    );
    await expect(main(['attach', '--maxCandidates=0'])).rejects.toThrow(/attach: --maxCandidates=0: must be ≥ 1; see/);
    await expect(main(['backbone', '--config=huge'])).rejects.toThrow(/unknown config "huge".*backbone --help/);
    await expect(main(['cuts', '--bundle=x'])).rejects.toThrow(
      /cuts: unknown option\(s\) --bundle; allowed: --backbone; see `npm run train -- cuts --help`/,
    );
    await expect(main(['cuts', '--backbone'])).rejects.toThrow(/argument missing; see `npm run train -- cuts --help`/);
    await expect(main(['evaluate', '--config=smoke'])).rejects.toThrow(
      /evaluate: unknown option\(s\) --config; allowed: --bundle.*evaluate --help/,
    );
    await expect(main(['all', '--epochs=3'])).rejects.toThrow(
      /all: unknown option\(s\) --epochs; allowed: --config;.*all --help/,
    );
    // all resolves both configs before training: a name only the backbone knows fails at once.
    await expect(main(['all', '--config=v1'])).rejects.toThrow(/unknown config "v1"; known: default, smoke/);
    await expect(main(['fly'])).rejects.toThrow(/unknown command "fly".*npm run train -- --help/);
    await expect(main(['cuts', '--backbone=no/such.onnx'])).rejects.toThrow(
      new ConfigError('cuts: backbone "no/such.onnx" not found'),
    );
    await expect(main(['evaluate', '--bundle=no/such'])).rejects.toThrow(/evaluate: no manifest\.json in "no\/such"/);
  });
});

describe('errors at the command line', () => {
  it('ConfigError and OnnxError print only their message and exit 2; other errors print their stack and exit 1', () => {
    const out: unknown[] = [];
    expect(reportError(new OnnxError('node "x" has op LSTM, which is not supported'), (t) => out.push(t))).toBe(2);
    expect(reportError(new ConfigError('unknown option --x'), (t) => out.push(t))).toBe(2);
    const bug = new TypeError('undefined is not a function');
    expect(reportError(bug, (t) => out.push(t))).toBe(1);
    expect(out).toEqual(['error: node "x" has op LSTM, which is not supported', 'error: unknown option --x', bug]);
  });

  it('`train cuts` on a backbone with an unsupported op exits 2 with the message and no stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-help-'));
    try {
      // A Sin before the first node: onnxruntime runs it (shape inference passes), the ONNX reader does not support it.
      const m = readOnnx(foreignVgg({ batchNorm: false, opset: 11 }));
      const input = m.graph!.input![0]!.name!;
      const first = m.graph!.node!.find((n) => n.input!.includes(input))!;
      first.input = first.input!.map((t) => (t === input ? 'sin_out' : t));
      m.graph!.node!.unshift(node('Sin', [input], ['sin_out'], {}, '/pre/Sin'));
      const file = join(dir, 'sin.onnx');
      writeFileSync(file, writeOnnx(m));
      const r = run(['training/cli.ts', 'cuts', `--backbone=${file}`]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^error: [^\n]*not supported/);
      expect(r.stderr).toContain('"/pre/Sin"');
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.stdout).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('`train backbone --tfBackend=foo` exits 2 naming the allowed backends, before any work', () => {
    const r = run(['training/cli.ts', 'backbone', '--tfBackend=foo']);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim()).toBe(
      'error: backbone: --tfBackend=foo: expected one of auto, tensorflow, wasm, cpu; see `npm run train -- backbone --help`',
    );
    expect(r.stdout).toBe('');
  });
});

describe('benchmark and fuzz options (scripts/cli-args.ts)', () => {
  const spec = {
    usage: 'npm run x -- [options]',
    about: 'Measures x.',
    writes: 'bench/results/x.json',
    options: {
      seconds: { arg: 'n', description: 'Seconds per level', default: '8' },
      mode: { choices: ['a', 'b'], description: 'Mode', default: 'a' },
      segment: { arg: 'n', description: 'Resume point', defaultText: 'the split' },
    },
    env: { X_DEBUG: 'Print stacks' },
  };

  it('parses strictly, with defaults, and rejects unknown options, missing values and values outside the choices', () => {
    expect(parseCli(spec, ['--seconds=3'])).toEqual({ values: { seconds: '3', mode: 'a' } });
    expect(parseCli(spec, ['--seconds', '3', '--mode=b', '--segment=1'])).toEqual({
      values: { seconds: '3', mode: 'b', segment: '1' },
    });
    expect(() => parseCli(spec, ['--secnds=3', '--x'])).toThrow(
      /unknown option\(s\) --secnds, --x; allowed: --seconds, --mode, --segment \(see --help\)/,
    );
    expect(() => parseCli(spec, ['extra'])).toThrow(/unknown option\(s\) extra/);
    expect(() => parseCli(spec, ['--seconds'])).toThrow(/argument missing \(see --help\)/);
    expect(() => parseCli(spec, ['--mode=c'])).toThrow(/--mode=c: expected one of a, b/);
    expect(() => parseCli(spec, ['--seconds', '--mode=b'])).toThrow(/argument is ambiguous/);
  });

  it('reads typed values with their schema and refuses the text it does not take, naming it', () => {
    const typed = {
      usage: 'x',
      about: 'x',
      options: {
        n: { description: 'n', default: '2', schema: text.int(1) },
        sizes: { description: 'sizes', default: '1,8', schema: text.ints(1) },
        on: { description: 'on', default: '1', schema: text.bool() },
        probe: { description: 'probe', flag: true },
        seconds: { description: 'seconds', schema: text.positive() },
      },
    } as const;
    expect(parseCli(typed, [])).toEqual({ values: { n: 2, sizes: [1, 8], on: true } });
    // A bare flag is true and does not take the next argument; --flag=false works too.
    expect(parseCli(typed, ['--probe', '--n=3', '--on=false', '--sizes=4, 16'])).toEqual({
      values: { n: 3, sizes: [4, 16], on: false, probe: true },
    });
    expect(parseCli(typed, ['--probe=false', '--seconds', '0.5'])).toEqual({
      values: { n: 2, sizes: [1, 8], on: true, probe: false, seconds: 0.5 },
    });
    expect(() => parseCli(typed, ['--n=abc'])).toThrow(
      new ConfigError('--n=abc: expected a number, not "abc" (see --help)'),
    );
    expect(() => parseCli(typed, ['--n='])).toThrow(/--n=: expected a number, not ""/);
    expect(() => parseCli(typed, ['--n=0'])).toThrow(/--n=0: must be ≥ 1 \(see --help\)/);
    expect(() => parseCli(typed, ['--sizes=1,6x4'])).toThrow(/--sizes=1,6x4: value 2: expected a number, not "6x4"/);
    expect(() => parseCli(typed, ['--on=yes'])).toThrow(/--on=yes: expected true or false \(or 1, 0\), not "yes"/);
    expect(() => parseCli(typed, ['--probe=maybe'])).toThrow(/--probe=maybe: expected true or false/);
    expect(() => parseCli(typed, ['--seconds=-1'])).toThrow(/--seconds=-1: must be > 0/);
    expect(() => parseCli({ usage: 'x', about: 'x', options: {} }, ['--x'])).toThrow(
      /unknown option\(s\) --x; allowed: none/,
    );
  });

  it('--help anywhere wins and lists every option with its default, the results and the environment', () => {
    const r = parseCli(spec, ['--secnds=3', '--mode=c', '-h']);
    expect('help' in r).toBe(true);
    const help = (r as { help: string }).help;
    expect(help).toMatch(/^ {2}--seconds=<n> +Seconds per level \(default: 8\)$/m);
    expect(help).toMatch(/^ {2}--mode=<a\|b> +Mode \(default: a\)$/m);
    expect(help).toMatch(/^ {2}--segment=<n> +Resume point \(default: the split\)$/m);
    expect(help).toContain('Writes: bench/results/x.json');
    expect(help).toMatch(/^ {2}X_DEBUG +Print stacks$/m);
  });

  it('bench:cascade --help describes it and exits 0 before any work; an unknown option exits 2', () => {
    const stem = `cli-help-probe-${process.pid}`;
    const help = run(['bench/cascade.ts', '--help', `--name=${stem}`]);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('npm run bench:cascade -- [options]');
    expect(help.stdout).toContain('Writes: bench/results/<name>.{json,md,svg}');
    expect(help.stdout).toMatch(/--bundle=<dir> .*\(default: models\/fashion-resnet\)/);
    expect(help.stdout).toMatch(/--name=<stem> .*\(default: cascade\)/);
    const typo = run(['bench/cascade.ts', '--bundel=models/fashion-resnet', `--name=${stem}`]);
    expect(typo.status).toBe(2);
    expect(typo.stderr.trim()).toBe('error: unknown option(s) --bundel; allowed: --bundle, --name (see --help)');
    expect(typo.stdout).toBe('');
    for (const ext of ['json', 'md', 'svg']) expect(existsSync(`bench/results/${stem}.${ext}`)).toBe(false);
  });

  it('a bench refuses an unknown option and a value its schema does not take, exit 2, before any work', () => {
    const typo = run(['bench/soak.ts', '--secnds=3']);
    expect(typo.status, typo.stderr).toBe(2);
    expect(typo.stderr.trim()).toBe(
      'error: unknown option(s) --secnds; allowed: --seconds, --concurrency, --every, --plateau-mb, --traffic (see --help)',
    );
    const bad = run(['bench/soak.ts', '--seconds=1O']);
    expect(bad.status, bad.stderr).toBe(2);
    expect(bad.stderr.trim()).toBe('error: --seconds=1O: expected a number, not "1O" (see --help)');
    expect(bad.stdout).toBe('');
  });

  it('npm start and gen:edge-bundle refuse an unknown option the same way, with their own prefix', () => {
    const start = run(['scripts/start.ts', '--port=9000']);
    expect(start.status, start.stderr).toBe(2);
    expect(start.stderr.trim()).toBe(
      'npm start: unknown option(s) --port; allowed: none; npm start is configured by MODEL, PORT, BACKEND_PORT and STATE_DIR (npm start -- --help)',
    );
    const gen = run(['scripts/gen-edge-bundle.ts', '--chek']);
    expect(gen.status, gen.stderr).toBe(2);
    expect(gen.stderr.trim()).toBe('gen:edge-bundle: unknown option(s) --chek; allowed: --check, --model (see --help)');
  });
});

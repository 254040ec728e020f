/**
 * `npm run train -- <command> [--config=name] [--key=value …]`
 *
 *   backbone   train the default backbone on Fashion-MNIST and export backbone.onnx
 *   attach     attach PTEENet exits to ANY backbone ONNX file (cut, cache, train, export, calibrate)
 *   evaluate   re-measure a bundle through onnxruntime and print the README table
 *   cuts       list a backbone's valid cut tensors (MAC share, shape, bytes) and attach's default candidates
 *   all        backbone then attach (same --config name for both)
 *
 * `npm run train -- --help` (or no command) lists the commands; `npm run train -- <command> --help`
 * prints its options with descriptions and defaults (training/options-help.ts). `--help` anywhere
 * wins over every other check. Unknown commands, config names and options are errors that list the
 * allowed ones; they, and a backbone the ONNX reader rejects (OnnxError), print `error: <message>`
 * and exit 2; anything else is a bug and prints its stack (exit 1).
 *
 * @example
 * await main(['attach', '--help']);            // prints every attach option and its default
 * await main(['cuts', '--backbone=m.onnx']);   // prints the cut table
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig, ATTACH_CONFIGS, ATTACH_DEFAULTS, BACKBONE_CONFIGS, BACKBONE_DEFAULTS, ConfigError, type ConfigShape } from './config.js';
import { OnnxError } from './onnx/proto.js';
import { ATTACH_CONFIG_NOTES, ATTACH_DESCRIPTIONS, BACKBONE_CONFIG_NOTES, BACKBONE_DESCRIPTIONS, configHelp, HELP_ROW, namedConfigs, table, type HelpRow } from './options-help.js';

const COMMANDS = {
  backbone: 'train the default backbone on Fashion-MNIST and export backbone.onnx',
  attach: 'attach PTEENet exits to any backbone ONNX file (cut, cache, train, export, calibrate)',
  evaluate: 're-measure a bundle through onnxruntime and print the README table',
  cuts: 'list a backbone\'s valid cut tensors (MAC share, shape, bytes) and attach\'s default candidates',
  all: 'backbone then attach, both under the same --config',
} as const;
type Command = keyof typeof COMMANDS;

/** The options of the commands that take no config: `--key=value` each, with its default. */
const OWN_OPTIONS = {
  cuts: { backbone: { arg: '<file.onnx>', default: ATTACH_DEFAULTS.backbone, description: 'Backbone ONNX file to analyse (any exporter)' } },
  evaluate: { bundle: { arg: '<dir>', default: 'models/fashion-resnet', description: 'Bundle folder (manifest.json and its ONNX files) to re-measure on the test split' } },
};

const hint = (command: Command) => `see \`npm run train -- ${command} --help\``;

/** The command list (`--help` without a command, or no command). */
function overview(): string {
  return [
    'npm run train -- <command> [--config=<name>] [--key=value …]',
    '',
    'Commands:',
    ...table(Object.entries(COMMANDS)),
    '',
    '`npm run train -- <command> --help` lists a command\'s options with their defaults.',
  ].join('\n');
}

/** A command's usage and every option it takes, with descriptions and defaults (under `config` where it has one). */
function commandHelp(command: Command, config = 'default'): string {
  const head = (args: string) => [`npm run train -- ${command} ${args}`, '', `${COMMANDS[command].replace(/^./, (c) => c.toUpperCase())}.`, ''];
  const backbone = { defaults: BACKBONE_DEFAULTS, descriptions: BACKBONE_DESCRIPTIONS, named: BACKBONE_CONFIGS, notes: BACKBONE_CONFIG_NOTES, config: BACKBONE_CONFIGS[config] ? config : 'default' };
  const attach = { defaults: ATTACH_DEFAULTS, descriptions: ATTACH_DESCRIPTIONS, named: ATTACH_CONFIGS, notes: ATTACH_CONFIG_NOTES, config: ATTACH_CONFIGS[config] ? config : 'default' };
  if (command === 'backbone') return [...head('[--config=<name>] [--key=value …]'), configHelp(backbone)].join('\n');
  if (command === 'attach') return [...head('[--config=<name>] [--key=value …]'), configHelp(attach)].join('\n');
  if (command === 'all') {
    const both = Object.keys(BACKBONE_CONFIGS).filter((k) => k in ATTACH_CONFIGS);
    return [...head('[--config=<name>]'),
      'Options:',
      ...table([['--config=<name>', `Named config of both steps: ${both.join(', ')} (default: default)`], HELP_ROW]),
      '',
      'No per-key overrides: run backbone and attach one by one for those (their --help lists the keys).',
      '',
      'Named backbone configs:', ...namedConfigs(BACKBONE_CONFIGS, BACKBONE_CONFIG_NOTES),
      '',
      'Named attach configs:', ...namedConfigs(ATTACH_CONFIGS, ATTACH_CONFIG_NOTES),
    ].join('\n');
  }
  const own = Object.entries(OWN_OPTIONS[command]);
  return [...head(own.map(([k, o]) => `[--${k}=${o.arg}]`).join(' ')), 'Options:', ...table([...own.map(([k, o]): HelpRow => [`--${k}=${o.arg}`, `${o.description} (default: ${o.default})`]), HELP_ROW])].join('\n');
}

/** `--key=value` options of a command without a config; anything else is a ConfigError listing the allowed ones. */
function ownOptions(command: keyof typeof OWN_OPTIONS, args: string[]): Record<string, string> {
  const spec: Record<string, { arg: string; default: string }> = OWN_OPTIONS[command];
  const values = Object.fromEntries(Object.entries(spec).map(([k, o]) => [k, o.default]));
  const unknown: string[] = [];
  for (const a of args) {
    const m = /^--([A-Za-z]+)=(.*)$/s.exec(a);
    if (m && Object.hasOwn(spec, m[1]!)) values[m[1]!] = m[2]!;
    else unknown.push(a);
  }
  if (unknown.length) throw new ConfigError(`${command}: unknown option(s) ${unknown.join(', ')}; allowed: ${Object.entries(spec).map(([k, o]) => `--${k}=${o.arg}`).join(', ')}; ${hint(command)}`);
  return values;
}

function splitArgs(args: string[]): { config: string; rest: string[] } {
  let config = 'default';
  const rest: string[] = [];
  for (const a of args) {
    const m = /^--config=(.*)$/.exec(a);
    if (m) config = m[1]!;
    else rest.push(a);
  }
  return { config, rest };
}

/** resolveConfig, its errors pointing at the command's --help. */
function resolveFor<T extends ConfigShape>(command: Command, defaults: T, named: Record<string, Partial<T>>, config: string, rest: string[]): T {
  try {
    return resolveConfig(defaults, named, config, rest);
  } catch (e) {
    throw e instanceof ConfigError ? new ConfigError(`${e.message}; ${hint(command)}`) : e;
  }
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  const known = command !== undefined && Object.hasOwn(COMMANDS, command);
  const help = argv.includes('--help') || argv.includes('-h');
  if (!command || (!known && help)) {
    console.log(overview());
    return;
  }
  if (!known) throw new ConfigError(`unknown command "${command}"; expected one of: ${Object.keys(COMMANDS).join(', ')}; see \`npm run train -- --help\``);
  const cmd = command as Command;
  if (help) {
    console.log(commandHelp(cmd, splitArgs(args).config));
    return;
  }
  if (cmd === 'cuts') {
    const { backbone } = ownOptions(cmd, args);
    if (!existsSync(backbone)) throw new ConfigError(`cuts: backbone "${backbone}" not found`);
    const { runCuts } = await import('./cuts.js');
    console.log(await runCuts(backbone));
    return;
  }
  if (cmd === 'evaluate') {
    const { bundle } = ownOptions(cmd, args);
    if (!existsSync(join(bundle, 'manifest.json'))) throw new ConfigError(`evaluate: no manifest.json in "${bundle}"`);
    const { runEvaluate } = await import('./evaluate.js');
    console.log(await runEvaluate(bundle));
    return;
  }
  const { config, rest } = splitArgs(args);
  if (cmd === 'all' && rest.length) throw new ConfigError(`all: unknown option(s) ${rest.join(', ')}; allowed: --config=<name> (run backbone and attach separately to override keys); ${hint(cmd)}`);
  // Both configs are resolved before any work: `all` must not train a backbone and then reject the attach config.
  const backboneCfg = cmd === 'attach' ? undefined : resolveFor(cmd, BACKBONE_DEFAULTS, BACKBONE_CONFIGS, config, rest);
  const attachCfg = cmd === 'backbone' ? undefined : resolveFor(cmd, ATTACH_DEFAULTS, ATTACH_CONFIGS, config, rest);
  if (backboneCfg) {
    const { runBackbone } = await import('./backbone/command.js');
    await runBackbone(backboneCfg);
  }
  if (attachCfg) {
    const { runAttach } = await import('./attach.js');
    await runAttach(attachCfg);
  }
}

/**
 * Prints an error that reached the command line and returns the exit code: a ConfigError or an
 * OnnxError is the user's to fix (`error: <message>`, exit 2); anything else is a bug (its stack, exit 1).
 */
export function reportError(e: unknown, print: (text: unknown) => void = console.error): number {
  if (e instanceof ConfigError || e instanceof OnnxError) {
    print(`error: ${e.message}`);
    return 2;
  }
  print(e);
  return 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).catch((e: unknown) => process.exit(reportError(e)));
}

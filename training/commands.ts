/**
 * The commands of `npm run train -- <command> [--config=name] [--key=value …]` as functions (main,
 * resolveCommand, reportError); the entry that runs them on process.argv is training/cli.ts.
 *
 *   backbone   train the default backbone on Fashion-MNIST and export backbone.onnx
 *   attach     attach PTEENet exits to ANY backbone ONNX file (cut, cache, train, export, calibrate)
 *   evaluate   re-measure a bundle through onnxruntime and print the README table
 *   cuts       list a backbone's valid cut tensors (MAC share, shape, bytes) and attach's default candidates
 *   all        backbone then attach (same --config name for both)
 *
 * `npm run train -- --help` (or no command) lists the commands; `npm run train -- <command> --help`
 * prints its options with descriptions and defaults (training/options-help.ts). Options are read by
 * the parser every entry point uses (scripts/cli-args.ts: `node:util` parseArgs, each config key
 * checked by its schema in config.ts). `--help` anywhere wins over every other check. Unknown
 * commands, config names and options, and values a key's schema refuses (`--tfBackend=foo`), are
 * ConfigErrors naming the value and the allowed ones; they, and a backbone the ONNX reader rejects
 * (OnnxError), print `error: <message>` and exit 2; anything else is a bug and prints its stack (exit 1).
 *
 * @example
 * await main(['attach', '--help']);            // prints every attach option and its default
 * await main(['cuts', '--backbone=m.onnx']);   // prints the cut table
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/config-error.js';
import { type OptionSpec, parseCli } from '../scripts/cli-args.js';
import {
  ATTACH_CONFIGS,
  ATTACH_DEFAULTS,
  type AttachConfig,
  BACKBONE_CONFIGS,
  BACKBONE_DEFAULTS,
  type BackboneConfig,
  configOptions,
  mergeConfig,
} from './config.js';
import { OnnxError } from './onnx/proto.js';
import {
  ATTACH_CONFIG_NOTES,
  ATTACH_DESCRIPTIONS,
  BACKBONE_CONFIG_NOTES,
  BACKBONE_DESCRIPTIONS,
  configHelp,
  HELP_ROW,
  type HelpRow,
  namedConfigs,
  table,
} from './options-help.js';

const COMMANDS = {
  backbone: 'train the default backbone on Fashion-MNIST and export backbone.onnx',
  attach: 'attach PTEENet exits to any backbone ONNX file (cut, cache, train, export, calibrate)',
  evaluate: 're-measure a bundle through onnxruntime and print the README table',
  cuts: "list a backbone's valid cut tensors (MAC share, shape, bytes) and attach's default candidates",
  all: 'backbone then attach, both under the same --config',
} as const;
type Command = keyof typeof COMMANDS;

/** The options of the commands that take no config: `--key=value` each, with its default. */
const OWN_OPTIONS = {
  cuts: {
    backbone: {
      arg: 'file.onnx',
      default: ATTACH_DEFAULTS.backbone,
      description: 'Backbone ONNX file to analyse (any exporter)',
    },
  },
  evaluate: {
    bundle: {
      arg: 'dir',
      default: 'models/fashion-resnet',
      description: 'Bundle folder (manifest.json and its ONNX files) to re-measure on the test split',
    },
  },
} satisfies Record<string, Record<string, OptionSpec & { default: string }>>;

const CONFIG_OPTION: Record<'config', OptionSpec> = {
  config: { arg: 'name', description: 'Named config to start from', default: 'default' },
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
    "`npm run train -- <command> --help` lists a command's options with their defaults.",
  ].join('\n');
}

/** A command's usage and every option it takes, with descriptions and defaults (under `config` where it has one). */
function commandHelp(command: Command, config = 'default'): string {
  const head = (args: string) => [
    `npm run train -- ${command} ${args}`,
    '',
    `${COMMANDS[command].replace(/^./, (c) => c.toUpperCase())}.`,
    '',
  ];
  const backbone = {
    defaults: BACKBONE_DEFAULTS,
    descriptions: BACKBONE_DESCRIPTIONS,
    named: BACKBONE_CONFIGS,
    notes: BACKBONE_CONFIG_NOTES,
    config: BACKBONE_CONFIGS[config] ? config : 'default',
  };
  const attach = {
    defaults: ATTACH_DEFAULTS,
    descriptions: ATTACH_DESCRIPTIONS,
    named: ATTACH_CONFIGS,
    notes: ATTACH_CONFIG_NOTES,
    config: ATTACH_CONFIGS[config] ? config : 'default',
  };
  if (command === 'backbone') return [...head('[--config=<name>] [--key=value …]'), configHelp(backbone)].join('\n');
  if (command === 'attach') return [...head('[--config=<name>] [--key=value …]'), configHelp(attach)].join('\n');
  if (command === 'all') {
    const both = Object.keys(BACKBONE_CONFIGS).filter((k) => k in ATTACH_CONFIGS);
    return [
      ...head('[--config=<name>]'),
      'Options:',
      ...table([['--config=<name>', `Named config of both steps: ${both.join(', ')} (default: default)`], HELP_ROW]),
      '',
      'No per-key overrides: run backbone and attach one by one for those (their --help lists the keys).',
      '',
      'Named backbone configs:',
      ...namedConfigs(BACKBONE_CONFIGS, BACKBONE_CONFIG_NOTES),
      '',
      'Named attach configs:',
      ...namedConfigs(ATTACH_CONFIGS, ATTACH_CONFIG_NOTES),
    ].join('\n');
  }
  const own = Object.entries(OWN_OPTIONS[command]);
  return [
    ...head(own.map(([k, o]) => `[--${k}=<${o.arg}>]`).join(' ')),
    'Options:',
    ...table([
      ...own.map(([k, o]): HelpRow => [`--${k}=<${o.arg}>`, `${o.description} (default: ${o.default})`]),
      HELP_ROW,
    ]),
  ].join('\n');
}

/** A ConfigError about the command line as `<command>: <message>` (then `; see <the command's --help>` with `withHint`). */
function forCommand<T>(command: Command, f: () => T, withHint = false): T {
  try {
    return f();
  } catch (e) {
    throw e instanceof ConfigError
      ? new ConfigError(`${command}: ${e.message}${withHint ? `; ${hint(command)}` : ''}`)
      : e;
  }
}

/** A command's options read by parseCli (the config keys and --config, or the command's own), or its help. */
function parseFor(command: Command, args: string[]): { help: string } | { values: Record<string, unknown> } {
  const options: Record<string, OptionSpec> =
    command === 'backbone'
      ? { ...CONFIG_OPTION, ...configOptions(BACKBONE_DEFAULTS, BACKBONE_DESCRIPTIONS) }
      : command === 'attach'
        ? { ...CONFIG_OPTION, ...configOptions(ATTACH_DEFAULTS, ATTACH_DESCRIPTIONS) }
        : command === 'all'
          ? CONFIG_OPTION
          : OWN_OPTIONS[command];
  return forCommand(command, () =>
    parseCli(
      {
        usage: `npm run train -- ${command}`,
        about: COMMANDS[command],
        options,
        help: (given) => commandHelp(command, typeof given.config === 'string' ? given.config : 'default'),
        hint: `; ${hint(command)}`,
      },
      args,
    ),
  );
}

/**
 * Both configs are resolved before any work: `all` must not train a backbone and then reject the
 * attach config.
 */
function configsOf(
  command: 'backbone' | 'attach' | 'all',
  name: string,
  values: Record<string, unknown>,
): { backbone?: BackboneConfig; attach?: AttachConfig } {
  const resolve = <T extends BackboneConfig | AttachConfig>(defaults: T, named: Record<string, Partial<T>>) =>
    forCommand(command, () => mergeConfig(defaults, named, name, values as Partial<T>), true);
  return {
    ...(command === 'attach' ? {} : { backbone: resolve(BACKBONE_DEFAULTS, BACKBONE_CONFIGS) }),
    ...(command === 'backbone' ? {} : { attach: resolve(ATTACH_DEFAULTS, ATTACH_CONFIGS) }),
  };
}

/**
 * The configs `npm run train -- <command> <args…>` would run with, or the ConfigError it would stop
 * with, without running anything (bench:byom checks its --attach-args with it).
 */
export function resolveCommand(
  command: 'backbone' | 'attach' | 'all',
  args: string[],
): { backbone?: BackboneConfig; attach?: AttachConfig } {
  const parsed = parseFor(command, args);
  if ('help' in parsed) throw new ConfigError(`${command}: --help here is not an option`);
  const { config, ...values } = parsed.values;
  return configsOf(command, config as string, values);
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  const known = command !== undefined && Object.hasOwn(COMMANDS, command);
  const help = argv.includes('--help') || argv.includes('-h');
  if (!command || (!known && help)) {
    console.log(overview());
    return;
  }
  if (!known)
    throw new ConfigError(
      `unknown command "${command}"; expected one of: ${Object.keys(COMMANDS).join(', ')}; see \`npm run train -- --help\``,
    );
  const cmd = command as Command;
  const parsed = parseFor(cmd, args);
  if ('help' in parsed) {
    console.log(parsed.help);
    return;
  }
  const { config, ...values } = parsed.values;
  if (cmd === 'cuts') {
    const backbone = values.backbone as string;
    if (!existsSync(backbone)) throw new ConfigError(`cuts: backbone "${backbone}" not found`);
    const { runCuts } = await import('./cuts.js');
    console.log(await runCuts(backbone));
    return;
  }
  if (cmd === 'evaluate') {
    const bundle = values.bundle as string;
    if (!existsSync(join(bundle, 'manifest.json'))) throw new ConfigError(`evaluate: no manifest.json in "${bundle}"`);
    const { runEvaluate } = await import('./evaluate.js');
    console.log(await runEvaluate(bundle));
    return;
  }
  const { backbone: backboneCfg, attach: attachCfg } = configsOf(cmd, config as string, values);
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

/**
 * `npm run train -- <command> [--config=name] [--key=value …]`
 *
 *   backbone   train the default backbone on Fashion-MNIST and export backbone.onnx
 *   attach     attach PTEENet exits to ANY backbone ONNX file (cut, cache, train, export, calibrate)
 *   evaluate   re-measure a bundle through onnxruntime and print the README table
 *   cuts       list a backbone's valid cut tensors (MAC share, shape, bytes) and attach's default candidates
 *   all        backbone then attach (same --config name for both)
 *
 * Unknown commands, config names and options are errors that list the allowed ones.
 */
import { resolveConfig, ATTACH_CONFIGS, ATTACH_DEFAULTS, BACKBONE_CONFIGS, BACKBONE_DEFAULTS, ConfigError } from './config.js';

const COMMANDS = ['backbone', 'attach', 'evaluate', 'cuts', 'all'] as const;

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

export async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (!command || !(COMMANDS as readonly string[]).includes(command)) {
    throw new ConfigError(`unknown command "${command ?? ''}"; expected one of: ${COMMANDS.join(', ')}`);
  }
  const { config, rest } = splitArgs(args);
  if (command === 'backbone' || command === 'all') {
    const { runBackbone } = await import('./backbone/command.js');
    const cfg = resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, config, command === 'all' ? [] : rest);
    await runBackbone(cfg);
  }
  if (command === 'attach' || command === 'all') {
    const { runAttach } = await import('./attach.js');
    await runAttach(resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, config, command === 'all' ? [] : rest));
  }
  if (command === 'cuts') {
    const backbone = rest.find((a) => a.startsWith('--backbone='))?.slice('--backbone='.length) ?? ATTACH_DEFAULTS.backbone;
    const unknown = rest.filter((a) => !a.startsWith('--backbone='));
    if (unknown.length) throw new ConfigError(`cuts: unknown option(s) ${unknown.join(', ')}; allowed: --backbone=<file.onnx>`);
    const { runCuts } = await import('./cuts.js');
    console.log(await runCuts(backbone));
  }
  if (command === 'evaluate') {
    const { runEvaluate } = await import('./evaluate.js');
    const dir = rest.find((a) => a.startsWith('--bundle='))?.slice('--bundle='.length) ?? 'models/fashion-resnet';
    const unknown = rest.filter((a) => !a.startsWith('--bundle='));
    if (unknown.length) throw new ConfigError(`evaluate: unknown option(s) ${unknown.join(', ')}; allowed: --bundle=<dir>`);
    console.log(await runEvaluate(dir));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e instanceof ConfigError ? `error: ${e.message}` : e);
    process.exit(e instanceof ConfigError ? 2 : 1);
  });
}

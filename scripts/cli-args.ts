/**
 * Command-line options of the benchmark and fuzz scripts (bench/*.ts, scripts/fuzz.ts) from one spec:
 * a description and a default per option give strict parsing (`node:util` parseArgs), a `--help`
 * that says what the script measures, where it writes and what each option does, and a usage error
 * (exit 2) for an unknown option, a missing value or one outside an option's choices, instead of a silently ignored typo. `--help`
 * anywhere among the arguments wins over every other check.
 *
 * @example
 * const opt = cliArgs({
 *   usage: 'npm run bench:cascade -- [options]',
 *   about: 'Accuracy vs mean cost of the cascade on the bundle\'s test images.',
 *   writes: 'bench/results/<name>.{json,md,svg}',
 *   options: { bundle: { arg: 'dir', description: 'the bundle to measure', default: 'models/fashion-resnet' } },
 * });
 * opt.bundle; // 'models/fashion-resnet' unless --bundle=… was given
 */
import { parseArgs } from 'node:util';

export interface OptionSpec {
  /** One line: what the option sets. */
  description: string;
  /** The value when the option is not given; without one the option reads as undefined. */
  default?: string;
  /** The value's placeholder in the help (`--seconds=<n>`); the choices, or `value`, if unset. */
  arg?: string;
  /** The only values accepted; anything else is a usage error. */
  choices?: readonly string[];
  /** The default as the help shows it, when it is worked out at run time (e.g. from the bundle). */
  defaultText?: string;
}

export interface CliSpec<O extends Record<string, OptionSpec>> {
  /** The command line, e.g. `npm run bench:edge -- [options]`. */
  usage: string;
  /** What the script does or measures (lines of prose). */
  about: string;
  /** Where the results go. */
  writes?: string;
  options: O;
  /** Environment variables the script reads, with what each sets. */
  env?: Record<string, string>;
}

export type CliValues<O extends Record<string, OptionSpec>> = { [K in keyof O]: O[K] extends { default: string } ? string : string | undefined };

/** A command line the spec does not accept: the script prints `error: <message>` and exits 2. */
class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function helpText(spec: CliSpec<Record<string, OptionSpec>>): string {
  const rows = Object.entries(spec.options).map(([k, o]): [string, string] => {
    const dflt = o.defaultText ?? (o.default === undefined ? undefined : o.default === '' ? '""' : o.default);
    return [`--${k}=<${o.arg ?? o.choices?.join('|') ?? 'value'}>`, `${o.description}${dflt === undefined ? '' : ` (default: ${dflt})`}`];
  });
  rows.push(['--help, -h', 'Print this help and exit']);
  const env = Object.entries(spec.env ?? {});
  const width = Math.max(...rows.map((r) => r[0].length), ...env.map(([k]) => k.length));
  const table = (rs: readonly (readonly [string, string])[]) => rs.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`);
  return [
    spec.usage, '', spec.about, '',
    ...(spec.writes ? [`Writes: ${spec.writes}`, ''] : []),
    'Options:', ...table(rows),
    ...(env.length ? ['', 'Environment:', ...table(env)] : []),
  ].join('\n');
}

/** The parsed values, or the help text when `--help`/`-h` is among `argv`; throws UsageError. */
export function parseCli<O extends Record<string, OptionSpec>>(spec: CliSpec<O>, argv: string[]): { values: CliValues<O> } | { help: string } {
  const end = argv.indexOf('--');
  const own = end < 0 ? argv : argv.slice(0, end);
  if (own.includes('--help') || own.includes('-h')) return { help: helpText(spec) };
  const options = Object.fromEntries(Object.entries(spec.options).map(([k, o]) => [k, { type: 'string' as const, ...(o.default === undefined ? {} : { default: o.default }) }]));
  const allowed = Object.keys(spec.options).map((k) => `--${k}`).join(', ');
  // A lenient pass first, to name every unknown option at once; then the strict parse.
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const unknown = tokens.flatMap((t) => (t.kind === 'option' && !Object.hasOwn(spec.options, t.name) ? [t.rawName] : t.kind === 'positional' ? [t.value] : []));
  if (unknown.length) throw new UsageError(`unknown option(s) ${unknown.join(', ')}; allowed: ${allowed} (see --help)`);
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    if (!String((e as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) throw e;
    throw new UsageError(`${(e as Error).message} (see --help)`);
  }
  for (const [k, o] of Object.entries(spec.options)) {
    const v = values[k];
    if (o.choices && typeof v === 'string' && !o.choices.includes(v)) throw new UsageError(`--${k}=${v}: expected one of ${o.choices.join(', ')} (see --help)`);
  }
  return { values: values as CliValues<O> };
}

/** parseCli for a script's own command line: prints the help and exits 0, or the error and exits 2. */
export function cliArgs<O extends Record<string, OptionSpec>>(spec: CliSpec<O>, argv = process.argv.slice(2)): CliValues<O> {
  try {
    const r = parseCli(spec, argv);
    if ('help' in r) {
      console.log(r.help);
      process.exit(0);
    }
    return r.values;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`error: ${e.message}`);
    process.exit(2);
  }
}

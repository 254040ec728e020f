/**
 * Command-line options of every entry point (`npm run train` commands, bench/*.ts, bench/byom/*.ts,
 * scripts/fuzz.ts, scripts/start.ts, scripts/gen-edge-bundle.ts) from one spec: a description and
 * a default per option, and a zod schema for the options that are not plain text, give strict
 * parsing (`node:util` parseArgs), a `--help` that says what the script does, where it writes and
 * what each option does, and a usage error (a ConfigError: `error: <message>`, exit 2) for an
 * unknown option, a missing value, or a value its schema or choices refuse, naming the value and
 * what is allowed, instead of a silently ignored typo. `--help` anywhere among the arguments wins
 * over every other check.
 *
 * @example
 * const opt = cliArgs({
 *   usage: 'npm run bench:cascade -- [options]',
 *   about: 'Accuracy vs mean cost of the cascade on the bundle\'s test images.',
 *   writes: 'bench/results/<name>.{json,md,svg}',
 *   options: {
 *     bundle: { arg: 'dir', description: 'the bundle to measure', default: 'models/fashion-resnet' },
 *     seconds: { arg: 'n', description: 'seconds per level', default: '8', schema: text.positive() },
 *   },
 * });
 * opt.bundle;  // 'models/fashion-resnet' unless --bundle=… was given
 * opt.seconds; // 8 (a number; --seconds=abc exits 2: "--seconds=abc: expected a number, not "abc"")
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError, issueText } from '../core/config-error.js';

export interface OptionSpec {
  /** One line: what the option sets. */
  description: string;
  /** The value when the option is not given, as it would be typed; without one the option reads as undefined. */
  default?: string;
  /** The value's placeholder in the help (`--seconds=<n>`); the choices, or `value`, if unset. */
  arg?: string;
  /** The only values accepted; anything else is a usage error. */
  choices?: readonly string[];
  /** The default as the help shows it, when it is worked out at run time (e.g. from the bundle). */
  defaultText?: string;
  /** Reads and checks the text (see `text` and fromText): the option's value is the schema's output. */
  schema?: z.ZodType;
  /** A switch: `--key` alone means `--key=true` (`--key=false` works too); its value is a boolean. */
  flag?: boolean;
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
  /** The help text, where the generated one does not fit (training's per-config defaults); gets the
   *  options as given so far, unchecked. */
  help?: (given: Record<string, string | boolean | undefined>) => string;
  /** Ends every usage error (default ` (see --help)`). */
  hint?: string;
  /** What cliArgs prints before a usage error (default `error`). */
  prefix?: string;
}

type Value<S> = S extends { schema: z.ZodType<infer V> }
  ? V
  : S extends { flag: true }
    ? boolean
    : S extends { choices: readonly (infer C extends string)[] }
      ? C
      : string;
export type CliValues<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K] extends { default: string } ? Value<O[K]> : Value<O[K]> | undefined;
};

// Text → value. z.coerce.number() would read '' (and ' ') as 0 and 'abc' as NaN, and z.coerce.boolean()
// any non-empty text as true, so these read the text themselves and name it when it does not parse.
const numberText = z.string().transform((s, ctx) => {
  const n = s.trim() === '' ? NaN : Number(s);
  if (Number.isFinite(n)) return n;
  ctx.addIssue({ code: 'custom', message: `expected a number, not ${JSON.stringify(s)}`, input: s });
  return z.NEVER;
});
const boolText = z.string().transform((s, ctx) => {
  if (s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0') return false;
  ctx.addIssue({ code: 'custom', message: `expected true or false (or 1, 0), not ${JSON.stringify(s)}`, input: s });
  return z.NEVER;
});
const listText = z.string().transform((s) => (s.trim() === '' ? [] : s.split(',').map((x) => x.trim())));

/**
 * The schema of an option's text, from the schema of its value: numbers and booleans are read off
 * the text, lists are comma-separated (of numbers, booleans or text), strings and enums are the text
 * itself; then `schema` checks the value (ranges, enum values, list lengths).
 */
export function fromText<S extends z.ZodType>(schema: S): z.ZodType<z.output<S>, string> {
  // Schemas here take any input: each is piped after the step that produced its input.
  // biome-ignore lint/suspicious/noExplicitAny: the input type is whatever the previous pipe step produced
  type Any = z.ZodType<unknown, any>;
  const bare = (s: Any): Any => (s instanceof z.ZodDefault || s instanceof z.ZodOptional ? bare(s.unwrap() as Any) : s);
  const itemText = (s: Any): Any => {
    const t = bare(s);
    return t instanceof z.ZodNumber
      ? numberText.pipe(s)
      : t instanceof z.ZodBoolean
        ? boolText.pipe(s)
        : z.string().pipe(s);
  };
  const t = bare(schema as Any);
  if (t instanceof z.ZodArray) return listText.pipe(z.array(itemText(t.element as Any))).pipe(schema as Any) as never;
  return itemText(schema as Any) as never;
}

/** Value schemas of the common options. */
export const text = {
  /** An integer in [min, max]. */
  int: (min = 0, max = Number.MAX_SAFE_INTEGER) => fromText(z.number().int().min(min).max(max)),
  /** A number > 0 (seconds, megabytes). */
  positive: () => fromText(z.number().positive()),
  /** A comma-separated list of integers ≥ min, at least one. */
  ints: (min = 1) => fromText(z.array(z.number().int().min(min)).min(1)),
  /** 1/true or 0/false. */
  bool: () => fromText(z.boolean()),
  /** A comma-separated list of some of `values`, at least one. */
  someOf: <const V extends readonly [string, ...string[]]>(values: V) => fromText(z.array(z.enum(values)).min(1)),
};

function helpText(spec: CliSpec<Record<string, OptionSpec>>): string {
  const rows = Object.entries(spec.options).map(([k, o]): [string, string] => {
    const dflt = o.defaultText ?? (o.default === undefined ? undefined : o.default === '' ? '""' : o.default);
    return [
      o.flag ? `--${k}` : `--${k}=<${o.arg ?? o.choices?.join('|') ?? 'value'}>`,
      `${o.description}${dflt === undefined ? '' : ` (default: ${dflt})`}`,
    ];
  });
  rows.push(['--help, -h', 'Print this help and exit']);
  const env = Object.entries(spec.env ?? {});
  const width = Math.max(...rows.map((r) => r[0].length), ...env.map(([k]) => k.length));
  const table = (rs: readonly (readonly [string, string])[]) => rs.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`);
  return [
    spec.usage,
    '',
    spec.about,
    '',
    ...(spec.writes ? [`Writes: ${spec.writes}`, ''] : []),
    'Options:',
    ...table(rows),
    ...(env.length ? ['', 'Environment:', ...table(env)] : []),
  ].join('\n');
}

/** The parsed values, or the help text when `--help`/`-h` is among `argv` (before any `--`); throws ConfigError. */
export function parseCli<const O extends Record<string, OptionSpec>>(
  spec: CliSpec<O>,
  argv: string[],
): { values: CliValues<O> } | { help: string } {
  const hint = spec.hint ?? ' (see --help)';
  const entries = Object.entries(spec.options);
  // A lenient pass first: it names every unknown option at once, and sees a bare `--flag` as one
  // (typed boolean here, it cannot take the next argument as its value).
  const lenient = Object.fromEntries(
    entries.map(([k, o]) => [k, { type: o.flag ? ('boolean' as const) : ('string' as const) }]),
  );
  const { tokens, values: given } = parseArgs({
    args: argv,
    options: lenient,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const end = argv.indexOf('--');
  const own = end < 0 ? argv : argv.slice(0, end);
  if (own.includes('--help') || own.includes('-h')) return { help: spec.help ? spec.help(given) : helpText(spec) };
  const unknown = tokens.flatMap((t) =>
    t.kind === 'option' && !Object.hasOwn(spec.options, t.name)
      ? [t.rawName]
      : t.kind === 'positional'
        ? [t.value]
        : [],
  );
  const allowed = entries.length ? entries.map(([k]) => `--${k}`).join(', ') : 'none';
  if (unknown.length) throw new ConfigError(`unknown option(s) ${unknown.join(', ')}; allowed: ${allowed}${hint}`);
  // Then the strict parse, every option as text: a bare flag is spelled out as `--flag=true` first.
  const args = [...argv];
  for (const t of tokens)
    if (t.kind === 'option' && spec.options[t.name]?.flag && t.value === undefined) args[t.index] = `--${t.name}=true`;
  let raw: Record<string, string | boolean | undefined>;
  try {
    raw = parseArgs({
      args,
      options: Object.fromEntries(entries.map(([k]) => [k, { type: 'string' as const }])),
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    if (!String((e as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) throw e;
    throw new ConfigError(`${(e as Error).message}${hint}`);
  }
  const values: Record<string, unknown> = {};
  for (const [k, o] of entries) {
    const v = (raw[k] as string | undefined) ?? o.default;
    if (v === undefined) continue;
    if (o.choices && !o.choices.includes(v))
      throw new ConfigError(`--${k}=${v}: expected one of ${o.choices.join(', ')}${hint}`);
    const schema = o.schema ?? (o.flag ? boolText : undefined);
    if (!schema) {
      values[k] = v;
      continue;
    }
    const r = schema.safeParse(v);
    if (!r.success) throw new ConfigError(`--${k}=${v}: ${r.error.issues.map((i) => issueText(i)).join('; ')}${hint}`);
    values[k] = r.data;
  }
  return { values: values as CliValues<O> };
}

/** A usage error the script finds after parsing (a file missing, options that clash): printed as the parser's are, exit 2. */
export function usageExit(message: string, prefix = 'error'): never {
  console.error(`${prefix}: ${message}`);
  process.exit(2);
}

/** parseCli for a script's own command line: prints the help and exits 0, or the error and exits 2. */
export function cliArgs<const O extends Record<string, OptionSpec>>(
  spec: CliSpec<O>,
  argv = process.argv.slice(2),
): CliValues<O> {
  try {
    const r = parseCli(spec, argv);
    if ('help' in r) {
      console.log(r.help);
      process.exit(0);
    }
    return r.values;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    usageExit(e.message, spec.prefix);
  }
}

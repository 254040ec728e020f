/**
 * The operator CLI (`npm run ops -- <command>`, entry scripts/ops.ts): region entries, budgets and
 * the bundle's operating points, the controller's re-solve of a forward-rate budget, and its shadow
 * verification (shadow share, guard, canaries, money cap; regions guard / verify), through the
 * edge's admin API. Options are read by
 * scripts/cli-args.ts (--help, unknown options refused: exit 2); writes handle If-Match themselves
 * (read the current version, write with it; a 412 is reported as a conflict, exit 1, unless --force
 * re-reads and retries once). Tables by default, --json for machines.
 *
 * @example
 * await main(['regions', 'set', 'colo:LHR', '--budget=0.2']); // 0, or throws OpsError / ConfigError
 * await main(['regions', 'set', 'colo:LHR', '--max-forward-rate=0.25']);
 * await main(['regions', 'resolve', 'colo:LHR', '--window-minutes=120']);
 * await main(['regions', 'set', 'colo:LHR', '--shadow=0.05', '--max-disagreement=0.02']);
 * await main(['regions', 'canary', 'colo:LHR', '--thresholds=0.9,0.8,0.7,0.7', '--share=0.1']);
 * await main(['regions', 'verify', 'colo:LHR']); // judges the canary: promote, roll back, or wait
 */
import { z } from 'zod';
import { ConfigError } from '../../core/config-error.js';
import type { FrontierView, Resolved } from '../../core/operating-points.js';
import { POLICIES } from '../../core/policies.js';
import {
  CANARY_MIN_SAMPLES,
  CANARY_SHADOW_DEFAULT,
  canarySchema,
  FEATURE_ENCODINGS,
  guardSchema,
  type RegionEntry,
  type RegionSettings,
  regionKeySchema,
  regionSettingsSchema,
} from '../../core/regions.js';
import { DEFAULT_GUARD } from '../../core/shadow.js';
import { fromText, type OptionSpec, parseCli, text } from '../cli-args.js';
import { type AdminClient, adminClient, failure, OpsError } from './client.js';
import {
  costJson,
  costText,
  entryText,
  frontierText,
  historyText,
  type MetricsView,
  metricsText,
  pct,
  resolveText,
  table,
  type VerificationView,
  verificationText,
} from './format.js';

/** The token `npm start` gives the local worker (scripts/start.ts), used when ADMIN_TOKEN is unset. */
export const DEV_ADMIN_TOKEN = 'dev-admin-token';
export const DEFAULT_URL = 'http://127.0.0.1:8787';

const COMMON = {
  url: { arg: 'url', description: 'The edge worker', defaultText: `$EDGE_URL, else ${DEFAULT_URL}` },
  token: {
    arg: 'token',
    description: 'Admin bearer token',
    defaultText: `$ADMIN_TOKEN, else npm start's (${DEV_ADMIN_TOKEN})`,
  },
  json: { flag: true, description: 'Print the API answer as JSON instead of a table' },
} satisfies Record<string, OptionSpec>;
const WRITE = {
  'if-match': {
    arg: 'version',
    description: 'Write only if this is still the current version (default: the version read just before)',
    schema: text.int(1),
  },
  force: { flag: true, description: 'On a conflict (412), re-read the entry and retry once' },
} satisfies Record<string, OptionSpec>;
const SETTINGS = {
  split: {
    arg: 'n',
    description: 'Segments run at the edge (default: kept, or the bundle default split)',
    schema: text.int(1),
  },
  policy: { choices: POLICIES, description: "Exit policy (default: kept, or the bundle's default policy)" },
  encoding: { choices: FEATURE_ENCODINGS, description: 'Feature encoding of forwards (default: kept, or f16)' },
  explore: {
    arg: 'x',
    description:
      'Share (0..1) of requests scored at every edge exit for the controller (default: kept, else 0.05 with --max-forward-rate, 0 otherwise)',
    schema: fromText(z.number().min(0).max(1)),
  },
  shadow: {
    arg: 'share',
    description:
      'Share (0..1) of confident edge answers also re-answered by the full model after the response, to verify the guard (default: kept, else 0)',
    schema: fromText(regionSettingsSchema.shape.shadow.unwrap()),
  },
  'max-disagreement': {
    arg: 'share',
    description: `Guard: largest share (0..1, exclusive) of shadowed edge answers that may disagree with the full model (default: kept, else ${DEFAULT_GUARD.maxDisagreement})`,
    schema: fromText(guardSchema.shape.maxDisagreement),
  },
  confidence: {
    arg: 'c',
    description: `Guard: confidence (0.5 to 1, exclusive) of the Wilson interval it is judged with (default: kept, else ${DEFAULT_GUARD.confidence})`,
    schema: fromText(guardSchema.shape.confidence),
  },
  'max-usd-per-million': {
    arg: 'usd',
    description:
      'Money cap, USD per million requests: as spend nears it the controller answers a share of would-be forwards at the edge, flagged (default: kept)',
    schema: text.positive(),
  },
  note: { arg: 'text', description: 'A note stored with the version' },
} satisfies Record<string, OptionSpec>;
const VERIFY = {
  'window-minutes': {
    arg: 'n',
    description: 'Minutes of shadowed answers to judge (1-1440)',
    defaultText: '1440',
    schema: text.int(1, 24 * 60),
  },
  ...COMMON,
} satisfies Record<string, OptionSpec>;

const RANGE = {
  from: { arg: 'time', description: 'Range start: ISO 8601 or epoch ms (default: to - 1 h)' },
  to: { arg: 'time', description: 'Range end: ISO 8601 or epoch ms (default: now)' },
  region: { arg: 'key', description: 'Only this region key' },
  step: { choices: ['1m', '5m', '15m', '1h', '6h', '1d'], description: 'Series step (default: from the range)' },
} satisfies Record<string, OptionSpec>;

interface Command {
  usage: string;
  about: string;
  /** Names of the positional arguments. */
  args: string[];
  options: Record<string, OptionSpec>;
}

const COMMANDS: Record<string, Command> = {
  'regions list': {
    usage: 'npm run ops -- regions list [options]',
    about: 'Every region entry as published to KV (eventually consistent), with what it resolves to.',
    args: [],
    options: COMMON,
  },
  'regions get': {
    usage: 'npm run ops -- regions get <key> [options]',
    about:
      'One region entry (strongly consistent) and what it resolves to: thresholds applied, frontier point, expected accuracy, cost and edge share.',
    args: ['key'],
    options: COMMON,
  },
  'regions set': {
    usage: 'npm run ops -- regions set <key> (--thresholds=a,b,… | --budget=x | --max-forward-rate=x) [options]',
    about:
      "Creates or replaces a region entry. Settings not given are kept from the current entry (or the bundle defaults for a new one), the exit policy too when none of --thresholds, --budget, --max-forward-rate is given (an existing entry only); the controller's re-solve is kept only while the forward-rate budget, policy and split stay the same, its guard floors and the canary while the policy does, what the money cap holds back while the cap does.",
    args: ['key'],
    options: {
      thresholds: {
        arg: 'a,b,…',
        description: 'Per-exit thresholds (above 1: exit off)',
        schema: fromText(z.array(z.number().min(0)).min(1)),
      },
      budget: {
        arg: 'x',
        description: "Mean cost budget, as a fraction of the backbone's MACs",
        schema: text.positive(),
      },
      'max-forward-rate': {
        arg: 'x',
        description:
          "Largest share (0..1) of requests forwarded to the backend: re-solved on the region's explored traffic (regions resolve, hourly cron)",
        schema: fromText(z.number().min(0).max(1)),
      },
      ...SETTINGS,
      ...WRITE,
      ...COMMON,
    },
  },
  'regions delete': {
    usage: 'npm run ops -- regions delete <key> [options]',
    about: 'Deletes a region entry (its history is kept).',
    args: ['key'],
    options: { ...WRITE, ...COMMON },
  },
  'regions history': {
    usage: 'npm run ops -- regions history <key> [options]',
    about: 'Every version of a region entry, oldest first.',
    args: ['key'],
    options: COMMON,
  },
  'regions rollback': {
    usage: 'npm run ops -- regions rollback <key> --version=<n> [options]',
    about: "Writes a new version with an old version's settings.",
    args: ['key'],
    options: {
      version: { arg: 'n', description: 'The version to roll back to (required)', schema: text.int(1) },
      ...WRITE,
      ...COMMON,
    },
  },
  'regions canary': {
    usage:
      'npm run ops -- regions canary <key> (--thresholds=a,b,… --share=x [--shadow=x] [--min-samples=n] | --stop) [options]',
    about:
      "Starts or stops a canary on an existing entry, judged by the controller. Its candidate thresholds serve a share of the region's requests and a share of its confident answers is shadow-verified; the controller (regions verify, the cron) promotes it once it demonstrates the guard on its minimum samples, or rolls it back. --stop removes it. Writes the current entry back with the canary set or removed (If-Match: the version read).",
    args: ['key'],
    options: {
      thresholds: {
        arg: 'a,b,…',
        description: "The canary's per-exit thresholds (above 1: exit off; required to start one)",
        schema: fromText(z.array(z.number().min(0)).min(1)),
      },
      share: {
        arg: 'x',
        description: "Share (0 exclusive to 0.5) of the region's requests served with them (required to start one)",
        schema: fromText(canarySchema.shape.share),
      },
      shadow: {
        arg: 'share',
        description: "Share (0 exclusive to 1) of the canary's confident edge answers shadow-verified",
        defaultText: String(CANARY_SHADOW_DEFAULT),
        schema: fromText(canarySchema.shape.shadow.unwrap()),
      },
      'min-samples': {
        arg: 'n',
        description: 'Shadowed canary answers before it can be promoted (at least 30)',
        defaultText: String(CANARY_MIN_SAMPLES),
        schema: fromText(canarySchema.shape.minSamples.unwrap()),
      },
      stop: { flag: true, description: 'Remove the canary (the stable thresholds serve every request)' },
      note: { arg: 'text', description: 'A note stored with the version' },
      ...WRITE,
      ...COMMON,
    },
  },
  'regions guard': {
    usage: 'npm run ops -- regions guard <key> [options]',
    about:
      "A region's shadow verification against its guard, changing nothing. Per edge exit the shadowed answers at or above its threshold, their disagreement with the full model and its interval, and the guard's status; the shadow share, the share the guard needs and its cost; the stable and canary arms and the canary's decision.",
    args: ['key'],
    options: VERIFY,
  },
  'regions verify': {
    usage: 'npm run ops -- regions verify <key> [options]',
    about:
      'Verifies a region now and acts on it, as the cron does. Promotes or rolls back the canary, or raises the thresholds of exits whose guard broke; shows what regions guard shows, then the action taken (a new version and why) or no change.',
    args: ['key'],
    options: VERIFY,
  },
  'regions resolve': {
    usage: 'npm run ops -- regions resolve <key> [options]',
    about:
      "Re-solves a region's forward-rate budget on its explored traffic now (as the hourly cron does). Writes the thresholds found as a new version and shows the samples, forward rate with its 95 % interval, whether the budget was met, expected accuracy and cost.",
    args: ['key'],
    options: {
      'window-minutes': {
        arg: 'n',
        description: 'Minutes of explored traffic to solve on (1-1440)',
        defaultText: '60',
        schema: text.int(1, 24 * 60),
      },
      floor: {
        arg: 'x',
        description: 'Accuracy guard: lowest position on the frontier path (point i at i)',
        defaultText: 'the cheapest certified point',
        schema: fromText(z.number().min(0)),
      },
      ...COMMON,
    },
  },
  'budget set': {
    usage: 'npm run ops -- budget set <key> <budget> [options]',
    about:
      "Sets a region's cost budget (a fraction of the backbone's MACs) and shows the frontier point it resolves to.",
    args: ['key', 'budget'],
    options: { ...SETTINGS, ...WRITE, ...COMMON },
  },
  frontier: {
    usage: 'npm run ops -- frontier [options]',
    about:
      "The bundle's calibrated operating points per policy: thresholds, expected accuracy and cost, edge share at the default split, the default.",
    args: [],
    options: { policy: { choices: POLICIES, description: 'Only this policy' }, ...COMMON },
  },
  metrics: {
    usage: 'npm run ops -- metrics [options]',
    about:
      'Decision metrics from D1 (GET /v1/metrics): totals, per region (edge rate, latency p50/p95/p99) and the series per step.',
    args: [],
    options: { ...RANGE, ...COMMON },
  },
  cost: {
    usage: 'npm run ops -- cost [options]',
    about:
      'USD per million requests of the actual mix against the counterfactuals (all on the GPU, full model at the edge, Workers AI), overall and per region.',
    args: [],
    options: { ...RANGE, ...COMMON },
  },
};

const ENV = {
  EDGE_URL: `the edge worker (default ${DEFAULT_URL})`,
  ADMIN_TOKEN: `the admin bearer token (default npm start's, ${DEV_ADMIN_TOKEN})`,
};

export function overview(): string {
  const rows = Object.entries(COMMANDS).map(([, c]) => [
    `  ${c.usage.replace('npm run ops -- ', '')}`,
    c.about.split('. ')[0]!.replace(/\.$/, ''),
  ]);
  return [
    'npm run ops -- <command> [options]',
    '',
    "Operator CLI for the edge worker's admin API: region entries, budgets and the bundle's operating points.",
    '',
    'Commands:',
    table(rows),
    '',
    'Every command takes --url, --token and --json; `npm run ops -- <command> --help` lists its options.',
    'Exit codes: 0 done, 1 the request failed (conflict, refused token, unreachable worker), 2 usage error.',
    '',
    'Environment:',
    table(Object.entries(ENV).map(([k, v]) => [`  ${k}`, v])),
  ].join('\n');
}

type Values = Record<string, unknown> & { url: string; token: string; json: boolean };

/** The command, its positional arguments and its options, or the help to print. */
export function parseCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): { help: string } | { name: string; args: string[]; values: Values } {
  let end = argv.findIndex((a) => a.startsWith('-'));
  if (end < 0) end = argv.length;
  const words = argv.slice(0, end);
  const help = argv.includes('--help') || argv.includes('-h');
  const name = words[0] && COMMANDS[words[0]] ? words[0] : words.slice(0, 2).join(' ');
  const cmd = COMMANDS[name];
  if (!cmd) {
    if (help || words.length === 0) return { help: overview() };
    throw new ConfigError(
      `unknown command "${words.join(' ')}"; expected one of: ${Object.keys(COMMANDS).join(', ')} (see npm run ops -- --help)`,
    );
  }
  const spec = {
    usage: cmd.usage,
    about: cmd.about,
    options: cmd.options,
    env: ENV,
    hint: ` (see ${cmd.usage.split(' <')[0]!.split(' [')[0]} --help)`,
  };
  const parsed = parseCli(spec, argv.slice(end));
  if ('help' in parsed) return parsed;
  const args = words.slice(name.split(' ').length);
  if (args.length !== cmd.args.length)
    throw new ConfigError(
      `${name} takes ${cmd.args.length ? cmd.args.map((a) => `<${a}>`).join(' ') : 'no arguments'}, got ${args.length ? args.join(' ') : 'none'}; usage: ${cmd.usage}`,
    );
  if (cmd.args[0] === 'key') {
    const k = regionKeySchema.safeParse(args[0]);
    if (!k.success) throw new ConfigError(k.error.issues[0]!.message);
  }
  const values = parsed.values as Record<string, unknown>;
  return {
    name,
    args,
    values: {
      ...values,
      url: (values.url as string | undefined) ?? env.EDGE_URL ?? DEFAULT_URL,
      token: (values.token as string | undefined) ?? env.ADMIN_TOKEN ?? DEV_ADMIN_TOKEN,
      json: values.json === true,
    },
  };
}

type Entry = RegionEntry & { key: string; resolved: Resolved };
const print = (s: string) => console.log(s);
const printJson = (v: unknown) => console.log(JSON.stringify(v, null, 2));

async function read(api: AdminClient, key: string): Promise<Entry | null> {
  const res = await api.request('GET', `/regions/${key}`);
  if (res.status === 404) return null;
  if (res.status !== 200) throw failure(res);
  return res.body as Entry;
}

async function frontier(api: AdminClient): Promise<FrontierView> {
  const res = await api.request('GET', '/frontier');
  if (res.status !== 200) throw failure(res);
  return res.body as FrontierView;
}

/**
 * Reads the current version, writes with If-Match (or without, to create), and on a 412 (428: created
 * in between) either reports the conflict or, with --force, re-reads and tries once more.
 */
async function conditional(
  api: AdminClient,
  key: string,
  v: Values,
  write: (current: Entry | null, ifMatch: number | undefined) => Promise<import('./client.js').ApiResponse>,
): Promise<import('./client.js').ApiResponse> {
  let pinned = v['if-match'] as number | undefined;
  for (let attempt = 0; ; attempt++) {
    const current = await read(api, key);
    const ifMatch = pinned ?? current?.version;
    const res = await write(current, ifMatch);
    if (res.status !== 412 && res.status !== 428) {
      if (res.status >= 300) throw failure(res);
      return res;
    }
    const now = res.etag ?? (await read(api, key))?.version;
    if (v.force && attempt === 0) {
      pinned = undefined;
      continue;
    }
    throw new OpsError(
      `conflict: region ${key} changed since it was read (${ifMatch === undefined ? 'it had no entry' : `If-Match ${ifMatch}`}, it is now ${now === undefined ? 'deleted' : `at version ${now}`}); nothing was written. Check it with \`npm run ops -- regions get ${key}\`, then run again${v.force ? '' : ', or add --force to re-read and retry once'}`,
    );
  }
}

/** How a write gives the exit policy: exactly one of these. */
type Given = { thresholds: number[] } | { budget: number } | { maxForwardRate: number };

/** How `s` gives its exit policy (what a write that gives none keeps). */
export function givenOf(s: RegionSettings): Given {
  if (s.thresholds) return { thresholds: s.thresholds };
  if (s.maxForwardRate !== undefined) return { maxForwardRate: s.maxForwardRate };
  return { budget: s.budget! };
}

/**
 * The settings to write: `given` replaces whichever of thresholds / budget / maxForwardRate the
 * current entry has; policy, split, encoding, explore, shadow, the guard (--max-disagreement and
 * --confidence: one alone takes the other from the current guard, else DEFAULT_GUARD) and the money
 * cap are the options' or kept from `base` (the bundle's defaults for a new entry). What the
 * controller wrote is kept only while it still answers the same question: the re-solve while the
 * maxForwardRate, policy and split are the same; guard floors and the canary (thresholds on the
 * policy's scores) while the policy is; what the money cap holds back while the cap is. Otherwise dropped.
 */
export function nextSettings(
  base: RegionSettings | undefined,
  given: Given,
  v: Record<string, unknown>,
  defaults: { policy: string; split: number } | undefined,
): RegionSettings {
  const policy = (v.policy as RegionSettings['policy'] | undefined) ?? base?.policy ?? defaults?.policy;
  const split = (v.split as number | undefined) ?? base?.split ?? defaults?.split;
  if (policy === undefined || split === undefined) throw new Error('nextSettings: a new entry needs the defaults');
  const explore = (v.explore as number | undefined) ?? base?.explore;
  const solved =
    'maxForwardRate' in given &&
    base?.solved &&
    base.maxForwardRate === given.maxForwardRate &&
    base.policy === policy &&
    base.split === split
      ? base.solved
      : undefined;
  const shadow = (v.shadow as number | undefined) ?? base?.shadow;
  const maxD = v['max-disagreement'] as number | undefined;
  const conf = v.confidence as number | undefined;
  const guard =
    maxD === undefined && conf === undefined
      ? base?.guard
      : {
          maxDisagreement: maxD ?? base?.guard?.maxDisagreement ?? DEFAULT_GUARD.maxDisagreement,
          confidence: conf ?? base?.guard?.confidence ?? DEFAULT_GUARD.confidence,
        };
  const samePolicy = base?.policy === policy;
  const guarded = samePolicy ? base?.guarded : undefined;
  const canary = samePolicy ? base?.canary : undefined;
  const maxUsdPerMillion = (v['max-usd-per-million'] as number | undefined) ?? base?.maxUsdPerMillion;
  const capped = base?.capped && base.maxUsdPerMillion === maxUsdPerMillion ? base.capped : undefined;
  return {
    policy: policy as RegionSettings['policy'],
    ...given,
    ...(explore === undefined ? {} : { explore }),
    ...(solved ? { solved } : {}),
    split,
    encoding: (v.encoding as RegionSettings['encoding'] | undefined) ?? base?.encoding ?? 'f16',
    ...(shadow === undefined ? {} : { shadow }),
    ...(guard ? { guard } : {}),
    ...(guarded ? { guarded } : {}),
    ...(canary ? { canary } : {}),
    ...(maxUsdPerMillion === undefined ? {} : { maxUsdPerMillion }),
    ...(capped ? { capped } : {}),
    ...(v.note === undefined ? {} : { note: v.note as string }),
  };
}

/**
 * The settings `regions canary` writes: the current ones with the canary set from the options (a new
 * canary: its start is the write's) or, with --stop, removed; the note is the option's, not carried over.
 */
export function canarySettings(current: RegionSettings, v: Record<string, unknown>): RegionSettings {
  const { canary: _old, note: _note, ...rest } = current;
  const note = v.note === undefined ? {} : { note: v.note as string };
  if (v.stop) return { ...rest, ...note };
  return {
    ...rest,
    canary: {
      thresholds: v.thresholds as number[],
      share: v.share as number,
      ...(v.shadow === undefined ? {} : { shadow: v.shadow as number }),
      ...(v['min-samples'] === undefined ? {} : { minSamples: v['min-samples'] as number }),
    },
    ...note,
  };
}

/** Writes nextSettings (`given` null: keep the current entry's exit policy, which it must have). */
async function setSettings(api: AdminClient, key: string, v: Values, given: Given | null): Promise<void> {
  let defaults: FrontierView | undefined;
  const res = await conditional(api, key, v, async (current, ifMatch) => {
    const base = current?.settings;
    if (!base && !given)
      throw new OpsError(
        `region ${key} has no entry; give one of --thresholds=a,b,…, --budget=x or --max-forward-rate=x to create it`,
      );
    if (!base) defaults ??= await frontier(api);
    const settings = nextSettings(
      base,
      given ?? givenOf(base!),
      v,
      defaults && { policy: defaults.defaultPolicy, split: defaults.defaultSplit },
    );
    return api.request('PUT', `/regions/${key}`, {
      body: settings,
      ifMatch: current || v['if-match'] ? ifMatch : undefined,
    });
  });
  if (v.json) return printJson(res.body);
  print(entryText(res.body as Entry));
  print(`\n${res.status === 201 ? 'created' : 'replaced'}: version ${res.etag}${publishNote(res.headers)}`);
}

const publishNote = (h: Headers) =>
  h.get('x-kv-publish') === 'pending' ? ' (stored; the edge sees it once KV takes it, retried automatically)' : '';

async function run(name: string, args: string[], v: Values): Promise<void> {
  const api = adminClient(v.url, v.token);
  const key = args[0]!;
  switch (name) {
    case 'regions list': {
      const res = await api.request('GET', '/regions');
      if (res.status !== 200) throw failure(res);
      const body = res.body as { regions: { key: string; version: number; updatedAt: string; resolved: Resolved }[] };
      if (v.json) return printJson(body);
      const rows = [['KEY', 'VERSION', 'UPDATED', 'FROM', 'POINT', 'COST', 'ACCURACY', 'EDGE']];
      for (const r of body.regions) {
        const p = r.resolved.point;
        rows.push([
          r.key,
          String(r.version),
          r.updatedAt,
          r.resolved.problems.length ? 'does not fit' : r.resolved.from,
          p
            ? `${p.policy} #${p.index}`
            : r.resolved.from === 'live' && !r.resolved.problems.length
              ? 'live re-solve'
              : '-',
          p ? pct(p.cost) : '-',
          p ? pct(p.accuracy) : '-',
          p ? pct(p.edgeShare, 1) : '-',
        ]);
      }
      return print(body.regions.length ? table(rows, ['l', 'r', 'l', 'l', 'l', 'r', 'r', 'r']) : 'no region entries');
    }
    case 'regions get': {
      const e = await read(api, key);
      if (!e) throw new OpsError(`no entry for region ${key}`);
      return v.json ? printJson(e) : print(entryText(e));
    }
    case 'regions set': {
      const kinds = [
        v.thresholds === undefined ? null : { thresholds: v.thresholds as number[] },
        v.budget === undefined ? null : { budget: v.budget as number },
        v['max-forward-rate'] === undefined ? null : { maxForwardRate: v['max-forward-rate'] as number },
      ].filter((k) => k !== null);
      // None of them: an existing entry keeps its own, when some other setting is given.
      const others = Object.keys(SETTINGS).some((k) => v[k] !== undefined);
      if (kinds.length > 1 || (kinds.length === 0 && !others))
        throw new ConfigError(
          'regions set: give exactly one of --thresholds=a,b,…, --budget=x or --max-forward-rate=x (see --help)',
        );
      return setSettings(api, key, v, kinds[0] ?? null);
    }
    case 'regions canary': {
      const start = ['thresholds', 'share', 'shadow', 'min-samples'].filter((k) => v[k] !== undefined);
      if (v.stop && start.length)
        throw new ConfigError(
          `regions canary: --stop takes none of ${start.map((k) => `--${k}`).join(', ')} (see --help)`,
        );
      if (!v.stop && (v.thresholds === undefined || v.share === undefined))
        throw new ConfigError(
          'regions canary: give --thresholds=a,b,… and --share=x to start a canary, or --stop to remove it (see --help)',
        );
      const res = await conditional(api, key, v, async (current, ifMatch) => {
        if (!current) throw new OpsError(`no entry for region ${key}; a canary runs on an existing entry`);
        if (v.stop && !current.settings.canary)
          throw new OpsError(`region ${key} has no canary (version ${current.version}); nothing was written`);
        return api.request('PUT', `/regions/${key}`, { body: canarySettings(current.settings, v), ifMatch });
      });
      if (v.json) return printJson(res.body);
      print(entryText(res.body as Entry));
      return print(`\ncanary ${v.stop ? 'stopped' : 'started'}: version ${res.etag}${publishNote(res.headers)}`);
    }
    case 'regions guard':
    case 'regions verify': {
      const qs = new URLSearchParams();
      if (v['window-minutes'] !== undefined) qs.set('windowMinutes', String(v['window-minutes']));
      const verify = name === 'regions verify';
      const res = await api.request(
        verify ? 'POST' : 'GET',
        `/regions/${key}/${verify ? 'verify' : 'guard'}${qs.size ? `?${qs}` : ''}`,
      );
      if (res.status !== 200) throw failure(res);
      if (v.json) return printJson(res.body);
      return print(verificationText(key, res.body as VerificationView, verify));
    }
    case 'regions resolve': {
      const qs = new URLSearchParams();
      if (v['window-minutes'] !== undefined) qs.set('windowMinutes', String(v['window-minutes']));
      if (v.floor !== undefined) qs.set('floor', String(v.floor));
      const res = await api.request('POST', `/regions/${key}/resolve${qs.size ? `?${qs}` : ''}`);
      if (res.status !== 200) throw failure(res);
      if (v.json) return printJson(res.body);
      return print(resolveText(res.body as Entry, publishNote(res.headers)));
    }
    case 'budget set': {
      const b = text.positive().safeParse(args[1]);
      if (!b.success)
        throw new ConfigError(`budget set: <budget> must be a number > 0, not ${JSON.stringify(args[1])}`);
      return setSettings(api, key, v, { budget: b.data });
    }
    case 'regions delete': {
      let deleted: number | undefined;
      const res = await conditional(api, key, v, async (current, ifMatch) => {
        if (!current && v['if-match'] === undefined) throw new OpsError(`no entry for region ${key}`);
        deleted = ifMatch;
        return api.request('DELETE', `/regions/${key}`, { ifMatch });
      });
      if (v.json) return printJson({ key, deleted: true, version: deleted });
      return print(`deleted ${key} (version ${deleted}; its history is kept)${publishNote(res.headers)}`);
    }
    case 'regions history': {
      const res = await api.request('GET', `/regions/${key}/history`);
      if (res.status !== 200) throw failure(res);
      const body = res.body as { versions: RegionEntry[] };
      if (v.json) return printJson(body);
      return print(historyText(key, body.versions));
    }
    case 'regions rollback': {
      if (v.version === undefined) throw new ConfigError('regions rollback: --version=<n> is required (see --help)');
      const res = await conditional(api, key, v, async (current, ifMatch) =>
        api.request('POST', `/regions/${key}/rollback`, {
          body: { version: v.version },
          ifMatch: current || v['if-match'] ? ifMatch : undefined,
        }),
      );
      if (v.json) return printJson(res.body);
      print(entryText(res.body as Entry));
      return print(`\nrolled back to version ${v.version}: new version ${res.etag}${publishNote(res.headers)}`);
    }
    case 'frontier': {
      const f = await frontier(api);
      const policy = v.policy as string | undefined;
      if (policy && !f.policies[policy])
        throw new OpsError(`the bundle ${f.bundle} has no frontier for policy ${policy}`);
      const shown = policy ? { ...f, policies: { [policy]: f.policies[policy]! } } : f;
      return v.json ? printJson(shown) : print(frontierText(shown));
    }
    case 'metrics':
    case 'cost': {
      const qs = new URLSearchParams();
      for (const k of ['from', 'to', 'region', 'step'] as const) if (v[k] !== undefined) qs.set(k, String(v[k]));
      const res = await api.request('GET', `/v1/metrics${qs.size ? `?${qs}` : ''}`);
      if (res.status !== 200) throw failure(res);
      const body = res.body as MetricsView;
      if (v.json) return printJson(name === 'cost' ? costJson(body) : body);
      return print(name === 'cost' ? costText(body) : metricsText(body));
    }
  }
}

/**
 * Runs a command line; returns the exit code, having printed the result or the error
 * (`error: <message>`: 2 for a usage error, 1 for a failed request).
 */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    const parsed = parseCommand(argv, env);
    if ('help' in parsed) {
      print(parsed.help);
      return 0;
    }
    await run(parsed.name, parsed.args, parsed.values);
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`error: ${e.message}`);
      return 2;
    }
    if (e instanceof OpsError) {
      console.error(`error: ${e.message}`);
      return e.exitCode;
    }
    throw e;
  }
}

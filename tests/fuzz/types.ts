/**
 * The fuzz suite's case format (issue #9). A case is one labelled request (plus, for stateful
 * surfaces, the requests that follow it); the label says what the system MUST answer. Plain data
 * and plain TS: the same cases run in Node (scripts/fuzz.ts, tests/e2e) and in workerd (tests/worker).
 */

/** 'ok': 2xx with a well-formed answer; '4xx': any 400-499; a number: exactly that status. */
export type Outcome = 'ok' | '4xx' | number;
/** One outcome, or several allowed ones (the spec leaves the choice open, e.g. duplicate JSON keys). */
export type Expect = Outcome | readonly Outcome[];

/** What a 2xx body must look like. */
export type AnswerKind = 'classify' | 'resume' | 'json' | 'text' | 'none';

export interface FuzzRequest {
  method: string;
  /** Path + query as sent on the request line (runners may substitute `{KEY}`, see keys.ts). */
  path: string;
  /** Ordered pairs: a name may repeat (duplicate headers). */
  headers: [string, string][];
  body?: Uint8Array;
}

/** Spellings of `x-cascade-signature` for the same (t, MAC); only some are syntactically valid. */
export type Spelling =
  | 'canonical'
  | 'upper-hex'
  | 'mixed-hex'
  | 'ows-space'
  | 'ows-tab'
  | 'reordered'
  | 'duplicate'
  | 'duplicate-variant'
  | 'space-after-comma'
  | 'semicolon'
  | 'extra-field'
  | 'leading-zero-t'
  | 'upper-keys'
  | 'trailing-comma'
  | 'spaces-around-equals'
  | 'plus-t'
  | 'quoted'
  | 'v1-twice';

/** How the runner signs a backend step just before sending it (the clock is the runner's). */
export interface SignSpec {
  /** 'right': the backend's secret; 'wrong': another one; 'none': no header at all. */
  secret: 'right' | 'wrong' | 'none';
  /** t = now + skewMs (expired or future signatures). */
  skewMs?: number;
  /** Sign these bytes instead of the body that is sent (a tampered body). */
  over?: Uint8Array;
  spelling?: Spelling;
  /** Replace the MAC: random hex of the right length, or a truncated one. */
  mac?: 'random' | 'truncated' | 'zeros';
  /** A literal header value instead of a signature (malformed values). */
  raw?: string;
  /** Reuse the (t, MAC) of this case's first signed step: a replay. */
  reuse?: boolean;
}

export interface Step {
  request: FuzzRequest;
  expect: Expect;
  /** Shape check of a 2xx body. */
  answer?: AnswerKind;
  sign?: SignSpec;
  /** Fields a 2xx JSON body must have with exactly these values. */
  expectJson?: Record<string, unknown>;
  /** Response headers that must have exactly these values. */
  expectHeaders?: Record<string, string>;
  /** Send this many copies at once (same bytes, same signature): exactly one may succeed, the rest must be 401. */
  concurrent?: number;
}

export interface FuzzCase extends Step {
  name: string;
  class: string;
  /** Requests that follow the first one, in order (stateful surfaces: replays, admin versions). */
  then?: Step[];
  /** Needs a fresh admin region key, substituted for `{KEY}` in every step. */
  freshKey?: boolean;
}

/** The facts about the bundle the generators need (a subset of core/manifest.ts's Manifest). */
export interface FuzzModel {
  name: string;
  classes: string[];
  input: { shape: number[] };
  backbone: { sha256: string };
  segments: { inputShape: number[] }[];
  /** `scheduler`: the exit's EENet scheduler, where the bundle has one (policy `eenet` needs one on every exit). */
  exits: { scheduler?: unknown }[];
  policies: { frontier: Record<string, { cost: number }[]> };
}

export interface FuzzClass {
  /** Class name, as reported. */
  name: string;
  surface: 'edge' | 'admin' | 'backend';
  /** Share of the cases (relative). */
  weight: number;
  /** Generator of one case (given a model). */
  arb: import('fast-check').Arbitrary<FuzzCase>;
}

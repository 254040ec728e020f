/**
 * Generators for the admin API (`/admin/regions…`, bearer token): authorization variants, region
 * keys, If-Match values, settings and rollback bodies, and whole create → replace → conflict →
 * rollback → delete lifecycles on a fresh key (`{KEY}`, see keys.ts), each step labelled.
 * Keys `colo:P??` are never written by the fuzz suite (reads of them must be 404).
 */
import fc from 'fast-check';
import { FEATURE_ENCODINGS } from '../../core/regions.js';
import type { Expect, FuzzCase, FuzzClass, FuzzModel, FuzzRequest, Step } from './types.js';
import { budgetPolicies, enc, servablePolicies } from './util.js';

const L = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('');
const two = fc.tuple(fc.constantFrom(...L), fc.constantFrom(...L)).map(([a, b]) => a + b);
/** Valid keys no fuzz case ever writes. */
export const unwrittenKey = two.map((s) => `colo:P${s}`);

export function adminClasses(m: FuzzModel, token: string): FuzzClass[] {
  const exits = m.exits.length,
    segments = m.segments.length;
  const auth: [string, string] = ['authorization', `Bearer ${token}`];
  const json = (v: unknown) => enc(typeof v === 'string' ? v : JSON.stringify(v));
  const call = (
    method: string,
    path: string,
    headers: [string, string][] = [],
    body?: unknown,
    type: string | null = 'application/json',
  ): FuzzRequest => ({
    method,
    path: `/admin${path}`,
    headers: [...headers, ...(body !== undefined && type !== null ? [['content-type', type] as [string, string]] : [])],
    ...(body !== undefined ? { body: body instanceof Uint8Array ? body : json(body) } : {}),
  });

  // ---- settings --------------------------------------------------------------------------------
  // Thresholds: any policy the bundle serves (eenet only with a scheduler on every exit); a budget:
  // only a policy with a calibrated frontier (the admin API refuses a budget for any other).
  const thresholdPolicies = servablePolicies(m),
    budgeted = budgetPolicies(m);
  const cheapestOf = (p: string) => m.policies.frontier[p]?.[0]?.cost;
  const cheapest = budgeted.length ? Math.max(...budgeted.map((p) => cheapestOf(p)!)) : 0;
  const validSettings = fc
    .record({
      tPolicy: fc.constantFrom(...thresholdPolicies),
      bPolicy: fc.constantFrom(...(budgeted.length ? budgeted : thresholdPolicies)),
      mode: budgeted.length ? fc.constantFrom('thresholds', 'budget') : fc.constant('thresholds'),
      t: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: exits, maxLength: exits }),
      budget: fc.double({ min: cheapest + 1e-6, max: 3, noNaN: true }),
      split: fc.integer({ min: 1, max: segments }),
      encoding: fc.constantFrom(...FEATURE_ENCODINGS),
      note: fc.option(fc.string({ maxLength: 500 }), { nil: undefined }),
    })
    .map(({ tPolicy, bPolicy, mode, t, budget, split, encoding, note }) => ({
      policy: mode === 'thresholds' ? tPolicy : bPolicy,
      ...(mode === 'thresholds' ? { thresholds: t } : { budget }),
      split,
      encoding,
      ...(note !== undefined ? { note } : {}),
    }));
  type S = Record<string, unknown>;
  const breakSettings: [string, (s: S, r: number) => unknown][] = [
    ['unknown policy', (s, r) => ({ ...s, policy: ['softmax', 'Entropy', '', 'max_softmax', null, 1][r % 6] })],
    [
      'missing policy',
      (s) => {
        const { policy: _p, ...rest } = s;
        return rest;
      },
    ],
    ['both thresholds and budget', (s) => ({ ...s, thresholds: new Array(exits).fill(0.5), budget: 1 })],
    [
      'neither thresholds nor budget',
      (s) => {
        const { thresholds: _t, budget: _b, ...rest } = s;
        return rest;
      },
    ],
    [
      'thresholds of the wrong length',
      (s, r) => {
        const { budget: _b, ...rest } = s;
        return { ...rest, thresholds: new Array([0, 1, exits - 1, exits + 1, 10][r % 5]).fill(0.5) };
      },
    ],
    [
      'threshold > 1 for a softmax policy',
      (s, r) => {
        const { budget: _b, ...rest } = s;
        return {
          ...rest,
          policy: r % 2 ? 'max-softmax' : 'entropy',
          thresholds: new Array(exits).fill(0.5).map((x, i) => (i === r % exits ? 1.5 : x)),
        };
      },
    ],
    [
      'negative / huge / non-number threshold',
      (s, r) => {
        const { budget: _b, ...rest } = s;
        return {
          ...rest,
          thresholds: new Array(exits)
            .fill(0.5)
            .map((x, i) => (i === r % exits ? [-0.1, 2e9, '0.5', null, true, [0.5]][r % 6] : x)),
        };
      },
    ],
    [
      'budget ≤ 0 / below the cheapest point / not a number',
      (s, r) => {
        const { thresholds: _t, ...rest } = s;
        return { ...rest, budget: [0, -1, (cheapestOf(String(s.policy)) ?? cheapest) / 2, '1', null, 1e-9][r % 6] };
      },
    ],
    [
      'split out of range or not an integer',
      (s, r) => ({ ...s, split: [0, -1, segments + 1, 1.5, '2', null, 1e9][r % 7] }),
    ],
    [
      'missing split',
      (s) => {
        const { split: _x, ...rest } = s;
        return rest;
      },
    ],
    ['unknown encoding', (s, r) => ({ ...s, encoding: ['f64', 'F16', 'int8', '', null, 'bf16'][r % 6] })],
    ['note over 500 characters / not a string', (s, r) => ({ ...s, note: r % 2 ? 'x'.repeat(501 + (r % 1000)) : 42 })],
    ['extra key', (s, r) => ({ ...s, [['version', 'key', 'updatedAt', 'Policy', '__proto__x', 'exits'][r % 6]!]: 1 })],
    ['not an object', (_s, r) => [[], 'settings', 1, null, true][r % 5]],
  ];
  const invalidSettings = fc
    .tuple(validSettings, fc.nat(breakSettings.length - 1), fc.nat(1_000_000))
    .map(([s, k, r]) => {
      const [what, f] = breakSettings[k]!;
      return { what, body: f(s as S, r) };
    });

  // ---- authorization -----------------------------------------------------------------------------
  const endpoints = unwrittenKey.chain((k) =>
    fc.constantFrom<[string, string, unknown?]>(
      ['GET', '/regions'],
      ['GET', `/regions/${k}`],
      ['PUT', `/regions/${k}`, {}],
      ['DELETE', `/regions/${k}`],
      ['GET', `/regions/${k}/history`],
      ['POST', `/regions/${k}/rollback`, { version: 1 }],
      ['GET', '/nope'],
      ['PATCH', `/regions/${k}`],
      ['GET', '/'],
      ['GET', '/regions/'],
    ),
  );
  const badAuth = fc.constantFrom<[string, string[]]>(
    ['none', []],
    ['empty', ['']],
    ['scheme only', ['Bearer']],
    ['scheme and space', ['Bearer ']],
    ['two spaces', [`Bearer  ${token}`]],
    ['tab', [`Bearer\t${token}`]],
    ['Basic', [`Basic ${btoa(`admin:${token}`)}`]],
    ['token only', [token]],
    ['token + x', [`Bearer ${token}x`]],
    ['token - last char', [`Bearer ${token.slice(0, -1)}`]],
    ['token upper-cased', [`Bearer ${token.toUpperCase()}`]],
    ['quoted token', [`Bearer "${token}"`]],
    ['two Authorization headers', [`Bearer ${token}`, `Bearer ${token}`]],
    ['wrong token', ['Bearer not-the-admin-token']],
    ['token with comma list', [`Bearer ${token}, Bearer ${token}`]],
    ['Bearer= token', [`Bearer=${token}`]],
    ['token in a query is not auth', []],
    ['Digest', ['Digest username="admin"']],
    ['bearer token with trailing junk', [`Bearer ${token} x`]],
  );
  const authCase = fc.tuple(endpoints, badAuth).map(
    ([[method, path, body], [what, values]]): FuzzCase => ({
      class: 'admin-auth',
      name: `${what}: ${method} /admin${path}`,
      request: call(
        method,
        what.includes('query') ? `${path}?token=${token}` : path,
        values.map((v) => ['authorization', v] as [string, string]),
        body,
      ),
      expect: 401,
      expectJson: { code: 'UNAUTHORIZED' },
    }),
  );
  const goodAuth = fc
    .constantFrom(`Bearer ${token}`, `bearer ${token}`, `BEARER ${token}`, `BeArEr ${token}`, ` Bearer ${token} `)
    .map(
      (v): FuzzCase => ({
        class: 'admin-auth',
        name: `valid spelling ${JSON.stringify(v)}: GET /admin/regions`,
        request: call('GET', '/regions', [['authorization', v]]),
        expect: 200,
        answer: 'json',
      }),
    );

  // ---- keys --------------------------------------------------------------------------------------
  const BAD_KEYS = [
    'colo:lhr',
    'colo:LH',
    'colo:LHRX',
    'country:GBR',
    'country:g',
    'continent:XX',
    'continent:eu',
    'Default',
    'DEFAULT',
    'default%20',
    '%20default',
    'colo%3Alhr',
    'colo',
    'colo:',
    ':LHR',
    'colo::LHR',
    'colo:L%00R',
    'colo:%C3%84BC',
    'region:colo:LHR',
    'colo:LHR%0A',
    'x'.repeat(300),
  ];
  const keyCase = fc.oneof(
    fc.tuple(fc.constantFrom(...BAD_KEYS), fc.constantFrom('', '/history')).map(
      ([k, sub]): FuzzCase => ({
        class: 'admin-keys',
        name: `bad key ${k.slice(0, 40)}${sub}`,
        request: call('GET', `/regions/${k}${sub}`, [auth]),
        expect: 400,
        expectJson: { code: 'BAD_REGION' },
      }),
    ),
    fc.tuple(fc.constantFrom(...BAD_KEYS), validSettings).map(
      ([k, s]): FuzzCase => ({
        class: 'admin-keys',
        name: `PUT bad key ${k.slice(0, 40)}`,
        request: call('PUT', `/regions/${k}`, [auth], s),
        expect: 400,
        expectJson: { code: 'BAD_REGION' },
      }),
    ),
    unwrittenKey.map(
      (k): FuzzCase => ({
        class: 'admin-keys',
        name: `GET unwritten ${k}`,
        request: call('GET', `/regions/${k}`, [auth]),
        expect: 404,
        expectJson: { code: 'REGION_NOT_FOUND' },
      }),
    ),
    unwrittenKey.map(
      (k): FuzzCase => ({
        class: 'admin-keys',
        name: `GET unwritten ${k} percent-encoded colon`,
        request: call('GET', `/regions/${k.replace(':', '%3A')}`, [auth]),
        expect: [404, 400],
      }),
    ),
    unwrittenKey.map(
      (k): FuzzCase => ({
        class: 'admin-keys',
        name: `history of unwritten ${k}`,
        request: call('GET', `/regions/${k}/history`, [auth]),
        expect: 200,
        answer: 'json',
      }),
    ),
    unwrittenKey.map(
      (k): FuzzCase => ({
        class: 'admin-keys',
        name: `rollback of unwritten ${k}`,
        request: call('POST', `/regions/${k}/rollback`, [auth], { version: 1 }),
        expect: 404,
      }),
    ),
    unwrittenKey.map(
      (k): FuzzCase => ({
        class: 'admin-keys',
        name: `DELETE unwritten ${k} with If-Match 1`,
        request: call('DELETE', `/regions/${k}`, [auth, ['if-match', '1']]),
        expect: [404, 412],
      }),
    ),
    fc
      .constantFrom(
        '/regions/colo:PAA/extra',
        '/regions/colo:PAA/history/x',
        '/regionsx',
        '/region/colo:PAA',
        '/regions//history',
      )
      .map(
        (p): FuzzCase => ({
          class: 'admin-keys',
          name: `unknown admin path ${p}`,
          request: call('GET', p, [auth]),
          expect: [404, 400],
        }),
      ),
  );

  // ---- If-Match ----------------------------------------------------------------------------------
  const BAD_IF_MATCH = [
    '0x1',
    '1e3',
    '01',
    '00',
    'W/"3"',
    'w/"3"',
    '*',
    '-1',
    '+1',
    '1.0',
    '" 3"',
    '"3',
    '3"',
    '""',
    '',
    'abc',
    '3, 4',
    '"3", "4"',
    '"3","3"',
    '9007199254740993',
    '99999999999999999999',
    '0b1',
    '1_000',
    '"W/3"',
    "'3'",
    '3 4',
    'Infinity',
    'NaN',
    '1e0',
    '３'.replace('３', '3a'),
  ];
  const ifMatchCase = fc
    .tuple(
      fc.constantFrom(...BAD_IF_MATCH),
      fc.boolean(),
      fc.constantFrom('PUT', 'DELETE', 'POST'),
      unwrittenKey,
      validSettings,
    )
    .map(([v, twice, m0, k, s]): FuzzCase => {
      // An empty If-Match may be read as absent; only DELETE then stays a no-op on an unwritten key (428).
      const method = v === '' ? 'DELETE' : m0;
      const headers: [string, string][] = [auth, ['if-match', v]];
      // (An empty value is not repeated: runtimes disagree on how "" joins with a second line.)
      if (twice && v !== '') headers.push(['if-match', v]);
      const path = method === 'POST' ? `/regions/${k}/rollback` : `/regions/${k}`;
      const body = method === 'PUT' ? s : method === 'POST' ? { version: 1 } : undefined;
      return {
        class: 'admin-if-match',
        name: `${method} If-Match ${JSON.stringify(v)}${twice && v !== '' ? ' (twice)' : ''}`,
        request: call(method, path, headers, body),
        // An empty field value is an empty list (RFC 9110 5.6.1): refusing it (400) or treating it as absent (428 / the write) are both fine.
        ...(v === '' ? { expect: [400, 428] } : { expect: 400, expectJson: { code: 'BAD_IF_MATCH' } }),
      };
    });

  // ---- bodies ------------------------------------------------------------------------------------
  const bodyCase = fc.oneof(
    fc.tuple(invalidSettings, unwrittenKey).map(
      ([{ what, body }, k]): FuzzCase => ({
        class: 'admin-bodies',
        name: `PUT invalid settings: ${what}`,
        request: call('PUT', `/regions/${k}`, [auth], body),
        expect: 400,
      }),
    ),
    fc
      .tuple(
        validSettings,
        unwrittenKey,
        fc.constantFrom(
          'text/plain',
          'application/x-www-form-urlencoded',
          'application/jsonx',
          'multipart/form-data',
          null,
        ),
      )
      .map(
        ([s, k, t]): FuzzCase => ({
          class: 'admin-bodies',
          name: `PUT with content-type ${t}`,
          request: call('PUT', `/regions/${k}`, [auth], enc(JSON.stringify(s)), t),
          expect: 415,
          expectJson: { code: 'UNSUPPORTED_MEDIA_TYPE' },
        }),
      ),
    fc.tuple(unwrittenKey, fc.constantFrom('{', '{"policy":', 'nul', '\u00ff', '{"a":1}}', '')).map(
      ([k, b]): FuzzCase => ({
        class: 'admin-bodies',
        name: `PUT body not JSON ${JSON.stringify(b)}`,
        request: call('PUT', `/regions/${k}`, [auth], enc(b)),
        expect: 400,
      }),
    ),
    fc.tuple(unwrittenKey, fc.integer({ min: 1, max: 100_000 })).map(
      ([k, n]): FuzzCase => ({
        class: 'admin-bodies',
        name: `PUT body of ${16 * 1024 + n} bytes`,
        request: call(
          'PUT',
          `/regions/${k}`,
          [auth],
          enc(JSON.stringify({ policy: 'confidence', note: 'x'.repeat(16 * 1024 + n) })),
        ),
        expect: 413,
      }),
    ),
    fc
      .tuple(
        unwrittenKey,
        fc.constantFrom<unknown>(
          { version: 0 },
          { version: -1 },
          { version: 1.5 },
          { version: '1' },
          { version: null },
          {},
          [],
          1,
          { v: 1 },
          // biome-ignore lint/correctness/noPrecisionLoss: deliberately Infinity after parsing, as a JSON body can say
          { version: 1e400 },
        ),
      )
      .map(
        ([k, b]): FuzzCase => ({
          class: 'admin-bodies',
          name: `rollback body ${JSON.stringify(b)}`,
          request: call('POST', `/regions/${k}/rollback`, [auth], b),
          expect: 400,
        }),
      ),
    fc.tuple(unwrittenKey, fc.integer({ min: 1, max: 1e9 })).map(
      ([k, v]): FuzzCase => ({
        class: 'admin-bodies',
        name: `rollback to version ${v} of an unwritten key`,
        request: call('POST', `/regions/${k}/rollback`, [auth], { version: v, extra: 'ignored?' }),
        expect: [404, 400],
      }),
    ),
  );

  // ---- lifecycle on a fresh key --------------------------------------------------------------------
  const spellV = (v: number, quoted: boolean) => (quoted ? `"${v}"` : String(v));
  const lifecycle = fc
    .record({
      s: fc.array(validSettings, { minLength: 4, maxLength: 4 }),
      q: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
      bad: invalidSettings,
      badIm: fc.constantFrom(...BAD_IF_MATCH.filter((x) => x !== '')),
    })
    .map(({ s, q, bad, badIm }): FuzzCase => {
      const K = '/regions/{KEY}';
      const st = (request: FuzzRequest, expect: Expect, extra: Partial<Step> = {}): Step => ({
        request,
        expect,
        ...extra,
      });
      const steps: Step[] = [
        st(call('PUT', K, [auth], s[0]), 201, {
          answer: 'json',
          expectJson: { version: 1 },
          expectHeaders: { etag: '"1"' },
        }),
        st(call('GET', K, [auth]), 200, { answer: 'json', expectJson: { version: 1 }, expectHeaders: { etag: '"1"' } }),
        st(call('PUT', K, [auth], s[1]), 428, { expectJson: { code: 'IF_MATCH_REQUIRED' } }),
        st(call('PUT', K, [auth, ['if-match', badIm]], s[1]), 400, { expectJson: { code: 'BAD_IF_MATCH' } }),
        st(call('PUT', K, [auth, ['if-match', spellV(1, q[0]!)]], bad.body), 400),
        st(call('PUT', K, [auth, ['if-match', spellV(1, q[1]!)]], s[1]), 200, {
          answer: 'json',
          expectJson: { version: 2 },
          expectHeaders: { etag: '"2"' },
        }),
        st(call('PUT', K, [auth, ['if-match', spellV(1, q[2]!)]], s[2]), 412, {
          expectJson: { code: 'VERSION_CONFLICT' },
        }),
        st(call('GET', `${K}/history`, [auth]), 200, { answer: 'json' }),
        st(call('POST', `${K}/rollback`, [auth], { version: 1 }), 200, {
          answer: 'json',
          expectJson: { version: 3, rolledBackTo: 1 },
        }),
        st(call('POST', `${K}/rollback`, [auth, ['if-match', spellV(2, q[3]!)]], { version: 2 }), 412),
        st(call('POST', `${K}/rollback`, [auth], { version: 9 }), 404),
        st(call('DELETE', K, [auth]), 428),
        st(call('DELETE', K, [auth, ['if-match', spellV(2, q[4]!)]]), 412),
        st(call('DELETE', K, [auth, ['if-match', spellV(3, q[5]!)]]), 204, { answer: 'none' }),
        st(call('GET', K, [auth]), 404, { expectJson: { code: 'REGION_NOT_FOUND' } }),
        st(call('DELETE', K, [auth, ['if-match', spellV(3, q[6]!)]]), [404, 412]),
        // Versions never repeat, even after a delete.
        st(call('PUT', K, [auth], s[3]), 201, { answer: 'json', expectJson: { version: 4 } }),
      ];
      const [first, ...then] = steps;
      return {
        class: 'admin-lifecycle',
        name: `lifecycle (${s.map((x) => `${x.policy}/${'budget' in x ? 'budget' : 'thresholds'}/split${x.split}/${x.encoding}`).join(', ')}; bad body: ${bad.what}; bad If-Match ${JSON.stringify(badIm)})`,
        freshKey: true,
        ...first!,
        then,
      };
    });

  return [
    {
      name: 'admin-auth',
      surface: 'admin',
      weight: 2,
      arb: fc.oneof({ weight: 5, arbitrary: authCase }, { weight: 1, arbitrary: goodAuth }),
    },
    { name: 'admin-keys', surface: 'admin', weight: 2, arb: keyCase },
    { name: 'admin-if-match', surface: 'admin', weight: 2, arb: ifMatchCase },
    { name: 'admin-bodies', surface: 'admin', weight: 2, arb: bodyCase },
    { name: 'admin-lifecycle', surface: 'admin', weight: 0.6, arb: lifecycle },
  ];
}

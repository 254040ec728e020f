/**
 * Generators for the edge's public surface: `POST /v1/classify` bodies under every content type,
 * JSON shapes, raw bodies, headers, methods and paths. Each case carries the answer it MUST get.
 * (PNG structure: png-arbitraries.ts; admin routes: admin-arbitraries.ts.)
 */
import fc from 'fast-check';
import { REGION_KEY } from '../../core/regions.js';
import { validPngArb } from './png-arbitraries.js';
import type { Expect, FuzzCase, FuzzClass, FuzzModel, FuzzRequest } from './types.js';
import { concat, enc, randomBytes, randomInts } from './util.js';

export const CLASSIFY = '/v1/classify';
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

const req = (
  body: Uint8Array | undefined,
  type: string | null,
  headers: [string, string][] = [],
  path = CLASSIFY,
  method = 'POST',
): FuzzRequest => ({
  method,
  path,
  headers: [...(type === null ? [] : [['content-type', type] as [string, string]]), ...headers],
  ...(body ? { body } : {}),
});

const okCase = (cls: string, name: string, request: FuzzRequest): FuzzCase => ({
  class: cls,
  name,
  request,
  expect: 'ok',
  answer: 'classify',
});
const badCase = (cls: string, name: string, request: FuzzRequest, expect: Expect = 400, code?: string): FuzzCase => ({
  class: cls,
  name,
  request,
  expect,
  ...(code ? { expectJson: { code } } : {}),
});

/** Spellings of the three accepted media types that must be accepted (case-insensitive, parameters ignored). */
const JSON_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'Application/JSON',
  'application/json;charset=UTF-8',
  'application/json ; foo=bar',
  'application/json;',
];
const RAW_TYPES = [
  'application/octet-stream',
  'APPLICATION/OCTET-STREAM',
  'application/octet-stream; charset=binary',
  'application/octet-stream;x=y',
];
export const PNG_TYPES = ['image/png', 'IMAGE/PNG', 'image/png; q=1', 'image/png;name="a.png"', 'Image/Png'];

const pixelsArb = (n: number) => fc.integer().map((s) => randomInts(s, n, 256));

/** One JSON number spelling of an integer v in 0-255 that JSON.parse reads back as exactly v. */
function spellNumber(v: number, how: number): string {
  switch (how % 7) {
    case 1:
      return `${v}.0`;
    case 2:
      return `${v}e0`;
    case 3:
      return `${v}E+0`;
    case 4:
      return `${v * 10}e-1`;
    case 5:
      return v === 0 ? '-0' : `${v}.000`;
    case 6:
      return v === 0
        ? '0.0e5'
        : `${v / 100}e2`.includes('e') && Number(`${v / 100}e2`) === v
          ? `${v / 100}e2`
          : String(v);
    default:
      return String(v);
  }
}

const WS = [' ', '\n', '\t', '\r\n', '  ', ''];

function pixelsJson(pixels: number[], opts: { ws?: number; spell?: number; spellEvery?: number } = {}): string {
  const w = WS[(opts.ws ?? 5) % WS.length]!;
  const items = pixels.map((v, i) =>
    opts.spell !== undefined && i % (opts.spellEvery ?? 1) === 0 ? spellNumber(v, opts.spell + i) : String(v),
  );
  return `{${w}"pixels"${w}:${w}[${items.join(`,${w}`)}]${w}}`;
}

export function edgeClasses(m: FuzzModel): FuzzClass[] {
  const N = m.input.shape.reduce((a, b) => a * b, 1);

  const jsonValid = fc
    .record({
      px: pixelsArb(N),
      ws: fc.nat(20),
      spell: fc.option(fc.nat(50), { nil: undefined }),
      every: fc.integer({ min: 1, max: 50 }),
      type: fc.constantFrom(...JSON_TYPES),
    })
    .map(({ px, ws, spell, every, type }) =>
      okCase(
        'classify-json-valid',
        `json ${N} ints ws=${ws % WS.length} spell=${spell ?? '-'}/${every} type=${JSON.stringify(type)}`,
        req(enc(pixelsJson(px, { ws, ...(spell !== undefined ? { spell, spellEvery: every } : {}) })), type),
      ),
    );

  const pixelsWith = (px: number[], i: number, v: string) =>
    `{"pixels":[${px.map((x, k) => (k === i ? v : String(x))).join(',')}]}`;
  const deep = (d: number) => '['.repeat(d) + ']'.repeat(d);
  type Mut = (px: number[], i: number, r: number) => [string, string | Uint8Array];
  const jsonMutations: Mut[] = [
    (_px, _i, r) => {
      const n = [0, 1, 783, 785, 1568, 2000, N - 1 - (r % 10), N + 1 + (r % 10)][r % 8]!;
      const p = randomInts(r, n, 256);
      return [`length ${n}`, JSON.stringify({ pixels: p })];
    },
    (px, i, r) => [`float at ${i}`, pixelsWith(px, i, `${px[i]! % 255}.${1 + (r % 9)}`)],
    (px, i, r) => {
      const v = [256, 257, 1000, -1, -255, 65536, 4294967296][r % 7]!;
      return [`out of range ${v} at ${i}`, pixelsWith(px, i, String(v))];
    },
    (px, i, r) => {
      const v = ['1e400', '-1e400', '1e308', '9007199254740993', '123456789012345678901234567890', '1e-5', '2.55e2000'][
        r % 7
      ]!;
      return [`huge/odd number ${v} at ${i}`, pixelsWith(px, i, v)];
    },
    (px, i, r) => {
      const v = ['"12"', 'null', 'true', 'false', '[1]', '{}', '{"v":1}', '""', '[]'][r % 9]!;
      return [`element ${v} at ${i}`, pixelsWith(px, i, v)];
    },
    (px, _i, r) => {
      const extra = ['"extra":1', '"label":"Coat"', '"__proto__":{}', '"pixels2":[]', '"":0', '"constructor":null'][
        r % 6
      ]!;
      return [`extra key ${extra}`, `{"pixels":[${px.join(',')}],${extra}}`];
    },
    (px, _i, r) => {
      const k = ['pixel', 'Pixels', 'PIXELS', 'pixels ', ' pixels', 'data', 'pixe\\u006cs2'][r % 7]!;
      return [`key ${JSON.stringify(k)}`, `{${JSON.stringify(k)}:[${px.join(',')}]}`];
    },
    (px, _i, r) => {
      const v = ['{}', '"abc"', '123', 'null', 'true', `"${px.join(',')}"`, `{"0":1}`][r % 7]!;
      return [`pixels is ${v.slice(0, 20)}`, `{"pixels":${v}}`];
    },
    (px, _i, r) => {
      const v = [`[${px.join(',')}]`, '"pixels"', 'null', '42', '[]', '{}', `[{"pixels":[${px.join(',')}]}]`][r % 7]!;
      return [`top level ${v.slice(0, 24)}`, v];
    },
    (px, _i, r) => {
      const s = `{"pixels":[${px.join(',')}]}`;
      const k = 1 + (r % (s.length - 1));
      return [`truncated at ${k}`, s.slice(0, k)];
    },
    (px, _i, r) => {
      const t = ['x', '}', ']', ',', '{}', ' null', '\u0000', '/*c*/'][r % 8]!;
      return [`trailing ${JSON.stringify(t)}`, `{"pixels":[${px.join(',')}]}${t}`];
    },
    (px, i, r) => {
      const v = ['NaN', 'Infinity', '-Infinity', '0x10', '012', '+1', '.5', '1.', '- 1', '1_0', 'undefined'][r % 11]!;
      return [`literal ${v} at ${i}`, pixelsWith(px, i, v)];
    },
    (px, _i, r) => [
      ['trailing comma in array', 'comment', 'single quotes', 'unquoted key'][r % 4]!,
      [
        `{"pixels":[${px.join(',')},]}`,
        `{/*c*/"pixels":[${px.join(',')}]}`,
        `{'pixels':[${px.join(',')}]}`,
        `{pixels:[${px.join(',')}]}`,
      ][r % 4]!,
    ],
    (px, i, r) => {
      const d = [64, 1000, 10000, 100000][r % 4]!;
      return r % 2
        ? [`deep nesting ${d} as element ${i}`, pixelsWith(px, i, deep(d))]
        : [`deep nesting ${d} at top level`, deep(d)];
    },
    (_px, _i, r) => {
      const d = [1000, 50000][r % 2]!;
      return [`deep object nesting ${d}`, `${'{"pixels":'.repeat(d)}[]${'}'.repeat(d)}`];
    },
    (px, _i, r) => {
      const bad = [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80]][r % 6]!;
      const s = `{"pixels":[${px.join(',')}]}`,
        at = [0, 1, s.length][r % 3]!;
      return [
        `invalid UTF-8 ${bad.map((b) => b.toString(16)).join(' ')} at ${at}`,
        concat(enc(s.slice(0, at)), Uint8Array.from(bad), enc(s.slice(at))),
      ];
    },
    (px, _i, r) => {
      const s = `{"pixels":[${px.join(',')}]}`;
      const u16 = new Uint8Array(s.length * 2 + 2);
      u16.set(r % 2 ? [0xff, 0xfe] : [0xfe, 0xff]);
      for (let k = 0; k < s.length; k++) u16[2 + 2 * k + (r % 2 ? 0 : 1)] = s.charCodeAt(k);
      return ['UTF-16 with BOM', u16];
    },
    (_px, _i, r) => {
      const v = [' ', '\n\n', '\t', '\u00a0'][r % 4]!;
      return [`whitespace-only body ${JSON.stringify(v)}`, v];
    },
    (px, i) => [`pixel as string at ${i}`, pixelsWith(px, i, `"${px[i]}"`)],
    (px, _i, r) => [`pixels nested in array`, `{"pixels":[[${px.slice(0, 10 + (r % 700)).join(',')}]]}`],
    (px) => ['pixels as object of indices', JSON.stringify({ pixels: Object.fromEntries(px.map((v, k) => [k, v])) })],
  ];
  const jsonInvalid = fc
    .record({
      px: pixelsArb(N),
      which: fc.nat(jsonMutations.length - 1),
      i: fc.nat(N - 1),
      r: fc.nat(1_000_000),
      type: fc.constantFrom(...JSON_TYPES),
    })
    .map(({ px, which, i, r, type }) => {
      const [what, body] = jsonMutations[which]!(px, i, r);
      return badCase(
        'classify-json-invalid',
        `json: ${what}`,
        req(typeof body === 'string' ? enc(body) : body, type),
        400,
      );
    });

  // The spec leaves these open (RFC 8259: duplicate names' behaviour is unpredictable; a BOM MAY be ignored):
  // either answer is fine as long as it is a well-formed 200 or a problem+json 400.
  const jsonAmbiguous = fc
    .record({
      px: pixelsArb(N),
      bad: fc.constantFrom('[1,2,3]', '"x"', '[256]', 'null'),
      which: fc.nat(4),
      type: fc.constantFrom(...JSON_TYPES),
    })
    .map(({ px, bad, which, type }) => {
      const good = `[${px.join(',')}]`;
      const bodies: [string, string | Uint8Array, Expect][] = [
        ['duplicate key, invalid then valid', `{"pixels":${bad},"pixels":${good}}`, ['ok', 400]],
        ['duplicate key, valid then invalid', `{"pixels":${good},"pixels":${bad}}`, 400],
        ['duplicate key, both valid', `{"pixels":${good},"pixels":${good}}`, ['ok', 400]],
        [
          'UTF-8 BOM before valid JSON',
          concat(Uint8Array.of(0xef, 0xbb, 0xbf), enc(`{"pixels":${good}}`)),
          ['ok', 400],
        ],
        // Underflows to 0 in IEEE doubles; RFC 8259 section 6 leaves range and precision to the implementation.
        ['a pixel written 1e-400', enc(`{"pixels":[1e-400,${px.slice(1).join(',')}]}`), ['ok', 400]],
      ];
      const [what, body, expect] = bodies[which]!;
      return {
        class: 'classify-json-ambiguous',
        name: `json: ${what}`,
        request: req(typeof body === 'string' ? enc(body) : body, type),
        expect,
        answer: 'classify',
      } satisfies FuzzCase;
    });

  const raw = fc
    .record({
      s: fc.integer(),
      len: fc.oneof(
        { weight: 3, arbitrary: fc.constant(N) },
        { weight: 2, arbitrary: fc.integer({ min: 1, max: 4 * N }) },
        { weight: 1, arbitrary: fc.constantFrom(0, 1, N - 1, N + 1, 2 * N, 3 * N) },
      ),
      type: fc.constantFrom(...RAW_TYPES),
    })
    .map(({ s, len, type }) =>
      len === N
        ? okCase('classify-raw', `raw ${len} bytes type=${JSON.stringify(type)}`, req(randomBytes(s, len), type))
        : badCase(
            'classify-raw',
            `raw ${len} bytes`,
            req(len ? randomBytes(s, len) : new Uint8Array(0), type),
            400,
            len === 0 ? 'EMPTY_BODY' : 'BAD_INPUT_SIZE',
          ),
    );

  // Content types: missing or other → 415; the right body under the wrong accepted type → 400.
  const BAD_TYPES = [
    'text/plain',
    'text/json',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'image/jpeg',
    'image/png+xml',
    'image/pngx',
    'application/jsonx',
    'application/json-patch+json',
    'application/ld+json',
    'application/octet',
    'image',
    'png',
    '*/*',
    'application/*',
    ';',
    ' ',
    'image/ png',
    'application /json',
    'application\tjson',
    'image/png, application/json',
    'null',
    'undefined',
  ];
  const contentType = fc
    .record({
      px: pixelsArb(N),
      which: fc.nat(5),
      bad: fc.constantFrom(...BAD_TYPES),
      dup: fc.boolean(),
      s: fc.integer(),
    })
    .chain(({ px, which, bad, dup, s }) =>
      validPngArb(m, 16).map((png) => {
        const json = enc(JSON.stringify({ pixels: px })),
          rawBody = Uint8Array.from(px);
        const bodies = [json, rawBody, png.bytes];
        const body = bodies[(s >>> 0) % 3]!;
        switch (which) {
          case 0:
            return badCase('classify-content-type', 'no content-type', req(body, null), 415, 'UNSUPPORTED_MEDIA_TYPE');
          case 1:
            return badCase(
              'classify-content-type',
              `content-type ${JSON.stringify(bad)}`,
              req(body, bad),
              415,
              'UNSUPPORTED_MEDIA_TYPE',
            );
          case 2:
            return dup
              ? badCase(
                  'classify-content-type',
                  'two content-type headers (json + png)',
                  {
                    ...req(json, 'application/json'),
                    headers: [
                      ['content-type', 'application/json'],
                      ['content-type', 'image/png'],
                    ],
                  },
                  415,
                )
              : badCase(
                  'classify-content-type',
                  'JSON body labelled image/png',
                  req(json, 'image/png'),
                  400,
                  'BAD_PNG',
                );
          case 3:
            return badCase(
              'classify-content-type',
              'PNG body labelled application/json',
              req(png.bytes, 'application/json'),
              400,
              'BAD_JSON',
            );
          case 4:
            return badCase(
              'classify-content-type',
              'JSON body labelled application/octet-stream',
              req(json, 'application/octet-stream'),
              400,
              'BAD_INPUT_SIZE',
            );
          default:
            return badCase(
              'classify-content-type',
              'raw pixels labelled application/json',
              req(rawBody, 'application/json'),
              400,
            );
        }
      }),
    );

  const oversize = fc
    .record({
      extra: fc.integer({ min: 1, max: 4096 }),
      exact: fc.boolean(),
      type: fc.constantFrom('image/png', 'application/json', 'application/octet-stream'),
    })
    .map(({ extra, exact, type }) =>
      exact
        ? badCase(
            'classify-oversize',
            `exactly ${MAX_BODY_BYTES} bytes (at the cap: read, then rejected for content)`,
            req(new Uint8Array(MAX_BODY_BYTES), type),
            400,
          )
        : badCase(
            'classify-oversize',
            `${MAX_BODY_BYTES + extra} bytes`,
            req(new Uint8Array(MAX_BODY_BYTES + extra), type),
            413,
            'PAYLOAD_TOO_LARGE',
          ),
    );

  // Headers: the local region header, odd request ids, duplicates, unknown headers.
  const letters = (n: number, upper = true) =>
    fc.string({
      unit: fc.constantFrom(...(upper ? 'ABCDEFGHIJKLMNOPQRSTUVWXYZ' : 'abcdefghijklmnopqrstuvwxyz').split('')),
      minLength: n,
      maxLength: n,
    });
  const validRegion = fc.oneof(
    fc.constant('default'),
    letters(3).map((s) => `colo:${s}`),
    letters(2).map((s) => `country:${s}`),
    fc.constantFrom('AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA').map((s) => `continent:${s}`),
  );
  const oddRegion = fc.oneof(
    fc.constantFrom(
      '',
      'mars',
      'Default',
      'DEFAULT',
      'colo:',
      'colo:lhr',
      'colo:LH',
      'colo:LHRX',
      'colo: LHR',
      'colo :LHR',
      'country:GBR',
      'country:G',
      'continent:XX',
      'continent:eu',
      'colo:L1R',
      'colo-LHR',
      'colo:LHR,default',
      'default,colo:LHR',
      'colo:LHR default',
      '*',
      'null',
      'colo:ÄÖÜ',
      '../default',
      'default\tx',
    ),
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 }),
    fc.integer({ min: 100, max: 6000 }).map((n) => `colo:${'A'.repeat(n)}`),
  );
  /** What Headers does to a value before the server sees it: leading/trailing HTTP whitespace is removed. */
  const httpTrim = (v: string) => v.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
  const headerCase = fc
    .record({
      px: pixelsArb(N),
      region: fc.option(
        fc.oneof(
          validRegion,
          oddRegion,
          validRegion.map((v) => ` ${v}\t`),
        ),
        { nil: undefined },
      ),
      dupRegion: fc.boolean(),
      reqId: fc.option(
        fc.oneof(
          fc.string({ unit: 'grapheme-ascii', maxLength: 300 }),
          fc.stringMatching(/^[A-Za-z0-9_=-]{1,300}$/),
          fc.constantFrom(
            '',
            '-',
            '=',
            '../../etc/passwd',
            'a'.repeat(255),
            'a'.repeat(256),
            '<script>',
            'id with spaces',
            'down-fuzz',
            'garbage-fuzz',
            'error-fuzz',
          ),
        ),
        { nil: undefined },
      ),
      dupReqId: fc.boolean(),
      junk: fc.array(
        fc.tuple(fc.stringMatching(/^x-[a-z0-9-]{1,20}$/), fc.string({ unit: 'grapheme-ascii', maxLength: 50 })),
        { maxLength: 4 },
      ),
      type: fc.constantFrom(...JSON_TYPES),
    })
    .map(({ px, region, dupRegion, reqId, dupReqId, junk, type }): FuzzCase => {
      const headers: [string, string][] = [];
      if (region !== undefined) {
        headers.push(['x-cascade-region', region]);
        if (dupRegion) headers.push(['x-cascade-region', region]);
      }
      // The test backend (tests/helpers/fake-backend.ts) sleeps 5 s for ids starting "slow-": not a header oddity.
      const id = reqId !== undefined && !reqId.startsWith('slow-') ? reqId : undefined;
      if (id !== undefined) {
        headers.push(['x-request-id', id]);
        if (dupReqId) headers.push(['x-request-id', `${id}b`]);
      }
      for (const [k, v] of junk) if (k !== 'x-cascade-region' && k !== 'x-request-id') headers.push([k, v]);
      const r = req(enc(JSON.stringify({ pixels: px })), type, headers);
      const name = `region=${region === undefined ? '-' : JSON.stringify(region.slice(0, 60))}${dupRegion && region !== undefined ? ' (twice)' : ''} request-id=${id === undefined ? '-' : JSON.stringify(id.slice(0, 40))}${dupReqId && id !== undefined ? ' (twice)' : ''} +${junk.length} headers`;
      if (region === undefined) return okCase('headers', name, r);
      // Two region headers reach the worker joined by ", ": never one region key.
      const seen = dupRegion ? `${httpTrim(region)}, ${httpTrim(region)}` : httpTrim(region);
      return REGION_KEY.test(seen) ? okCase('headers', name, r) : badCase('headers', name, r, 400, 'BAD_REGION');
    });

  return [
    { name: 'classify-json-valid', surface: 'edge', weight: 5, arb: jsonValid },
    { name: 'classify-json-invalid', surface: 'edge', weight: 7, arb: jsonInvalid },
    { name: 'classify-json-ambiguous', surface: 'edge', weight: 1, arb: jsonAmbiguous },
    { name: 'classify-raw', surface: 'edge', weight: 4, arb: raw },
    { name: 'classify-content-type', surface: 'edge', weight: 3, arb: contentType },
    { name: 'classify-oversize', surface: 'edge', weight: 0.15, arb: oversize },
    { name: 'headers', surface: 'edge', weight: 4, arb: headerCase },
    { name: 'paths-methods', surface: 'edge', weight: 4, arb: pathsArb(m) },
  ];
}

// ---- methods and paths -------------------------------------------------------------------------

const GET_ROUTES = ['/healthz', '/readyz', '/openapi.json'];
/** GET routes answering HTML (the API reference page rendered from /openapi.json). */
const HTML_ROUTES = ['/docs'];
// Only methods every client here can send (workerd's fetch refuses non-standard ones such as FOO).
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND', 'PURGE'];
const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** RFC 3986 6.2.2.2: percent-encoded unreserved characters are equivalent to the characters. */
const decodeUnreserved = (p: string) =>
  p.replace(/%([0-9A-Fa-f]{2})/g, (s, h: string) => {
    const c = String.fromCharCode(parseInt(h, 16));
    return UNRESERVED.test(c) ? c : s;
  });

/** The outcome a method + path must get from the edge's routing table (no body, no credentials). */
export function routeOutcome(method: string, path: string): { expect: Expect; answer: 'json' | 'none' } {
  const pathname = new URL(`http://edge.test${path}`).pathname; // what any client sends after dot-segment removal
  const p = decodeUnreserved(pathname);
  const encodedVariant = p !== pathname; // equivalent per RFC 3986, but a router may treat it literally: 404 is fine too
  const one = (e: Expect): Expect => (encodedVariant ? [...(Array.isArray(e) ? e : [e]), 404] : e);
  if (p === '/admin' || p.startsWith('/admin/'))
    return { expect: one(p === '/admin' ? [401, 404] : 401), answer: 'none' };
  if (p === CLASSIFY) {
    if (method === 'POST') return { expect: one(415), answer: 'none' }; // no body, no content-type
    return { expect: one(method === 'OPTIONS' ? [404, 405, 204] : [404, 405]), answer: 'none' };
  }
  if (GET_ROUTES.includes(p)) {
    if (method === 'GET' || method === 'HEAD')
      return { expect: one('ok'), answer: method === 'HEAD' ? 'none' : 'json' };
    return { expect: one(method === 'OPTIONS' ? [404, 405, 204] : [404, 405]), answer: 'none' };
  }
  if (HTML_ROUTES.includes(p)) {
    if (method === 'GET' || method === 'HEAD') return { expect: one('ok'), answer: 'none' };
    return { expect: one(method === 'OPTIONS' ? [404, 405, 204] : [404, 405]), answer: 'none' };
  }
  return { expect: one(method === 'OPTIONS' ? [404, 405, 204] : 404), answer: 'none' };
}

function pathsArb(_m: FuzzModel): fc.Arbitrary<FuzzCase> {
  const seg = fc.oneof(
    fc.stringMatching(/^[a-z0-9._~-]{1,12}$/),
    fc.constantFrom(
      '..',
      '.',
      '%2e%2e',
      '%2E',
      '.%2e',
      '%2f',
      '%2F',
      '%00',
      '%ff',
      '%zz',
      '%',
      '%C3%A9',
      'é',
      '漢字',
      ';x=1',
      '\\',
      '%5c',
      'v1',
      'classify',
      'admin',
      'regions',
      'healthz',
      '%63lassify',
      '%76%31',
      'CLASSIFY',
      'V1',
    ),
  );
  const known = fc.constantFrom(
    CLASSIFY,
    ...GET_ROUTES,
    ...HTML_ROUTES,
    '/admin/regions',
    '/admin',
    '/',
    '/v1',
    '/v1/',
    '/openapi',
    '/readyz/',
    '/healthz/x',
  );
  const mutate = fc
    .tuple(known, fc.nat(11), fc.array(seg, { maxLength: 5 }), fc.nat(1_000_000))
    .map(([base, how, segs, r]) => {
      switch (how) {
        case 0:
          return `${base}/`;
        case 1:
          return `/${base}`;
        case 2:
          return base.toUpperCase();
        case 3:
          return `/${segs.join('/')}/..${base}`;
        case 4:
          return base.replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`);
        case 5:
          return base.replace(/(?!^)\//g, r % 2 ? '%2F' : '//');
        case 6:
          return `${base}?${segs.join('&')}`;
        case 7:
          return `${base}/./`.slice(0, -1);
        case 8:
          return `/${'a'.repeat(1 + (r % 8000))}`;
        case 9:
          return `/${segs.join('/')}`;
        case 10:
          return `${base};jsessionid=1`;
        default:
          return `${base}#frag`;
      }
    });
  return fc
    .record({
      method: fc.constantFrom(...METHODS),
      path: fc.oneof(
        known,
        mutate,
        fc.array(seg, { maxLength: 8 }).map((s) => `/${s.join('/')}`),
      ),
    })
    .map(({ method, path }) => {
      const p = path.startsWith('/') ? path : `/${path}`;
      const { expect, answer } = routeOutcome(method, p);
      // Paths past a few KB may be refused by the HTTP layer itself (414/431): fine, as long as it is not a 5xx.
      const long = path.length > 4096;
      return {
        class: 'paths-methods',
        name: `${method} ${p.length > 120 ? `${p.slice(0, 100)}… (${p.length} chars)` : p}`,
        request: { method, path: p, headers: [] },
        expect: long ? [...(Array.isArray(expect) ? expect : [expect]), 414, 431] : expect,
        answer,
      };
    });
}

/**
 * HMAC-SHA256 request signing between the edge and the backend (Web Crypto: Node, workerd, browsers).
 * Header: `x-cascade-signature: t=<unix ms>,v1=<hex hmac of "<t>." + body>`. The timestamp is
 * signed with the body, so a replay outside the window, or any altered byte, fails verification;
 * inside the window the backend's replay guard refuses a second use, keyed on the parsed MAC
 * (`SignatureCheck.replayKey`), so re-spelling the header's bytes does not make a body new. Part of
 * the edge → backend contract; both sides import it through core/wire.ts.
 *
 * @example
 * const header = await signBody(secret, body);
 * const ok = await verifyBody(secret, body, header, { windowMs: 30_000 });
 */
export const SIGNATURE_HEADER = 'x-cascade-signature';

/** HMAC-SHA256 of `"<t>." + body`; runtimes with a faster synchronous HMAC (Node) may supply their own. */
export type Mac = (secret: string, t: string, body: Uint8Array) => Promise<Uint8Array> | Uint8Array;

const keys = new Map<string, Promise<CryptoKey>>();

/** Web Crypto HMAC (Node, workerd, browsers); the imported key is cached per secret. */
export const webCryptoMac: Mac = async (secret, t, body) => {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
    ]);
    keys.set(secret, key);
  }
  const prefix = new TextEncoder().encode(`${t}.`);
  const msg = new Uint8Array(prefix.length + body.length);
  msg.set(prefix);
  msg.set(body, prefix.length);
  return new Uint8Array(await crypto.subtle.sign('HMAC', await key, msg));
};

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
/** Lowercase hex of bytes (MACs here, token digests in the admin API). */
export const hex = (b: Uint8Array): string => {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!];
  return s;
};

export async function signBody(
  secret: string,
  body: Uint8Array,
  now = Date.now(),
  mac: Mac = webCryptoMac,
): Promise<string> {
  const t = String(now);
  return `t=${t},v1=${hex(await mac(secret, t, body))}`;
}

/** Constant-time comparison of two equal-length strings (length itself is not secret). */
export function timingSafeEqualStr(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a),
    y = new TextEncoder().encode(b);
  if (x.length !== y.length) return false;
  let d = 0;
  for (let i = 0; i < x.length; i++) d |= x[i]! ^ y[i]!;
  return d === 0;
}

/** A parsed `x-cascade-signature`: the signed timestamp string and the MAC, canonical (lowercase hex). */
export interface ParsedSignature {
  t: string;
  mac: string;
}

/** HTTP optional whitespace (RFC 9110 OWS: space and tab only; JS `trim()` would also strip NBSP, VT, FF, …). */
const OWS = /^[ \t]+|[ \t]+$/g;
const SIGNATURE_SYNTAX = /^t=(\d{1,16}),v1=([0-9a-fA-F]{64})$/;

/**
 * The one parser of the signature header: `t=<1-16 digits>,v1=<64 hex digits>`, surrounded by HTTP
 * whitespace at most. Anything else (a second header joined by a comma, other fields, other
 * whitespace) is malformed. Every security decision (the MAC comparison and the replay guard's key)
 * uses what this returns, never the header's bytes.
 *
 * @example
 * parseSignature(' t=1700000000000,v1=AB…  '); // { t: '1700000000000', mac: 'ab…' }
 */
export function parseSignature(header: string): ParsedSignature | null {
  const m = SIGNATURE_SYNTAX.exec(header.replace(OWS, ''));
  return m ? { t: m[1]!, mac: m[2]!.toLowerCase() } : null;
}

export type SignatureCheck =
  /** replayKey: canonical identity of this signed body (its MAC, which covers the timestamp and every body byte). */
  { ok: true; replayKey: string } | { ok: false; reason: 'missing' | 'malformed' | 'expired' | 'mismatch' };

export async function verifyBody(
  secret: string,
  body: Uint8Array,
  header: string | null | undefined,
  opts: { windowMs: number; now?: number; mac?: Mac },
): Promise<SignatureCheck> {
  if (!header) return { ok: false, reason: 'missing' };
  const sig = parseSignature(header);
  if (!sig) return { ok: false, reason: 'malformed' };
  if (Math.abs((opts.now ?? Date.now()) - Number(sig.t)) > opts.windowMs) return { ok: false, reason: 'expired' };
  const want = hex(await (opts.mac ?? webCryptoMac)(secret, sig.t, body));
  return timingSafeEqualStr(want, sig.mac) ? { ok: true, replayKey: sig.mac } : { ok: false, reason: 'mismatch' };
}

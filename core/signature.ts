/**
 * HMAC-SHA256 request signing between the edge and the backend (Web Crypto: Node, workerd, browsers).
 * Header: `x-cascade-signature: t=<unix ms>,v1=<hex hmac of "<t>." + body>`. The timestamp is
 * signed with the body, so a replay outside the window, or any altered byte, fails verification.
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
    key = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    keys.set(secret, key);
  }
  const prefix = new TextEncoder().encode(`${t}.`);
  const msg = new Uint8Array(prefix.length + body.length);
  msg.set(prefix);
  msg.set(body, prefix.length);
  return new Uint8Array(await crypto.subtle.sign('HMAC', await key, msg));
};

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const hex = (b: Uint8Array) => {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!];
  return s;
};

export async function signBody(secret: string, body: Uint8Array, now = Date.now(), mac: Mac = webCryptoMac): Promise<string> {
  const t = String(now);
  return `t=${t},v1=${hex(await mac(secret, t, body))}`;
}

/** Constant-time comparison of two equal-length strings (length itself is not secret). */
export function timingSafeEqualStr(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a), y = new TextEncoder().encode(b);
  if (x.length !== y.length) return false;
  let d = 0;
  for (let i = 0; i < x.length; i++) d |= x[i]! ^ y[i]!;
  return d === 0;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'expired' | 'mismatch' };

export async function verifyBody(secret: string, body: Uint8Array, header: string | null | undefined, opts: { windowMs: number; now?: number; mac?: Mac }): Promise<SignatureCheck> {
  if (!header) return { ok: false, reason: 'missing' };
  const m = /^t=(\d{1,16}),v1=([0-9a-f]{64})$/.exec(header.trim());
  if (!m) return { ok: false, reason: 'malformed' };
  const t = Number(m[1]);
  if (Math.abs((opts.now ?? Date.now()) - t) > opts.windowMs) return { ok: false, reason: 'expired' };
  return timingSafeEqualStr(hex(await (opts.mac ?? webCryptoMac)(secret, m[1]!, body)), m[2]!) ? { ok: true } : { ok: false, reason: 'mismatch' };
}

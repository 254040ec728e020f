/**
 * Reads a request body with a byte cap, as a stream: a declared `content-length` over the cap is
 * refused before a byte is read, a chunked upload is cut off (and its stream cancelled) as soon as
 * it passes the cap, and a client that disconnects mid-body gets a 400 (it is gone, but the request
 * is logged as the client's fault, not as an internal error).
 *
 * @example
 * const bytes = await readBody(c.req.raw, 8 * 1024 * 1024);
 */
import { ProblemError } from '../errors.js';

export async function readBody(req: Request, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = () => new ProblemError(413, 'PAYLOAD_TOO_LARGE', `the body exceeds ${maxBytes} bytes`);
  const declared = req.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    await req.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let r: ReadableStreamReadResult<Uint8Array>;
    try {
      r = await reader.read();
    } catch (e) {
      throw new ProblemError(400, 'BODY_ABORTED', `the body ended early (${(e as Error).message}): the client disconnected or sent less than it announced`, { cause: e });
    }
    if (r.done) break;
    size += r.value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(r.value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.byteLength; }
  return out;
}

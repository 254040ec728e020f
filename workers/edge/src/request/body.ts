/**
 * Reads a request body with a byte cap, as a stream: a declared `content-length` over the cap is
 * refused without keeping a byte, a chunked upload stops being kept as soon as it passes the cap
 * (in both cases the rest is drained, bounded, so the client reads the 413), and a client that disconnects mid-body gets a 400 (it is gone, but the request
 * is logged as the client's fault, not as an internal error).
 *
 * @example
 * const bytes = await readBody(c.req.raw, 8 * 1024 * 1024);
 */
import { ProblemError } from '../errors.js';

/**
 * An over-long body is read to its end and dropped, up to this many bytes, before the 413: a server
 * that answers and closes while the client still sends makes the client's TCP stack reset the
 * connection, and the client then never reads the 413 (seen under wrangler dev). Reading costs
 * only stream CPU, no copy; beyond this the stream is cancelled (an abusive upload may see a reset).
 */
const DRAIN_LIMIT_BYTES = 32 * 1024 * 1024;

async function drain(reader: ReadableStreamDefaultReader<Uint8Array>, already: number): Promise<void> {
  try {
    for (let n = already; n <= DRAIN_LIMIT_BYTES; ) {
      const r = await reader.read();
      if (r.done) return;
      n += r.value.byteLength;
    }
    await reader.cancel();
  } catch {
    // The client went away meanwhile: nothing left to drain.
  }
}

export async function readBody(req: Request, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = () => new ProblemError(413, 'PAYLOAD_TOO_LARGE', `the body exceeds ${maxBytes} bytes`);
  const declared = req.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    // Nothing is kept: the declared size already says no. Drained (bounded) so the client reads the 413.
    if (req.body) await drain(req.body.getReader(), 0);
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
      throw new ProblemError(
        400,
        'BODY_ABORTED',
        `the body ended early (${(e as Error).message}): the client disconnected or sent less than it announced`,
        { cause: e },
      );
    }
    if (r.done) break;
    size += r.value.byteLength;
    if (size > maxBytes) {
      chunks.length = 0;
      await drain(reader, size);
      throw tooLarge();
    }
    chunks.push(r.value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

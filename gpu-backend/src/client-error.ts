/**
 * Requests Node's HTTP parser refuses before any route sees them (bytes not allowed in a header, a
 * malformed request line, headers over the size limit, a request that timed out): answered as
 * problem+json like every other 4xx, instead of Node's default bare `400 Bad Request`.
 *
 * @example
 * server.on('clientError', answerClientError);
 */
import type { Socket } from 'node:net';
import { problemBody } from '../../core/problem.js';

const STATUS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'HEADERS_TOO_LARGE'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'REQUEST_TIMEOUT'],
};

export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  // A reset or already-answered socket cannot take an answer; nothing to say then.
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code] = STATUS[err.code ?? ''] ?? [400, 'BAD_REQUEST'];
  // No route, no Context: the same problem document as every other answer, written on the socket by hand.
  const p = problemBody(status, code, `the HTTP request could not be parsed (${err.code ?? err.message})`);
  const body = JSON.stringify(p);
  socket.end(
    `HTTP/1.1 ${status} ${p.title}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

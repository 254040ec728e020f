/**
 * One HTTP exchange on a raw TCP socket, for clients that misbehave in ways Node's own client will
 * not (disconnecting mid-body, half-closing, sending header bytes it refuses): writes `head`, lets
 * `act` do the rest, and resolves with everything the server sent once the socket closes (or
 * after `timeoutMs`, when it destroys it).
 *
 * @example
 * const text = await rawExchange('127.0.0.1', 8787, 'POST /v1/classify HTTP/1.1\r\n…\r\n\r\n', (s) => s.destroy());
 */
import { connect, type Socket } from 'node:net';

export function rawExchange(
  host: string,
  port: number,
  head: string,
  act: (s: Socket) => void,
  timeoutMs = 15_000,
): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('error', () => resolve(text));
    s.on('close', () => resolve(text));
    s.write(head, 'latin1');
    act(s);
    setTimeout(() => {
      s.destroy();
      resolve(text);
    }, timeoutMs).unref();
  });
}

/**
 * An `act` for rawExchange: streams a chunked body of 64 KiB chunks (after a head that says
 * `transfer-encoding: chunked`) until past `bytes`, then disconnects; it stops as soon as the server
 * closes the socket. For checking that a server refuses an over-long upload while it is still sent.
 *
 * @example
 * await rawExchange(host, port, 'POST /v1/classify HTTP/1.1\r\n…transfer-encoding: chunked\r\n\r\n', floodChunked(12 << 20));
 */
export function floodChunked(bytes: number): (s: Socket) => void {
  return (s) => {
    const chunk = Buffer.alloc(1 << 16, 1);
    let sent = 0;
    const tick = () => {
      if (s.destroyed) return;
      if (sent > bytes) {
        s.destroy();
        return;
      }
      s.write(`${chunk.length.toString(16)}\r\n`);
      s.write(chunk);
      s.write('\r\n');
      sent += chunk.length;
      setImmediate(tick);
    };
    tick();
  };
}

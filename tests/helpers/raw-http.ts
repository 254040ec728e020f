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

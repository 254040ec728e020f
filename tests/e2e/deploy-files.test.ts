/**
 * The files a GPU host is set up with: the systemd unit passes `systemd-analyze verify` (with its
 * install paths pointed at this checkout), and `npm run backend:restart` without a running cluster
 * says so instead of signalling anything.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const UNIT = 'deploy/edge-cascade-backend.service';
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('deploy/edge-cascade-backend.service', () => {
  it.skipIf(!hasAnalyze)('passes systemd-analyze verify', () => {
    const d = mkdtempSync(join(tmpdir(), 'edge-cascade-unit-'));
    writeFileSync(join(d, 'backend.env'), 'CASCADE_SECRET=unit-test-secret-0123456789\n');
    const unit = readFileSync(UNIT, 'utf8')
      .replaceAll('/opt/edge-cascade', resolve('.'))
      .replaceAll('/etc/edge-cascade/backend.env', join(d, 'backend.env'))
      .replace(/^User=.*$/m, 'User=root')
      .replace(/^Group=.*$/m, 'Group=root');
    writeFileSync(join(d, 'edge-cascade-backend.service'), unit);
    const r = spawnSync('systemd-analyze', ['verify', join(d, 'edge-cascade-backend.service')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });
  it('runs the cluster primary itself (node, not npm) and reloads with SIGHUP', () => {
    const unit = readFileSync(UNIT, 'utf8');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/env node --import tsx gpu-backend\/src\/cluster\.ts$/m);
    expect(unit).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    expect(unit).toMatch(/^Environment=HOST=127\.0\.0\.1 /m);
  });
});

describe('npm run backend:restart', () => {
  it('without a running cluster: exit 2 and what to check', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/backend-restart.ts'], {
      encoding: 'utf8',
      env: { ...process.env, PID_FILE: join(tmpdir(), 'edge-cascade-no-such.pid') },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/is npm run backend:cluster running/);
    expect(
      execFileSync(process.execPath, ['--import', 'tsx', 'scripts/backend-restart.ts', '--help'], { encoding: 'utf8' }),
    ).toMatch(/one at a time/);
  });
});

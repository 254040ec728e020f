/**
 * scripts/deploy-check.ts: what blocks a deploy (errors), what blocks only a real one
 * (placeholders), on the configuration wrangler resolves from the committed wrangler.toml and on
 * altered copies of it.
 */
import { describe, expect, it } from 'vitest';
import { unstable_readConfig } from 'wrangler';
import { checkBackendUrl, checkDeployConfig, type DeployConfig } from '../../scripts/deploy-check.js';

const read = (env?: string) => unstable_readConfig({ config: 'wrangler.toml', env }) as unknown as DeployConfig;
const top = read();
const withMigrations = (c: DeployConfig) => ({ ...c, migrations: top.migrations });

describe('the committed wrangler.toml', () => {
  it.each(['production', 'staging'])(
    '%s: no errors; the account-specific ids and the backend host are placeholders',
    (env) => {
      const r = checkDeployConfig(withMigrations(env === 'production' ? top : read(env)), env);
      expect(r.errors).toEqual([]);
      expect(r.placeholders).toHaveLength(3);
      expect(r.placeholders.join('\n')).toMatch(
        /BACKEND_URL .*\n.*THRESHOLDS.*kv namespace create.*\n.*METRICS.*d1 create/,
      );
    },
  );
  it('dev is refused: a loopback backend over http and the region header on', () => {
    const r = checkDeployConfig(withMigrations(read('dev')), 'dev');
    expect(r.errors.join('\n')).toMatch(/127\.0\.0\.1 is a loopback address/);
    expect(r.errors.join('\n')).toMatch(/ALLOW_REGION_HEADER/);
  });
});

describe('checkDeployConfig', () => {
  const good: DeployConfig = {
    ...withMigrations(top),
    vars: { BACKEND_URL: 'https://gpu.example.com', ALLOW_REGION_HEADER: 'false' },
    kv_namespaces: [{ binding: 'THRESHOLDS', id: '0123456789abcdef0123456789abcdef' }],
    d1_databases: [
      {
        binding: 'METRICS',
        database_name: 'm',
        database_id: '01234567-89ab-cdef-0123-456789abcdef',
        migrations_dir: 'workers/edge/migrations',
      },
    ],
  };
  it('passes a filled-in production config with nothing left to fill', () => {
    expect(checkDeployConfig(good, 'production')).toEqual({ errors: [], placeholders: [] });
  });
  it('refuses a secret written as a var, naming the wrangler secret put command', () => {
    const r = checkDeployConfig({ ...good, vars: { ...good.vars, CASCADE_SECRET: 'x' } }, 'staging');
    expect(r.errors).toEqual([
      expect.stringMatching(/CASCADE_SECRET is a plain var.*wrangler secret put CASCADE_SECRET --env staging/),
    ]);
  });
  it('refuses missing bindings, crons and observability', () => {
    const r = checkDeployConfig(
      {
        ...good,
        kv_namespaces: [],
        durable_objects: { bindings: [] },
        triggers: { crons: [] },
        observability: { enabled: false },
      },
      'production',
    );
    expect(r.errors.join('\n')).toMatch(/THRESHOLDS[\s\S]*REGIONS[\s\S]*cron[\s\S]*observability/);
  });
  it('refuses a Durable Object class no migration creates', () => {
    const r = checkDeployConfig({ ...good, migrations: [] }, 'production');
    expect(r.errors).toEqual([
      expect.stringMatching(/no \[\[migrations\]\] entry creates the Durable Object class RegionObject/),
    ]);
  });
});

describe('checkBackendUrl reads the canonical host', () => {
  it.each([
    ['http://localhost:8788', /this machine/],
    ['https://LOCALHOST./', /this machine/],
    ['https://api.localhost', /this machine/],
    ['https://127.0.0.1', /loopback/],
    ['https://0x7f.1/', /127\.0\.0\.1 is a loopback/],
    ['https://2130706433/', /loopback/],
    ['https://[::1]:8788', /loopback/],
    ['https://[::ffff:127.0.0.1]/', /loopback/],
    ['https://[::ffff:10.0.0.1]/', /private/],
    ['https://10.1.2.3', /private/],
    ['https://172.20.0.1', /private/],
    ['https://192.168.1.10', /private/],
    ['https://169.254.169.254', /link-local/],
    ['https://[fd00::1]', /unique local/],
    ['https://0.0.0.0', /unspecified/],
    ['http://gpu.example.com', /unencrypted; use https/],
    ['https://user:pw@gpu.example.com', /credentials/],
    ['not a url', /not a URL/],
    ['', /not set/],
  ])('%s is refused', (url, why) => {
    const [err] = checkBackendUrl(url);
    expect(err).toMatch(why);
  });
  it.each(['https://gpu.example.com', 'https://203.0.113.7:8443/', 'https://172.32.0.1', 'https://[2001:db8::1]'])(
    '%s is accepted',
    (url) => {
      expect(checkBackendUrl(url)).toEqual([undefined, undefined]);
    },
  );
  it('an .invalid host is a placeholder, not an error', () => {
    expect(checkBackendUrl('https://gpu-backend.replace-me.invalid')).toEqual([
      undefined,
      expect.stringMatching(/public https URL/),
    ]);
  });
});

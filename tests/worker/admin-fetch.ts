/**
 * The admin API as the controller tests call it: the test env's admin token, JSON bodies.
 *
 * @example
 * const res = await admin('/regions/colo:LHR', { method: 'PUT', body: JSON.stringify(settings) });
 */
import { SELF } from 'cloudflare:test';

/** ADMIN_TOKEN as vitest.config.ts binds it. */
export const TOKEN = 'test-admin-token';

/** `path` under /admin with the bearer token (and a JSON content type when there is a body). */
export function admin(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${TOKEN}`);
  if (init.body) headers.set('content-type', 'application/json');
  return SELF.fetch(`https://edge.test/admin${path}`, { ...init, headers });
}

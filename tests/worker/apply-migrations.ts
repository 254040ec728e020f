// Setup file of the workerd tests (vitest.config.ts): applies the worker's D1 migrations
// (workers/edge/migrations, read by readD1Migrations in the config) to METRICS, as
// `wrangler d1 migrations apply` does for a deployment. Each test file starts with fresh storage;
// applyD1Migrations skips migrations already recorded, so running it again is harmless.
import { applyD1Migrations, env } from 'cloudflare:test';

await applyD1Migrations(env.METRICS, env.TEST_MIGRATIONS);

/** Runs vitest on Node >= 22 (the workers project's plugin needs it); arguments pass through. */
import { spawnSync } from 'node:child_process';
import { node22 } from './node22.js';

const r = spawnSync(node22(), ['node_modules/vitest/vitest.mjs', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);

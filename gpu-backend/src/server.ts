/**
 * Entry of `npm run backend` (`tsx gpu-backend/src/server.ts`): one backend process, configured
 * from the environment (start-backend.ts does the work). SIGTERM/SIGINT drain what is in flight,
 * then exit 0; a configuration error is one line on stderr and exit 1.
 *
 * @example
 * CASCADE_SECRET=… MODEL_DIR=models/fashion-resnet npm run backend
 */

import { log } from '../../core/log.js';
import { ConfigError } from './config.js';
import { startBackend } from './start-backend.js';

startBackend(process.env)
  .then((b) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void b.stop().then(() => process.exit(0)));
  })
  .catch((e: unknown) => {
    if (e instanceof ConfigError) log.error(`configuration error: ${e.message}`, { component: 'backend' });
    else log.error('backend failed to start', { component: 'backend', error: e });
    process.exit(1);
  });

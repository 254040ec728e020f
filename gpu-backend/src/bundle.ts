/**
 * The backend's bundle loading is core/node/bundle.ts (shared with training, benches and tests):
 * the manifest validated and every segment and exit file checked against its sha256. Re-exported
 * here for the backend's own imports (start-backend.ts, cluster-processes.ts).
 */
export { loadBundle } from '../../core/node/bundle.js';

/**
 * Entry of the backend on several cores (`BACKEND_PROCESSES` server processes sharing one port;
 * cluster-processes.ts holds the primary's and the server processes' work). node:cluster forks this
 * same file for each server process, so it calls runCluster() unconditionally: in the primary it
 * forks, in a forked process it serves.
 *
 * @example
 * BACKEND_PROCESSES=8 BACKEND_SHARED_EXECUTOR=1 CASCADE_SECRET=… node --import tsx gpu-backend/src/cluster.ts
 */
import { runCluster } from './cluster-processes.js';

await runCluster();

/**
 * Entry of `npm run ops -- <command> [options]` (`tsx scripts/ops.ts`): the operator CLI for the edge
 * worker's admin API (scripts/ops/commands.ts). Exit 0 done, 1 a request failed, 2 a usage error.
 *
 * @example
 * npm run ops -- regions get colo:LHR
 * npm run ops -- budget set colo:LHR 0.2
 * npm run ops -- regions set colo:LHR --max-forward-rate=0.25
 * npm run ops -- regions resolve colo:LHR --window-minutes=120
 * npm run ops -- regions set colo:LHR --shadow=0.05 --max-disagreement=0.01
 * npm run ops -- regions canary colo:LHR --thresholds=0.9,0.8,0.7,0.7 --share=0.1
 * npm run ops -- regions verify colo:LHR
 * npm run ops -- frontier --policy=eenet --json
 */
import { main } from './ops/commands.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);

/**
 * Entry of `npm run train -- <command> [--config=name] [--key=value …]` (`tsx training/cli.ts`):
 * runs the command line through training/commands.ts (the commands, their help and their errors) and
 * exits with reportError's code (2 for a user's error, 1 for a bug).
 *
 * @example
 * npm run train -- attach --help
 */
import { main, reportError } from './commands.js';

main(process.argv.slice(2)).catch((e: unknown) => process.exit(reportError(e)));

/**
 * The one error for a setting the user must fix: a command-line option (scripts/cli-args.ts), a
 * training config key (training/config.ts), an environment variable (gpu-backend/src/config.ts).
 * Its message names the bad value and what is allowed; command lines print it as one line without
 * a stack trace and exit 2. Pure (no node: imports), like the rest of core/.
 *
 * @example
 * throw new ConfigError('--tfBackend=foo: expected one of auto, tensorflow, wasm, cpu');
 * const r = schema.safeParse(value);
 * if (!r.success) throw new ConfigError(`--epochs=${raw}: ${r.error.issues.map((i) => issueText(i)).join('; ')}`);
 */
import type { z } from 'zod';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * One zod issue in the words of the help texts: `must be ≥ 1`, `expected one of auto, wasm, cpu`,
 * `expected an integer`; an issue inside a list says which value (`value 2: must be > 0`). Zod's own
 * messages ("Too small: expected number to be >=1", enum values quoted and `|`-joined) are kept for
 * the issue kinds not worded here and for the custom ones, which carry their own words.
 */
export function issueText(issue: z.core.$ZodIssue): string {
  const index = issue.path.find((p) => typeof p === 'number');
  const where = index === undefined ? '' : `value ${index + 1}: `;
  const i = issue as z.core.$ZodIssue & Record<string, unknown>;
  switch (issue.code) {
    case 'invalid_value':
      return `${where}expected ${issue.values.length === 1 ? String(issue.values[0]) : `one of ${issue.values.map(String).join(', ')}`}`;
    case 'invalid_type':
      if (issue.expected === 'int') return `${where}expected an integer`;
      if (issue.expected === 'number') return `${where}expected a number`;
      if (issue.expected === 'boolean') return `${where}expected true or false`;
      return `${where}expected ${issue.expected}`;
    case 'too_small':
      if (i.origin === 'array') return `${where}needs at least ${String(issue.minimum)} value(s)`;
      if (i.origin === 'string') return `${where}${issue.message}`;
      return `${where}must be ${issue.inclusive === false ? '>' : '≥'} ${String(issue.minimum)}`;
    case 'too_big':
      if (i.origin === 'array') return `${where}takes at most ${String(issue.maximum)} value(s)`;
      if (i.origin === 'string') return `${where}${issue.message}`;
      return `${where}must be ${issue.inclusive === false ? '<' : '≤'} ${String(issue.maximum)}`;
    case 'unrecognized_keys':
      return `unknown key(s) ${issue.keys.join(', ')}`;
    default:
      return `${where}${issue.message}`;
  }
}

/**
 * The one structured logger of the edge and the backend: each call writes one JSON line
 * `{time, level, msg, ...fields}` through `console` (workerd and Node alike). Levels below the
 * current one are dropped; the level starts as `LOG_LEVEL` where a `process.env` exists (Node), else
 * `info`, and `setLogLevel` changes it (the edge sets it from its LOG_LEVEL binding). Log shapes and
 * ids (request id, region, segment, sizes), never payloads (features, pixels, secrets).
 *
 * @example
 * log.info('backend ready', { url, executor: 'cuda' });
 * // {"time":"2025-…Z","level":"info","msg":"backend ready","url":"http://127.0.0.1:8788","executor":"cuda"}
 * log.error('unexpected error', { requestId, error: err }); // an Error becomes {name, message, stack (4 lines)}
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFields = Record<string, unknown>;
/** Where a finished line goes. */
export type LogSink = (level: LogLevel, line: string) => void;

/** Each level through its own console method: Workers Logs (and browsers) file it under that level. */
export const consoleSink: LogSink = (level, line) => console[level](line);
/**
 * Every level through `console.error`: on Node that is stderr, where the backend has always logged
 * (its stdout is left to data; supervisors, benches and tests read stderr for "ready on …").
 */
export const stderrSink: LogSink = (_level, line) => console.error(line);

/**
 * The level a LOG_LEVEL value names (case and surrounding spaces ignored); undefined when unset or empty.
 * Throws on anything else, so a typo is refused where the value is read instead of silently logging at info.
 *
 * @example
 * parseLogLevel('WARN'); // 'warn'
 */
export function parseLogLevel(value: string | undefined): LogLevel | undefined {
  const v = value?.trim().toLowerCase();
  if (!v) return undefined;
  if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  throw new Error(`LOG_LEVEL=${JSON.stringify(value)}: must be one of ${LOG_LEVELS.join(', ')}`);
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** LOG_LEVEL from the environment where there is one (Node; workerd has no `process` without nodejs_compat). */
function levelFromEnv(): LogLevel {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  try {
    return parseLogLevel(env?.LOG_LEVEL) ?? 'info';
  } catch {
    // A bad value must not stop a module from loading; the entry point that reads LOG_LEVEL refuses it.
    return 'info';
  }
}

let current: LogLevel = levelFromEnv();
let sink: LogSink = consoleSink;

/** Sets the lowest level written. @example setLogLevel('debug'); */
export function setLogLevel(level: LogLevel): void {
  current = level;
}

/** The lowest level written now. */
export const logLevel = (): LogLevel => current;

/** Sets where lines go (default `consoleSink`). @example setLogSink(stderrSink); */
export function setLogSink(s: LogSink): void {
  sink = s;
}

/** An Error as JSON can carry it: name, message, a machine code where it has one, the stack's first lines. */
function errorShape(e: Error): Record<string, unknown> {
  const code = (e as { code?: unknown }).code;
  return {
    name: e.name,
    message: e.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(e.stack
      ? {
          stack: e.stack
            .split('\n')
            .slice(0, 4)
            .map((l) => l.trim()),
        }
      : {}),
  };
}

function write(level: LogLevel, msg: string, fields?: LogFields): void {
  if (RANK[level] < RANK[current]) return;
  // time, level and msg come first and cannot be overwritten by a field of the same name.
  const head = { time: new Date().toISOString(), level, msg };
  let line: string;
  try {
    line = JSON.stringify({ ...head, ...fields, ...head }, (_k, v: unknown) =>
      v instanceof Error ? errorShape(v) : typeof v === 'bigint' ? String(v) : v,
    );
  } catch (e) {
    // A cyclic field: keep the line, say why its fields are missing.
    line = JSON.stringify({ ...head, logError: `fields not serialisable: ${(e as Error).message}` });
  }
  sink(level, line);
}

/** Structured, levelled logging; see the module comment. */
export const log = {
  debug: (msg: string, fields?: LogFields): void => write('debug', msg, fields),
  info: (msg: string, fields?: LogFields): void => write('info', msg, fields),
  warn: (msg: string, fields?: LogFields): void => write('warn', msg, fields),
  error: (msg: string, fields?: LogFields): void => write('error', msg, fields),
};

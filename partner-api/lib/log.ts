/**
 * The API's log: JSON lines, one object per line (`time`, `level`, `message`, then the fields), so the
 * request log, the delivery worker and start-up speak the same format (README, "Logs").
 */
import type { Config } from '../config';

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** JSON lines: info to stdout, errors to stderr; `silent` prints nothing. */
export function jsonLogger(level: Config['log']): Logger {
  const write = (stream: NodeJS.WriteStream, lvl: string, message: string, fields?: Record<string, unknown>) => {
    if (level === 'silent') return;
    stream.write(`${JSON.stringify({ time: new Date().toISOString(), level: lvl, message, ...fields })}\n`);
  };
  return {
    info: (message, fields) => write(process.stdout, 'info', message, fields),
    error: (message, fields) => write(process.stderr, 'error', message, fields),
  };
}

/** Drops every line: for tools and tests that set up a context but have no one to tell. */
export const silentLogger: Logger = { info: () => undefined, error: () => undefined };

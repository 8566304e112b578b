/**
 * One error format and one set of exit codes for the operators' command line (cli/admin.ts and any
 * command added to it). A command throws; `reportCliError` prints and picks the exit code:
 *
 *   exit 0  done
 *   exit 1  refused: the command was understood, the data says no (no such workspace or key). ApiError.
 *   exit 2  wrong usage: unknown command, missing or unknown option or value. UsageError; the usage follows.
 *   exit 3  could not run: the database cannot be opened, or an unexpected failure (a bug: report it).
 *
 * stderr always starts with one line `error: <what is wrong>`; stdout stays empty, so a script that
 * captures stdout never mistakes an error for a result (README, "Operating the API").
 */
import { ApiError } from '../domain/errors';

export const EXIT = { ok: 0, refused: 1, usage: 2, failed: 3 } as const;

/** Wrong usage (exit 2): the message says what was wrong; the usage text is printed after it. */
export class UsageError extends Error {}

/** Could not run (exit 3): e.g. the database cannot be opened. The message says what to do. */
export class CliFailure extends Error {}

export interface ErrorIo {
  stderr(line: string): void;
}

/** What an operator with a mistyped or stale id does next: the lists that show the real ones. */
export const NOT_FOUND_HINT =
  'The ids are listed by `./dev admin workspace list`, and per workspace by `agent list`, `assistant list` and ' +
  '`key list --workspace ws_…`.';

/** Prints `error` in the one format and returns the exit code for it. */
export function reportCliError(error: unknown, io: ErrorIo, usage: string): number {
  if (error instanceof UsageError) {
    io.stderr(`error: ${error.message}\n\n${usage}`);
    return EXIT.usage;
  }
  if (error instanceof ApiError) {
    io.stderr(`error: ${error.message}${error.status === 404 ? ` ${NOT_FOUND_HINT}` : ''}`);
    return EXIT.refused;
  }
  if (error instanceof CliFailure) {
    io.stderr(`error: ${error.message}`);
    return EXIT.failed;
  }
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  io.stderr(`error: unexpected failure (a bug; please report it with what follows)\n${detail}`);
  return EXIT.failed;
}

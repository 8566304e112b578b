/**
 * Storage faults: SQLite errors that say the disk under the database cannot take a write right now (full,
 * failing, or mounted read-only), as opposed to a bug in a query. The API answers them 503
 * `storage_unavailable` with Retry-After (http/errors.ts), the checkpoint thread rides them out
 * (checkpointer-thread.ts), and best-effort bookkeeping skips its write. Issue 8 §6.
 *
 * Codes: https://www.sqlite.org/rescode.html. Extended codes (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED…)
 * carry their primary code as a prefix.
 */
const STORAGE_CODES = ['SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_READONLY', 'SQLITE_CANTOPEN'];

/**
 * Whether `error` is a SQLite error (better-sqlite3's SqliteError has a string `code`) of a storage fault.
 * Judged by its code, not by `instanceof`: the native addon makes its errors with the constructor of the
 * realm that loaded it first, which under jest is another test file's.
 */
export function isStorageFault(error: unknown): error is Error & { code: string } {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && STORAGE_CODES.some((prefix) => code === prefix || code.startsWith(`${prefix}_`));
}

/** Seconds a client is asked to wait before retrying a write refused for a storage fault. */
export const STORAGE_RETRY_AFTER_SECONDS = 30;

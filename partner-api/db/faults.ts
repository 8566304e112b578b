/**
 * Storage faults: database errors that say the database cannot take a write right now, as opposed to a bug in
 * a query. The API answers them 503 `storage_unavailable` with Retry-After (http/errors.ts), the checkpoint
 * thread rides them out (checkpointer-thread.ts), and best-effort bookkeeping skips its write. Issue 8 §6
 * (SQLite), issue 13 (PostgreSQL).
 *
 * - SQLite (https://www.sqlite.org/rescode.html): the disk under the file is full, failing, or mounted
 *   read-only. Extended codes (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED…) carry their primary code as a
 *   prefix.
 * - PostgreSQL (SQLSTATEs, https://www.postgresql.org/docs/current/errcodes-appendix.html): the connection
 *   failed or was lost (class 08), the server is shutting down or starting (57P01 admin_shutdown, 57P02
 *   crash_shutdown, 57P03 cannot_connect_now), or is out of resources (class 53: disk full, out of memory,
 *   too many connections). Also node-postgres's own errors for a connection that broke without a SQLSTATE,
 *   and a server that refuses or resets the connection (ECONNREFUSED, ECONNRESET). In each case the
 *   transaction did not commit (a COMMIT cut off mid-way is the one exception: its outcome is unknown, which
 *   a retry with the same Idempotency-Key settles).
 */
const SQLITE_CODES = ['SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_READONLY', 'SQLITE_CANTOPEN'];

const PG_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123]|53[0-9A-Z]{3})$/;

/** Socket errors node-postgres passes on when the server cannot be reached or drops the connection. */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET']);

/**
 * node-postgres's messages for a connection that ended under a query (they carry no code): "Connection
 * terminated unexpectedly", "Connection terminated due to connection timeout", "Client has encountered a
 * connection error and is not queryable", the pool's "timeout exceeded when trying to connect".
 */
const PG_CONNECTION_LOST =
  /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect)/;

/**
 * Whether `error` is a storage fault of either engine, by its `code` (better-sqlite3's SQLITE_… code, or
 * node-postgres's SQLSTATE or socket error code) or, for node-postgres's lost connections, its message.
 * Judged by code, not by `instanceof`: the native addon makes its errors with the constructor of the realm
 * that loaded it first, which under jest is another test file's.
 */
export function isStorageFault(error: unknown): error is Error & { code?: string } {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    return (
      SQLITE_CODES.some((prefix) => code === prefix || code.startsWith(`${prefix}_`)) ||
      PG_SQLSTATE.test(code) ||
      CONNECTION_CODES.has(code)
    );
  }
  const message = (error as { message?: unknown }).message;
  return error instanceof Error && typeof message === 'string' && PG_CONNECTION_LOST.test(message);
}

/** Seconds a client is asked to wait before retrying a write refused for a storage fault. */
export const STORAGE_RETRY_AFTER_SECONDS = 30;

/** pg-pool's error when no connection came within its `connectionTimeoutMillis` (config.ts `databasePool`). */
export const PG_POOL_WAIT_MESSAGE = 'timeout exceeded when trying to connect';

/**
 * Whether `error` is PostgreSQL's pool giving up its bounded wait for a connection: every connection was
 * taken (or a new one was slow to open) for the whole wait. A storage fault; its statement never ran.
 */
export function isConnectionWaitTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === PG_POOL_WAIT_MESSAGE && !('code' in error);
}

/** Seconds a client is asked to wait after a refusal for want of a free database connection: a burst, soon past. */
export const CONNECTION_WAIT_RETRY_AFTER_SECONDS = 5;

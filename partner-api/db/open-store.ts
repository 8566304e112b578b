/**
 * Opens the API's database, whichever engine the settings name (ADR 0010): PostgreSQL when
 * `config.databaseUrl` is set (ILLUMICHAT_DATABASE_URL, for several instances on one database), else SQLite
 * at `config.dbPath` (ILLUMICHAT_DB_PATH, the embedded default). Either way the schema is migrated before it
 * resolves: SQLite's by db/open.ts, PostgreSQL's by db/pg-migrate.ts under its advisory lock, so instances
 * starting together take turns.
 */
import type { Config } from '../config';
import { explainPgOpenError, openDatabaseOrExplain } from '../startup-errors';
import { migratePg } from './pg-migrate';
import { openPgStore, type PgStore } from './pg-store';
import { SqliteStore } from './sqlite-store';
import type { Store } from './store';

/** How long the first connection to PostgreSQL may take before the start is given up (migrations not included). */
export const PG_CONNECT_TIMEOUT_MS = 30_000;

export interface OpenStoreOptions {
  /** Errors of PostgreSQL's idle and listening connections, which the pool replaces by itself (the log's). */
  onError?: (error: Error) => void;
}

/**
 * The store for `config`: a PgStore (db/pg-store.ts) when `config.databaseUrl` is set, else a SqliteStore
 * on `config.dbPath` (created when missing). Rejects with a one-line StartupError (startup-errors.ts) when a
 * setting can fix what went wrong: a SQLite location that cannot be written; a PostgreSQL server that cannot
 * be reached within PG_CONNECT_TIMEOUT_MS, refuses the login, has no such database, or closes the connection
 * before the migrations are done (the message names the URL with its password hidden). A failed migration or
 * a schema newer than this build is rethrown as it is.
 */
export async function openStore(config: Config, options: OpenStoreOptions = {}): Promise<Store> {
  if (config.databaseUrl === undefined) return new SqliteStore(openDatabaseOrExplain(config.dbPath));
  const url = config.databaseUrl;
  const store = await openPgStore(url, {
    migrate: false,
    ...(options.onError ? { onError: options.onError } : {}),
    max: config.databasePool.size,
    backgroundMax: config.databasePool.workerSize,
    connectionWaitMs: config.databasePool.waitMs,
  });
  try {
    await connectWithin(store, url, PG_CONNECT_TIMEOUT_MS);
    await migratePg(store.pool);
  } catch (error) {
    // The pool may still wait on a server that never answers: do not wait for it to end.
    void store.close().catch(() => undefined);
    // A connection lost during the migrations (the server stopping) is said as one line too.
    throw explainPgOpenError(error, url);
  }
  return store;
}

/** One round trip, so that a server out of reach is a StartupError saying so, before migrations start. */
async function connectWithin(store: PgStore, url: string, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })), timeoutMs);
  });
  try {
    await Promise.race([store.pool.query('SELECT 1'), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The engine a jest run tests (ADR 0010 §8): ILLUMICHAT_TEST_ENGINE=sqlite (the default) or postgres. The
 * suite runs once per engine in .ci/run; a helper that needs a database asks `openTestStore()` for one and
 * gets it on the run's engine, empty and migrated, its own for the test file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { openPgStore, type PgStoreOptions } from '../../partner-api/db/pg-store';
import type { Engine, Store } from '../../partner-api/db/store';
import { closeAfterFile, freshPgDatabaseUrl } from './pg';

const ENGINES: readonly Engine[] = ['sqlite', 'postgres'];

/** The run's engine, from ILLUMICHAT_TEST_ENGINE; throws on a value that names neither. */
export function testEngine(): Engine {
  const value = process.env.ILLUMICHAT_TEST_ENGINE || 'sqlite';
  if (!(ENGINES as readonly string[]).includes(value)) {
    throw new Error(`ILLUMICHAT_TEST_ENGINE is "${value}"; it must be one of ${ENGINES.join(', ')}`);
  }
  return value as Engine;
}

/** Opens the SQLite store on `file` (a path in a fresh temp directory): db/sqlite-store.ts's opener. */
export type SqliteStoreFactory = (file: string) => Store | Promise<Store>;

export interface TestStoreOptions {
  /** How to open a SQLite store: needed on the sqlite engine, unused on postgres. */
  openSqlite?: SqliteStoreFactory;
  /** Options for the PostgreSQL store (pool size, write attempts…). */
  pg?: PgStoreOptions;
  /**
   * An existing database to open again (a restart, a second process): a location from `newTestDatabase()`
   * (a SQLite file path or a postgres:// URL). Without it, a new database on the run's engine.
   */
  at?: string;
}

// Temp directories of this file's SQLite stores, removed after the file.
const tempDirs: string[] = [];
if (typeof afterAll === 'function') {
  afterAll(() => {
    for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });
}

/** True when `location` (from `newTestDatabase()`) is a PostgreSQL database's URL, false for a SQLite file. */
export function isPgLocation(location: string): boolean {
  return /^postgres(ql)?:\/\//.test(location);
}

/**
 * A new database on the run's engine, as a location a test can open more than once (`openTestStore({ at })`)
 * or hand to a child process (`databaseEnv`): on SQLite a file path in a temp directory (the file is made and
 * migrated by whoever opens it first; the directory is removed after the test file), on PostgreSQL the URL of
 * a new database cloned from the run's migrated template (dropped after the test file; test/support/pg.ts).
 * Call it from a hook with PG_SETUP_TIMEOUT_MS: the first PostgreSQL one of a file may start a cluster.
 */
export async function newTestDatabase(): Promise<string> {
  if (testEngine() === 'postgres') return await freshPgDatabaseUrl();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'illumichat-store-'));
  tempDirs.push(dir);
  return path.join(dir, 'illumichat.db');
}

/** A SQLite path no process can open: given beside a PostgreSQL URL (databaseEnv). */
export const UNOPENABLE_DB_PATH = '/dev/null/illumichat-was-given-ILLUMICHAT_DATABASE_URL.db';

/**
 * Removes a SQLite database `newTestDatabase()` made (its temp directory) at once, for a caller that outlives
 * no test file (npm run demo) or checks that nothing is left. A PostgreSQL database is left to be dropped
 * after the test file (test/support/pg.ts). Does nothing for a location newTestDatabase did not make.
 */
export function removeTestDatabase(location: string): void {
  const dir = path.dirname(location);
  const index = tempDirs.indexOf(dir);
  if (isPgLocation(location) || index < 0) return;
  tempDirs.splice(index, 1);
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * The environment that points an API process (server.ts, cli/admin.ts) at `location`: ILLUMICHAT_DB_PATH for
 * a SQLite file; for a PostgreSQL URL, ILLUMICHAT_DATABASE_URL and an ILLUMICHAT_DB_PATH no process can open,
 * so a process that does not read the URL fails at start, naming it, instead of passing on a SQLite file.
 */
export function databaseEnv(location: string): Record<string, string> {
  return isPgLocation(location)
    ? { ILLUMICHAT_DATABASE_URL: location, ILLUMICHAT_DB_PATH: UNOPENABLE_DB_PATH }
    : { ILLUMICHAT_DB_PATH: location };
}

/**
 * A store with the build's schema: on `options.at` when given (whichever engine that location names), else
 * on a new database of the run's engine with no rows (`newTestDatabase()`). A PostgreSQL store is closed
 * after the test file, before its database is dropped (closing it earlier is fine). Call it from a
 * `beforeAll` or `beforeEach` (the first PostgreSQL one of a file may start a cluster: PG_SETUP_TIMEOUT_MS).
 * Throws on a SQLite location when no `openSqlite` is given.
 */
export async function openTestStore(options: TestStoreOptions = {}): Promise<Store> {
  const location = options.at ?? (await newTestDatabase());
  if (isPgLocation(location)) return closeAfterFile(await openPgStore(location, options.pg));
  if (!options.openSqlite) {
    throw new Error('openTestStore on sqlite needs options.openSqlite, the SQLite store opener (db/sqlite-store.ts)');
  }
  return options.openSqlite(location);
}

/**
 * `describe` for tests that hold only on one engine, `describe.skip` on the other; `reason` says why (it is
 * shown in the skipped block's name, and docs/testing.md lists every use). For tests about SQLite itself
 * (PRAGMAs, the WAL, `sqliteHandle`, SQLite's migrations) or PostgreSQL itself. Hooks that open a database
 * for such tests belong inside the block, so they do not run on the other engine.
 */
export function describeEngine(engine: Engine, reason: string, name: string, fn: () => void): void {
  const title = `${name} [${engine} only: ${reason}]`;
  if (testEngine() === engine) describe(title, fn);
  else describe.skip(title, fn);
}

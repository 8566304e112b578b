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
}

// Temp directories of this file's SQLite stores, removed after the file.
const tempDirs: string[] = [];
if (typeof afterAll === 'function') {
  afterAll(() => {
    for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * A store on the run's engine with the build's schema and no rows: on SQLite a new file in a temp directory
 * (removed after the test file), on PostgreSQL a new database cloned from the run's migrated template (closed
 * if still open, then dropped, after the test file; test/support/pg.ts). Call it from a `beforeAll` or
 * `beforeEach`; the first PostgreSQL one of a file may start a cluster (give the hook PG_SETUP_TIMEOUT_MS).
 * Throws on sqlite when no `openSqlite` is given.
 */
export async function openTestStore(options: TestStoreOptions = {}): Promise<Store> {
  if (testEngine() === 'postgres') {
    return closeAfterFile(await openPgStore(await freshPgDatabaseUrl(), options.pg));
  }
  if (!options.openSqlite) {
    throw new Error('openTestStore on sqlite needs options.openSqlite, the SQLite store opener (db/sqlite-store.ts)');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'illumichat-store-'));
  tempDirs.push(dir);
  return options.openSqlite(path.join(dir, 'illumichat.db'));
}

/**
 * Prepared statements, compiled once per database and reused: preparing is the costly part of a query in
 * better-sqlite3, and the hot paths (key lookup, event writes) run thousands of times a second.
 */
import type { Statement, Transaction } from 'better-sqlite3';

import type { Db } from '../db/open';

const caches = new WeakMap<Db, Map<string, Statement>>();

/**
 * The statement for `text`, prepared on first use and cached per database. `Row` is the shape of one result row
 * (the columns the SELECT names, with their aliases); `.all()` answers `Row[]`. For one row, see `selectOne`.
 */
export function sql<Row = unknown>(db: Db, text: string): Statement<unknown[], Row> {
  let cache = caches.get(db);
  if (!cache) {
    cache = new Map();
    caches.set(db, cache);
  }
  let statement = cache.get(text);
  if (!statement) {
    statement = db.prepare(text);
    cache.set(text, statement);
  }
  // The caller names the row shape its SQL selects; the driver hands back whatever the columns hold.
  return statement as Statement<unknown[], Row>;
}

/** The first row `text` selects with `params`, as `Row`, or null when there is none. */
export function selectOne<Row>(db: Db, text: string, ...params: unknown[]): Row | null {
  return sql<Row>(db, text).get(...params) ?? null;
}

const runners = new WeakMap<Db, Transaction<(fn: () => unknown) => unknown>>();

/**
 * Runs `fn` in one write transaction (BEGIN IMMEDIATE, so two processes never deadlock on the upgrade).
 * One transaction wrapper per database, reused: building one per call showed in the request profile.
 */
export function writeTransaction<T>(db: Db, fn: () => T): T {
  let run = runners.get(db);
  if (!run) {
    run = db.transaction((inner: () => unknown) => inner());
    runners.set(db, run);
  }
  return run.immediate(fn) as T;
}

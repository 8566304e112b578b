/**
 * Prepared statements, compiled once per database and reused: preparing is the costly part of a query in
 * better-sqlite3, and the hot paths (key lookup, event writes) run thousands of times a second.
 */
import type { Statement } from 'better-sqlite3';

import type { Db } from '../db/open';

const caches = new WeakMap<Db, Map<string, Statement>>();

/**
 * The statement for `text`, prepared on first use and cached per database. `Row` is the shape of one result row
 * (the columns the SELECT names, with their aliases); `.all()` answers `Row[]`. The SQLite store
 * (db/sqlite-store.ts) runs every statement through here.
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

/**
 * PostgreSQL's transaction-scoped advisory locks, for the few writes that must take turns across instances
 * and have no row to lock (https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS).
 */
import type { Queryable } from './store';

/**
 * Inside a write transaction on `db`, waits until no other transaction holds advisory lock `key` (a bigint
 * below 2^53, each use its own) and holds it until this transaction ends. On SQLite it does nothing: the write
 * transaction already holds the one write lock.
 */
export async function lockUntilCommit(db: Queryable, key: number): Promise<void> {
  if (!db.inTransaction) throw new Error('lockUntilCommit needs a write transaction');
  if (db.engine === 'postgres') await db.value('SELECT pg_advisory_xact_lock(?)', key);
}

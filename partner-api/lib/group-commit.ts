/**
 * Group commit: the writes of every request handled in one turn of the event loop share one SQLite
 * transaction, each inside its own savepoint. COMMIT was the largest single cost per request in the
 * profile (about a fifth of the CPU at 1,000 events/s); shared, it is paid once per turn. Each caller's
 * promise settles only after the shared COMMIT, so nothing is answered before it is durable, and a write
 * that throws rolls back to its savepoint alone: the others in the group are unaffected.
 *
 * Unless SQLite has rolled the whole transaction back itself, which it may do on SQLITE_FULL, SQLITE_IOERR,
 * SQLITE_BUSY or SQLITE_NOMEM (https://www.sqlite.org/lang_transaction.html, "Response To Errors Within A
 * Transaction"): the writes before it are gone then, and the ones after would each run and commit on their
 * own while answered as failed. So the whole group fails with that error, and nothing more of it runs.
 */
import type { Db } from '../db/open';
import { writeTransaction } from './statements';

interface Pending {
  write: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

const groups = new WeakMap<Db, Pending[]>();

/** Runs `write` (synchronous, like any better-sqlite3 transaction body) in the next shared commit. */
export function commitWithGroup<T>(db: Db, write: () => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let group = groups.get(db);
    if (!group) {
      group = [];
      groups.set(db, group);
      setImmediate(() => commitGroup(db));
    }
    group.push({ write, resolve: resolve as (value: unknown) => void, reject });
  });
}

function commitGroup(db: Db): void {
  const group = groups.get(db) ?? [];
  groups.delete(db);
  if (!db.open) {
    for (const pending of group) pending.reject(new Error('the database is closed'));
    return;
  }
  let outcomes: Outcome[];
  try {
    outcomes = writeTransaction(db, () =>
      group.map((pending): Outcome => {
        try {
          // Nested inside the group's transaction, a better-sqlite3 transaction is a savepoint.
          return { ok: true, value: writeTransaction(db, pending.write) };
        } catch (error) {
          if (!db.inTransaction) throw error; // the group's transaction is gone: every caller hears why
          return { ok: false, error };
        }
      }),
    );
  } catch (error) {
    // The COMMIT itself failed, or SQLite rolled the transaction back: nothing of the group was written,
    // and every caller hears so.
    for (const pending of group) pending.reject(error);
    return;
  }
  group.forEach((pending, i) => {
    // One outcome per pending write, in order: the transaction maps over the group.
    const outcome = outcomes[i]!;
    if (outcome.ok) pending.resolve(outcome.value);
    else pending.reject(outcome.error);
  });
}

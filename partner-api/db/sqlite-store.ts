/**
 * The Store (db/store.ts) on one better-sqlite3 connection: the embedded default. Statements are prepared
 * once per text and cached (lib/statements.ts); preparing is the costly part of a query here.
 *
 * Group commit: the writes that arrive in one turn of the event loop share one SQLite transaction (BEGIN
 * IMMEDIATE), each inside its own savepoint. COMMIT was the largest single cost per request in the profile
 * (about a fifth of the CPU at 1,000 events/s); shared, it is paid once per turn. Each caller's promise
 * settles only after the shared COMMIT, so nothing is answered before it is durable, and a write that throws
 * rolls back to its savepoint alone: the others in the group are unaffected. Unless SQLite has rolled the
 * whole transaction back itself, which it may do on SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY or SQLITE_NOMEM
 * (https://www.sqlite.org/lang_transaction.html, "Response To Errors Within A Transaction"): then the whole
 * group fails with that error, and nothing more of it runs.
 *
 * The write closures are async (the interface is shared with PostgreSQL), but a Tx's statements run
 * synchronously and resolve at once, so a group runs within one chain of microtasks. Reads outside a write
 * that arrive while a group is open (another request's continuation in that chain) wait for its COMMIT: on
 * one connection they would otherwise see writes that a savepoint may still roll back.
 */
import { sql } from '../lib/statements';
import type { Db } from './open';
import type { Queryable, RunResult, Store, Tx, WriteOptions } from './store';

interface Pending {
  fn: (tx: Tx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Statements on the connection, run synchronously; the promise is only the interface's shape. */
function runOne<Row>(db: Db, text: string, params: unknown[]): Row | null {
  return sql<Row>(db, text).get(...params) ?? null;
}

function runValue<V>(db: Db, text: string, params: unknown[]): V | null {
  return (
    (sql(db, text)
      .pluck()
      .get(...params) as V | undefined) ?? null
  );
}

function runValues<V>(db: Db, text: string, params: unknown[]): V[] {
  return sql(db, text)
    .pluck()
    .all(...params) as V[];
}

export class SqliteTx implements Tx {
  readonly engine = 'sqlite' as const;
  readonly inTransaction = true as const;

  constructor(private readonly db: Db) {}

  one<Row>(text: string, ...params: unknown[]): Promise<Row | null> {
    return Promise.resolve(runOne<Row>(this.db, text, params));
  }

  value<V>(text: string, ...params: unknown[]): Promise<V | null> {
    return Promise.resolve(runValue<V>(this.db, text, params));
  }

  values<V>(text: string, ...params: unknown[]): Promise<V[]> {
    return Promise.resolve(runValues<V>(this.db, text, params));
  }

  all<Row>(text: string, ...params: unknown[]): Promise<Row[]> {
    return Promise.resolve(sql<Row>(this.db, text).all(...params));
  }

  run(text: string, ...params: unknown[]): Promise<RunResult> {
    return Promise.resolve({ changes: sql(this.db, text).run(...params).changes });
  }

  /** Nested: the caller's transaction already holds; `fn` runs inside it. */
  write<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return fn(this);
  }
}

export class SqliteStore implements Store {
  readonly engine = 'sqlite' as const;
  readonly inTransaction = false as const;
  private readonly tx: SqliteTx;
  private group: Pending[] | null = null;
  /** Settles when the open group has committed or rolled back; null when none is open. */
  private openGroup: Promise<void> | null = null;
  private closing = false;

  /** Takes an open connection (db/open.ts's openDatabase); `close()` closes it. */
  constructor(readonly handle: Db) {
    this.tx = new SqliteTx(handle);
  }

  get open(): boolean {
    return this.handle.open && !this.closing;
  }

  async one<Row>(text: string, ...params: unknown[]): Promise<Row | null> {
    if (this.openGroup) await this.idle();
    return runOne<Row>(this.handle, text, params);
  }

  async value<V>(text: string, ...params: unknown[]): Promise<V | null> {
    if (this.openGroup) await this.idle();
    return runValue<V>(this.handle, text, params);
  }

  async values<V>(text: string, ...params: unknown[]): Promise<V[]> {
    if (this.openGroup) await this.idle();
    return runValues<V>(this.handle, text, params);
  }

  async all<Row>(text: string, ...params: unknown[]): Promise<Row[]> {
    if (this.openGroup) await this.idle();
    return sql<Row>(this.handle, text).all(...params);
  }

  /** A write outside `write()`: it joins the next group like any other. */
  run(text: string, ...params: unknown[]): Promise<RunResult> {
    return this.write((tx) => tx.run(text, ...params));
  }

  /**
   * Joins the next group commit (see the module comment); resolves after its COMMIT. `urgent` commits that
   * group now, with the writes already waiting in it, rather than at the end of the turn.
   */
  write<T>(fn: (tx: Tx) => Promise<T>, options: WriteOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.group) {
        this.group = [];
        if (!options.urgent) setImmediate(() => void this.commitGroup());
      }
      this.group.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (options.urgent) void this.commitGroup();
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    while (this.group || this.openGroup) await new Promise((resolve) => setImmediate(resolve));
    if (this.handle.open) this.handle.close();
  }

  /** Resolves once no group is open. */
  private async idle(): Promise<void> {
    while (this.openGroup) await this.openGroup;
  }

  private async commitGroup(): Promise<void> {
    // A closure that awaited something other than its tx keeps the previous group open: wait for it. Checked
    // again after each wait, in the step that opens this group: an urgent write's commit may open one first.
    do await this.idle();
    while (this.openGroup);
    const group = this.group;
    if (!group) return; // an urgent write committed it before its turn ended
    this.group = null;
    if (!this.handle.open) {
      for (const pending of group) pending.reject(new Error('the database is closed'));
      return;
    }
    let settle!: () => void;
    this.openGroup = new Promise<void>((resolve) => (settle = resolve));
    try {
      const outcomes = await this.runGroup(group);
      group.forEach((pending, i) => {
        const outcome = outcomes[i]!; // one outcome per pending write, in order
        if (outcome.ok) pending.resolve(outcome.value);
        else pending.reject(outcome.error);
      });
    } catch (error) {
      // The COMMIT itself failed, or SQLite rolled the transaction back: nothing of the group was written.
      for (const pending of group) pending.reject(error);
    } finally {
      this.openGroup = null;
      settle();
    }
  }

  private async runGroup(group: Pending[]): Promise<Outcome[]> {
    const db = this.handle;
    sql(db, 'BEGIN IMMEDIATE').run();
    try {
      const outcomes: Outcome[] = [];
      for (const pending of group) {
        sql(db, 'SAVEPOINT write').run();
        try {
          const value = await pending.fn(this.tx);
          sql(db, 'RELEASE write').run();
          outcomes.push({ ok: true, value });
        } catch (error) {
          if (!db.inTransaction) throw error; // the group's transaction is gone: every caller hears why
          sql(db, 'ROLLBACK TO write').run();
          sql(db, 'RELEASE write').run();
          outcomes.push({ ok: false, error });
        }
      }
      sql(db, 'COMMIT').run();
      return outcomes;
    } catch (error) {
      if (db.inTransaction) sql(db, 'ROLLBACK').run();
      throw error;
    }
  }
}

/** The better-sqlite3 connection under a SQLite store, for what only SQLite has (PRAGMAs, checkpoints, the
 * query-plan test); throws when the store is another engine's. */
export function sqliteHandle(store: Queryable): Db {
  if (!(store instanceof SqliteStore)) throw new Error(`this needs the SQLite store, not ${store.engine}`);
  return store.handle;
}

/**
 * The one asynchronous interface the API talks to its database through, whichever engine is underneath
 * (ADR 0010): SQLite (db/sqlite-store.ts, the embedded default) or PostgreSQL (db/pg-store.ts, for many
 * instances). SQL is written once, with `?` placeholders; the PostgreSQL store numbers them (`$1`, `$2`…).
 * Rules every statement keeps so that both engines give the same answers: camelCase aliases are quoted
 * (`AS "dueMs"`), an optional parameter is tested with `CAST(? AS TEXT) IS NULL`, flags are INTEGER 0/1,
 * `*_ms` columns are unix milliseconds (BIGINT on PostgreSQL, read back as numbers).
 */

export type Engine = 'sqlite' | 'postgres';

/** What a statement that writes reports: how many rows it changed. */
export interface RunResult {
  changes: number;
}

/** Statements, on the store (each its own implicit transaction) or on a transaction (`Tx`). */
export interface Queryable {
  readonly engine: Engine;
  /** True on a `Tx`: statements run inside the caller's transaction. */
  readonly inTransaction: boolean;
  /** The first row `text` selects with `params`, as `Row` (the columns the SELECT names), or null. */
  one<Row>(text: string, ...params: unknown[]): Promise<Row | null>;
  /** The first column of the first row, or null when there is no row (a COUNT, a MAX, one id). */
  value<V>(text: string, ...params: unknown[]): Promise<V | null>;
  /** The first column of every row `text` selects (ids, tags), in the order the SQL gives. */
  values<V>(text: string, ...params: unknown[]): Promise<V[]>;
  /** Every row `text` selects, in the order the SQL gives. */
  all<Row>(text: string, ...params: unknown[]): Promise<Row[]>;
  /** Runs a statement that writes (use `all` for one with RETURNING); resolves to the rows it changed. */
  run(text: string, ...params: unknown[]): Promise<RunResult>;
  /**
   * Runs `fn` in one write transaction and resolves to what it returns, after COMMIT; rejects with what `fn`
   * threw, after rolling its writes back. On a `Tx` it runs `fn` inside that same transaction. `fn` may await
   * only `tx`'s methods (and pure computation), never the network: the transaction is held meanwhile.
   */
  write<T>(fn: (tx: Tx) => Promise<T>, options?: WriteOptions): Promise<T>;
}

/** How a write is committed. */
export interface WriteOptions {
  /**
   * Commit at once rather than with the writes of this turn of the event loop (SQLite's group commit,
   * db/sqlite-store.ts): for the delivery worker's claims, launches and records, each a step on every
   * delivery's way to its receiver, which would otherwise wait a whole turn per step. PostgreSQL commits
   * every write at once anyway; on a `Tx` it changes nothing.
   */
  urgent?: boolean;
}

/** A write transaction in progress; its statements see its own writes. */
export interface Tx extends Queryable {
  readonly inTransaction: true;
}

/** The database of one API process: what `createAppContext` is handed. */
export interface Store extends Queryable {
  readonly inTransaction: false;
  /** False once `close()` has begun: timers that outlive the server check it before they query. */
  readonly open: boolean;
  /** Waits for writes in flight, then closes the database (or returns the pool's connections). */
  close(): Promise<void>;
}

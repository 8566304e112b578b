/**
 * The PostgreSQL engine of the data interface (db/store.ts, ADR 0010), on node-postgres (`pg`) and its Pool:
 * the engine for running several API instances on one database.
 *
 * - Statements are written once with `?` placeholders; each text is numbered to `$1, $2…` once and kept with
 *   a prepared-statement name, so each pooled connection parses and plans it once.
 * - BIGINT (the `*_ms` columns, COUNT) and NUMERIC (SUM, AVG, EXTRACT) come back as JS numbers, as SQLite
 *   gives them: exact below 2^53 (unix milliseconds until the year 287396); a value beyond that is an error,
 *   never a silently rounded number.
 * - `write(fn)` is one transaction on one pooled connection, READ COMMITTED (or SERIALIZABLE on request),
 *   committed when `fn` resolves, rolled back when it throws, and run again (a bounded number of times) when
 *   PostgreSQL aborts it for a serialization failure (40001) or a deadlock (40P01): `fn` must therefore do
 *   nothing but statements on `tx` (what db/store.ts asks anyway).
 * - `listen`/`notify`: wake-ups between instances (delivery, ADR 0010 §5) on one dedicated connection that
 *   reconnects by itself.
 */
import pg from 'pg';

import { migratePg } from './pg-migrate';
import type { RunResult, Store, Tx, WriteOptions } from './store';

/** PostgreSQL type OIDs parsed to numbers here (pg_type.oid). */
const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** SQLSTATEs after which the whole transaction may simply be run again. */
const RETRYABLE_CODES = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected

/** Statement texts numbered and named at most; beyond it (SQL built at run time), texts are numbered each time. */
const STATEMENT_CACHE_LIMIT = 2000;

export type Isolation = 'read committed' | 'serializable';

/** db/store.ts's write options (`urgent` changes nothing here: every write commits at once), and isolation. */
export interface PgWriteOptions extends WriteOptions {
  isolation?: Isolation;
}

/** What the PostgreSQL store adds to the interface: the pool (shared with the rate limiter) and wake-ups. */
export interface PgStore extends Store {
  readonly engine: 'postgres';
  /** The connection pool: for libraries that take a node-postgres pool (rate-limiter-flexible). */
  readonly pool: pg.Pool;
  /**
   * As db/store.ts's `write`; `options.isolation: 'serializable'` runs it SERIALIZABLE (retried like a
   * deadlock when PostgreSQL aborts it). PostgreSQL only: SQLite's single writer is serializable already.
   */
  write<T>(fn: (tx: Tx) => Promise<T>, options?: PgWriteOptions): Promise<T>;
  /**
   * Calls `onNotify(payload)` for each NOTIFY on `channel`, from any instance, and `onNotify(null)` after the
   * listening connection was lost and made again (notifications sent meanwhile are lost: look for work).
   * Resolves once the LISTEN is in place, to a function that stops listening.
   */
  listen(channel: string, onNotify: (payload: string | null) => void): Promise<() => Promise<void>>;
  /**
   * Sends NOTIFY `channel` with `payload` (up to 8,000 bytes) to every listener of this database. Call it after
   * the commit it announces, never inside a write: a NOTIFY in a transaction serialises all commits
   * (scale-out-notes.md).
   */
  notify(channel: string, payload?: string): Promise<void>;
  /**
   * The same database through a pool of its own (PgStoreOptions.backgroundMax connections) for the delivery
   * worker, so that requests holding every connection of `pool` (a burst of writes queued on one key's row
   * lock) cannot hold deliveries back, nor the worker's bursts requests. It shares the listener, and closes
   * with this store (its own `close()` closes this one). This store itself when no such pool was asked for.
   */
  readonly background: PgStore;
}

export interface PgStoreOptions {
  /** Connections in the pool (node-postgres's default: 10; the API's, config.ts `databasePool.size`). */
  max?: number;
  /**
   * Longest wait, in ms, for a pooled connection (a free one, or a new one to be made); past it the statement
   * or write fails with pg-pool's "timeout exceeded when trying to connect", a storage fault (db/faults.ts).
   * Default: no bound (node-postgres's).
   */
  connectionWaitMs?: number;
  /** Connections of the `background` pool, beside the `max` of the main one; none (0) by default. */
  backgroundMax?: number;
  /** Apply the migrations (db/pg-migrate.ts) before resolving; true by default, as db/open.ts does. */
  migrate?: boolean;
  /** Times a write is run in all before a serialization failure or deadlock is given up on (default 5). */
  writeAttempts?: number;
  /** `application_name`, shown in pg_stat_activity (default "illumichat"). */
  applicationName?: string;
  /** Errors of idle and listening connections (the pool and the listener replace them by themselves). */
  onError?: (error: Error) => void;
}

/**
 * Opens the PostgreSQL store for `url` (postgres://user:password@host:port/database, libpq's query
 * parameters such as sslmode included) and, unless `opts.migrate` is false, migrates the database. Rejects
 * when the database cannot be reached or refuses the migrations (the pool is closed again then).
 */
export async function openPgStore(url: string, opts: PgStoreOptions = {}): Promise<PgStore> {
  const onError = opts.onError ?? (() => undefined);
  const config: pg.PoolConfig = {
    connectionString: url,
    application_name: opts.applicationName ?? 'illumichat',
    types: { getTypeParser: typeParser as pg.CustomTypesConfig['getTypeParser'] },
  };
  if (opts.max !== undefined) config.max = opts.max;
  if (opts.connectionWaitMs !== undefined) config.connectionTimeoutMillis = opts.connectionWaitMs;
  const pool = new pg.Pool(config);
  // An idle connection that breaks (a server restart) emits 'error'; unhandled, it would end the process.
  pool.on('error', onError);
  if (opts.migrate ?? true) {
    try {
      await migratePg(pool);
    } catch (error) {
      await pool.end();
      throw error;
    }
  }
  const listener = new Listener(config, onError);
  const writeAttempts = opts.writeAttempts ?? 5;
  const store = new PgStoreImpl(pool, listener, writeAttempts);
  if (opts.backgroundMax) {
    const background = new pg.Pool({
      ...config,
      max: opts.backgroundMax,
      application_name: `${config.application_name}-background`,
    });
    background.on('error', onError);
    store.setBackground(new PgStoreImpl(background, listener, writeAttempts, store));
  }
  return store;
}

function typeParser(oid: number, format?: string): (value: string) => unknown {
  if (oid === INT8_OID || oid === NUMERIC_OID) return parseNumber;
  // pg-types declares its parsers as `any`; each takes the value's text and returns what it parsed.
  return pg.types.getTypeParser(oid, format as 'text' | undefined) as (value: string) => unknown;
}

/** BIGINT and NUMERIC text to a number; throws (failing the query) where a number would not be exact. */
function parseNumber(text: string): number {
  const n = Number(text);
  if (Number.isInteger(n) && !Number.isSafeInteger(n)) {
    throw new RangeError(`the database returned ${text}, beyond the integers JavaScript holds exactly (2^53)`);
  }
  return n;
}

interface Prepared {
  text: string;
  /** Prepared-statement name, or undefined for texts beyond the cache (sent unnamed). */
  name: string | undefined;
  placeholders: number;
}

const prepared = new Map<string, Prepared>();

/**
 * `?` placeholders numbered `$1, $2…` for PostgreSQL. A `?` inside a quoted literal ('…?'), a quoted
 * identifier ("…?") or a comment (-- …, /* … *\/) is text, not a placeholder. Cached per statement text.
 */
export function prepare(sql: string): Prepared {
  const cached = prepared.get(sql);
  if (cached) return cached;
  let text = '';
  let n = 0;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    let end = i + 1;
    if (c === "'" || c === '"') {
      const close = sql.indexOf(c, i + 1); // a doubled quote inside closes and reopens: the same text
      end = close < 0 ? sql.length : close + 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const close = sql.indexOf('\n', i);
      end = close < 0 ? sql.length : close;
    } else if (c === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2);
      end = close < 0 ? sql.length : close + 2;
    } else if (c === '?') {
      text += `$${++n}`;
      i = end;
      continue;
    }
    text += sql.slice(i, end);
    i = end;
  }
  const full = prepared.size >= STATEMENT_CACHE_LIMIT;
  const entry: Prepared = { text, name: full ? undefined : `illumichat_${prepared.size + 1}`, placeholders: n };
  if (!full) prepared.set(sql, entry);
  return entry;
}

type Runner = pg.Pool | pg.PoolClient;

async function query(
  runner: Runner,
  sql: string,
  params: unknown[],
  rowMode?: 'array',
): Promise<pg.QueryResult<Record<string, unknown>>> {
  const statement = prepare(sql);
  if (statement.placeholders !== params.length) {
    throw new Error(
      `the statement has ${statement.placeholders} placeholders but was given ${params.length} parameters: ${sql}`,
    );
  }
  const config: pg.QueryConfig = { text: statement.text, values: params };
  if (statement.name !== undefined) config.name = statement.name;
  if (rowMode) (config as pg.QueryArrayConfig).rowMode = rowMode;
  return runner.query(config);
}

abstract class PgQueryable {
  readonly engine = 'postgres' as const;
  protected abstract runner(): Runner;

  async one<Row>(text: string, ...params: unknown[]): Promise<Row | null> {
    const result = await query(this.runner(), text, params);
    return (result.rows[0] as Row | undefined) ?? null;
  }

  async value<V>(text: string, ...params: unknown[]): Promise<V | null> {
    const result = await query(this.runner(), text, params, 'array');
    const row = result.rows[0] as unknown as unknown[] | undefined;
    return row === undefined ? null : ((row[0] as V | undefined) ?? null);
  }

  async values<V>(text: string, ...params: unknown[]): Promise<V[]> {
    const result = await query(this.runner(), text, params, 'array');
    return (result.rows as unknown as unknown[][]).map((row) => row[0] as V);
  }

  async all<Row>(text: string, ...params: unknown[]): Promise<Row[]> {
    return (await query(this.runner(), text, params)).rows as Row[];
  }

  async run(text: string, ...params: unknown[]): Promise<RunResult> {
    return { changes: (await query(this.runner(), text, params)).rowCount ?? 0 };
  }
}

/** A transaction on one pooled connection; usable only until its `write` settles. */
class PgTx extends PgQueryable implements Tx {
  readonly inTransaction = true as const;
  finished = false;
  private savepoints = 0;

  constructor(private readonly client: pg.PoolClient) {
    super();
  }

  protected runner(): Runner {
    if (this.finished) throw new Error('this transaction has already committed or rolled back');
    return this.client;
  }

  /**
   * Runs `fn` inside this transaction, under a SAVEPOINT: when `fn` throws, its own writes are rolled back
   * (and the transaction, even after a failed statement, can go on) before the error is passed on.
   */
  async write<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const savepoint = `illumichat_nested_${++this.savepoints}`;
    await this.runner().query(`SAVEPOINT ${savepoint}`);
    try {
      const result = await fn(this);
      await this.runner().query(`RELEASE SAVEPOINT ${savepoint}`);
      return result;
    } catch (error) {
      await this.runner().query(`ROLLBACK TO SAVEPOINT ${savepoint}`);
      throw error;
    }
  }
}

class PgStoreImpl extends PgQueryable implements PgStore {
  readonly inTransaction = false as const;

  constructor(
    readonly pool: pg.Pool,
    private readonly listener: Listener,
    private readonly writeAttempts: number,
    /** The store whose `background` this is: it closes both. */
    private readonly owner?: PgStoreImpl,
  ) {
    super();
  }

  private backgroundStore: PgStoreImpl | undefined;

  get background(): PgStore {
    return this.backgroundStore ?? this;
  }

  /** Called once by openPgStore, before the store is handed out. */
  setBackground(store: PgStoreImpl): void {
    this.backgroundStore = store;
  }

  protected runner(): Runner {
    return this.pool;
  }

  async write<T>(fn: (tx: Tx) => Promise<T>, options: PgWriteOptions = {}): Promise<T> {
    const begin = options.isolation === 'serializable' ? 'BEGIN ISOLATION LEVEL SERIALIZABLE' : 'BEGIN';
    const client = await this.pool.connect();
    let broken: Error | undefined;
    // The pool listens for errors of idle connections only: one lost while this write holds it (terminated,
    // the server gone) between two statements would be an unhandled 'error' event, ending the process. The
    // next statement fails instead (a storage fault, db/faults.ts), and the connection is not pooled again.
    const lost = (error: Error) => (broken ??= error);
    client.on('error', lost);
    try {
      for (let attempt = 1; ; attempt++) {
        const tx = new PgTx(client);
        try {
          await client.query(begin);
          const result = await fn(tx);
          await client.query('COMMIT');
          return result;
        } catch (error) {
          try {
            await client.query('ROLLBACK');
          } catch (rollbackError) {
            broken = rollbackError as Error; // the connection is gone: do not pool it again
            throw error;
          }
          const code = (error as { code?: unknown }).code;
          if (typeof code !== 'string' || !RETRYABLE_CODES.has(code) || attempt >= this.writeAttempts) throw error;
          // The transaction it collided with is still committing: wait a little, longer each time, at random.
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * 2 ** attempt));
        } finally {
          tx.finished = true;
        }
      }
    } finally {
      client.removeListener('error', lost);
      client.release(broken);
    }
  }

  listen(channel: string, onNotify: (payload: string | null) => void): Promise<() => Promise<void>> {
    return this.listener.add(channel, onNotify);
  }

  async notify(channel: string, payload = ''): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  private closing: Promise<void> | undefined;

  get open(): boolean {
    return this.owner ? this.owner.open : this.closing === undefined;
  }

  /**
   * Stops listening, then ends the pools (this one and the background one) once every connection is back
   * (writes in flight finish first).
   */
  close(): Promise<void> {
    if (this.owner) return this.owner.close();
    this.closing ??= this.listener
      .close()
      .then(() => Promise.all([this.pool.end(), this.backgroundStore?.pool.end()]))
      .then(() => undefined);
    return this.closing;
  }
}

type Handler = (payload: string | null) => void;

/**
 * One connection, outside the pool, that LISTENs on every channel asked for. When it breaks it is made again
 * (after 50 ms, doubling to at most 5 s while the server cannot be reached), the channels are listened to
 * again, and every handler is called with null, since notifications sent meanwhile are lost.
 */
class Listener {
  private readonly handlers = new Map<string, Set<Handler>>();
  private connection: Promise<pg.Client> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = 50;
  private closed = false;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly onError: (error: Error) => void,
  ) {}

  async add(channel: string, handler: Handler): Promise<() => Promise<void>> {
    if (this.closed) throw new Error('the store is closed');
    let set = this.handlers.get(channel);
    const first = set === undefined;
    if (!set) this.handlers.set(channel, (set = new Set()));
    set.add(handler);
    // A new connection LISTENs on every channel in `handlers` itself; an existing one is told of this one.
    const fresh = this.connection === undefined;
    const remove = async (): Promise<void> => {
      set.delete(handler);
      if (set.size > 0 || this.handlers.get(channel) !== set) return;
      this.handlers.delete(channel);
      if (this.connection && !this.closed)
        await (await this.connection).query(`UNLISTEN ${pg.escapeIdentifier(channel)}`);
    };
    try {
      const client = await this.connect();
      if (first && !fresh) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (error) {
      await remove().catch(() => undefined);
      throw error;
    }
    return remove;
  }

  private connect(): Promise<pg.Client> {
    this.connection ??= this.open();
    return this.connection;
  }

  private async open(): Promise<pg.Client> {
    const client = new pg.Client({ ...this.config, application_name: `${this.config.application_name}-listener` });
    client.on('notification', (message) => {
      for (const handler of this.handlers.get(message.channel) ?? []) handler(message.payload ?? '');
    });
    client.on('error', (error) => {
      this.onError(error);
      this.lost(client);
    });
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      for (const channel of this.handlers.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (error) {
      this.lost(client);
      throw error;
    }
    this.retryDelayMs = 50;
    return client;
  }

  /** The connection `client` broke: forget it and make another one, unless the store is closing. */
  private lost(client: pg.Client): void {
    client.removeAllListeners('end');
    client.end().catch(() => undefined);
    if (this.closed || this.retryTimer) return;
    this.connection = undefined;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closed || this.handlers.size === 0) return;
      this.connect().then(
        () => {
          for (const set of this.handlers.values()) for (const handler of set) handler(null);
        },
        (error: Error) => this.onError(error),
      );
    }, this.retryDelayMs);
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, 5000);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const connection = this.connection;
    this.connection = undefined;
    if (!connection) return;
    const client = await connection.catch(() => undefined);
    if (client) {
      client.removeAllListeners('end');
      await client.end();
    }
  }
}

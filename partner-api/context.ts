/**
 * What every part of the API is handed instead of reaching for globals: the database, the clock, the
 * settings, the log and the signal that wakes the delivery worker. Tests build one per server, so several
 * servers can run in one process without sharing anything.
 */
import type { Config } from './config';
import type { PgStore } from './db/pg-store';
import type { Queryable, Store, WriteOptions } from './db/store';
import { DeliverySignal } from './delivery/signal';
import { type Clock, systemClock } from './lib/clock';
import { type Logger, silentLogger } from './lib/log';

export interface AppContext {
  /** Where statements go: the store, or inside `inTransaction` the transaction itself. */
  db: Queryable;
  /** The process's database, whichever engine (db/store.ts). */
  store: Store;
  clock: Clock;
  config: Config;
  signal: DeliverySignal;
  log: Logger;
}

/**
 * The one way to build an AppContext: the server, the admin CLI, the benchmarks and every test helper call
 * this. Takes an open store (the caller decides how to open it and closes it) and the settings; the clock
 * defaults to the system clock, the log to silence. Each context gets its own delivery signal.
 */
export function createAppContext(parts: {
  store: Store;
  config: Config;
  clock?: Clock | undefined;
  log?: Logger | undefined;
}): AppContext {
  return {
    db: parts.store,
    store: parts.store,
    clock: parts.clock ?? systemClock,
    config: parts.config,
    signal: new DeliverySignal(),
    log: parts.log ?? silentLogger,
  };
}

/**
 * Runs `fn` in one write transaction with a context whose `db` is that transaction, and resolves to what it
 * returns after COMMIT (db/store.ts `write`). Already inside one, `fn` runs in it: a domain write called from
 * another write (a ticket created while a conversation is handed over) is part of the same change.
 * `options` as db/store.ts's `write` (`urgent`: commit now rather than with this turn's group, on SQLite).
 */
export async function inTransaction<T>(
  ctx: AppContext,
  fn: (ctx: AppContext) => Promise<T>,
  options?: WriteOptions,
): Promise<T> {
  if (ctx.db.inTransaction) return fn(ctx);
  if (ctx.store.engine === 'sqlite') return ctx.db.write((tx) => fn({ ...ctx, db: tx }), options);
  // PostgreSQL commits later than the next turn of the event loop: the signal waits for COMMIT (signal.ts).
  const signal = ctx.signal.held();
  const result = await ctx.db.write((tx) => fn({ ...ctx, db: tx, signal }), options);
  signal.release();
  return result;
}

/**
 * `ctx` for the delivery worker: on PostgreSQL its statements go through the store's background pool
 * (db/pg-store.ts `background`), so requests that hold every request connection cannot hold deliveries back;
 * the signal, clock, settings and log stay `ctx`'s. On SQLite (one connection) `ctx` itself.
 */
export function backgroundContext(ctx: AppContext): AppContext {
  if (ctx.store.engine !== 'postgres') return ctx;
  const background = (ctx.store as PgStore).background;
  return { ...ctx, db: background, store: background };
}

/**
 * `npm start`: the partner API on its database (db/open-store.ts: SQLite at ILLUMICHAT_DB_PATH, or PostgreSQL
 * at ILLUMICHAT_DATABASE_URL, where several instances share one database), with the delivery worker in the
 * same process, and retention pruning old rows in small batches on a timer (db/retention.ts). On SQLite, WAL
 * checkpoints run on a thread of their own (db/checkpointer.ts); on PostgreSQL the rate limits are counted in
 * the database, so every instance draws on one allowance. On an empty database it first creates the
 * demo workspace and prints its key once. SIGTERM or SIGINT stops accepting requests, lets the ones in
 * flight finish, stops the pruner, the worker (which records what it had in flight) and the checkpoint thread, and
 * closes the database.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createApp } from './app';
import { type Config, redactDatabaseUrl } from './config';
import { type AppContext, backgroundContext, createAppContext } from './context';
import { type Checkpointer, startCheckpointer } from './db/checkpointer';
import { openStore } from './db/open-store';
import type { PgStore } from './db/pg-store';
import { convertToIncrementalVacuum, startRetention } from './db/retention';
import { sqliteHandle } from './db/sqlite-store';
import { createDeliveryWorker } from './delivery/worker';
import { answerClientErrorsAsJson } from './http/client-errors';
import { createRateLimiters } from './http/rate-limit';
import { jsonLogger, type Logger } from './lib/log';
import { type DemoSeed, describeDemoSeed, seedDemoIfEmpty } from './seed/demo';
import { explainListenError, explainPgOpenError, loadConfigOrExplain, StartupError } from './startup-errors';

/** How long shutdown waits for requests in flight before closing their connections. */
const DRAIN_MS = 5_000;

export interface RunningServer {
  ctx: AppContext;
  url: string;
  /** Stops accepting requests, lets the ones in flight finish, stops the worker, closes the database. */
  stop(): Promise<void>;
}

/**
 * The API as it runs in production: the app and the delivery worker on the database `config` names (and, on a
 * SQLite file, the checkpoint thread). Rejects with a StartupError when a setting is the cause (the database
 * cannot be opened or reached, the port is taken).
 */
export async function startServer(
  config: Config,
  log: Logger,
  opts: { beforeListen?: (ctx: AppContext) => Promise<void> | void } = {},
): Promise<RunningServer> {
  const store = await openStore(config, {
    onError: (error) => log.error('database connection lost; the pool replaces it', { error: error.message }),
  });
  const ctx = createAppContext({ store, config, log });
  let checkpointer: Checkpointer | null = null;
  if (store.engine === 'sqlite' && config.dbPath !== ':memory:') {
    const db = sqliteHandle(store);
    // Before the checkpoint thread opens its connection: VACUUM needs the file to itself.
    convertToIncrementalVacuum(db, log, config.retention.vacuumAtStartMaxBytes);
    checkpointer = await startCheckpointer(db, log);
  }
  try {
    await opts.beforeListen?.(ctx);
  } catch (error) {
    await checkpointer?.stop();
    await store.close().catch(() => undefined);
    // The server stopping while the demo is seeded is the same one line as one stopping during migrations.
    throw config.databaseUrl === undefined ? error : explainPgOpenError(error, config.databaseUrl);
  }

  // On PostgreSQL every instance counts in the same table, sharing the pool's connections.
  const limiters = createRateLimiters(
    config,
    store.engine === 'postgres' ? { engine: 'postgres', pool: (store as PgStore).pool } : { engine: 'sqlite' },
  );
  const app = createApp(ctx, limiters);
  let server: Server;
  try {
    server = await new Promise((resolve, reject) => {
      const s = app.listen(config.port, config.host, (err?: Error) => (err ? reject(err) : resolve(s)));
    });
  } catch (error) {
    await checkpointer?.stop();
    await ctx.store.close();
    throw explainListenError(error, config.host, config.port);
  }
  answerClientErrorsAsJson(server);
  const worker = createDeliveryWorker(backgroundContext(ctx));
  worker.start();
  const retention = startRetention(ctx, config.retention);

  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    ctx,
    url: `http://${host}:${port}`,
    async stop() {
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
      await drained;
      clearTimeout(force);
      retention.stop();
      await worker.stop();
      await checkpointer?.stop();
      await ctx.store.close();
    },
  };
}

export async function main(): Promise<void> {
  const config = loadConfigOrExplain();
  const log = jsonLogger(config.log);
  let seed: DemoSeed | null = null;
  const running = await startServer(config, log, {
    beforeListen: async (ctx) => {
      if (config.seedDemo) seed = await seedDemoIfEmpty(ctx);
    },
  });
  // Printed once listening, so the Settings sign-in link names the address really served.
  if (seed) process.stdout.write(describeDemoSeed(seed, running.url));
  log.info('listening', {
    url: running.url,
    db: config.databaseUrl === undefined ? config.dbPath : redactDatabaseUrl(config.databaseUrl),
  });
  if (config.log === 'silent') process.stdout.write(`Listening on ${running.url}\n`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    await running.stop();
    log.info('stopped');
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      shutdown(signal).catch((error: unknown) => {
        log.error('shutdown failed', { error: error instanceof Error ? error.stack : String(error) });
        process.exitCode = 1;
      });
    });
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    // A StartupError says in one line what is wrong and which setting fixes it; anything else is a bug.
    const text =
      error instanceof StartupError
        ? error.message
        : error instanceof Error
          ? (error.stack ?? error.message)
          : String(error);
    process.stderr.write(`${text}\n`);
    process.exit(1);
  });
}

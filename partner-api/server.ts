/**
 * `npm start`: the partner API on its SQLite file, with the delivery worker in the same process and WAL
 * checkpoints on a thread of their own (db/checkpointer.ts), and retention pruning old rows in small batches
 * on a timer (db/retention.ts). On an empty database it first creates the
 * demo workspace and prints its key once. SIGTERM or SIGINT stops accepting requests, lets the ones in
 * flight finish, stops the pruner, the worker (which records what it had in flight) and the checkpoint thread, and
 * closes the database.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createApp } from './app';
import type { Config } from './config';
import { type AppContext, createAppContext } from './context';
import { startCheckpointer } from './db/checkpointer';
import { convertToIncrementalVacuum, startRetention } from './db/retention';
import { SqliteStore } from './db/sqlite-store';
import { createDeliveryWorker } from './delivery/worker';
import { answerClientErrorsAsJson } from './http/client-errors';
import { jsonLogger, type Logger } from './lib/log';
import { type DemoSeed, describeDemoSeed, seedDemoIfEmpty } from './seed/demo';
import { explainListenError, loadConfigOrExplain, openDatabaseOrExplain, StartupError } from './startup-errors';

/** How long shutdown waits for requests in flight before closing their connections. */
const DRAIN_MS = 5_000;

export interface RunningServer {
  ctx: AppContext;
  url: string;
  /** Stops accepting requests, lets the ones in flight finish, stops the worker, closes the database. */
  stop(): Promise<void>;
}

/** The API as it runs in production: the app, the delivery worker and the checkpoint thread on one database. */
export async function startServer(
  config: Config,
  log: Logger,
  opts: { beforeListen?: (ctx: AppContext) => Promise<void> | void } = {},
): Promise<RunningServer> {
  const db = openDatabaseOrExplain(config.dbPath);
  const ctx = createAppContext({ store: new SqliteStore(db), config, log });
  // Before the checkpoint thread opens its connection: VACUUM needs the file to itself.
  if (config.dbPath !== ':memory:') convertToIncrementalVacuum(db, log, config.retention.vacuumAtStartMaxBytes);
  const checkpointer = config.dbPath === ':memory:' ? null : await startCheckpointer(db, log);
  await opts.beforeListen?.(ctx);

  const app = createApp(ctx);
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
  const worker = createDeliveryWorker(ctx);
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
  log.info('listening', { url: running.url, db: config.dbPath });
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

/**
 * What every part of the API is handed instead of reaching for globals: the database, the clock, the
 * settings, the log and the signal that wakes the delivery worker. Tests build one per server, so several
 * servers can run in one process without sharing anything.
 */
import type { Config } from './config';
import type { Db } from './db/open';
import { DeliverySignal } from './delivery/signal';
import { type Clock, systemClock } from './lib/clock';
import { type Logger, silentLogger } from './lib/log';

export interface AppContext {
  db: Db;
  clock: Clock;
  config: Config;
  signal: DeliverySignal;
  log: Logger;
}

/**
 * The one way to build an AppContext: the server, the admin CLI, the benchmarks and every test helper call
 * this. Takes an open database (the caller decides how to open it and closes it) and the settings; the
 * clock defaults to the system clock, the log to silence. Each context gets its own delivery signal.
 */
export function createAppContext(parts: {
  db: Db;
  config: Config;
  clock?: Clock | undefined;
  log?: Logger | undefined;
}): AppContext {
  return {
    db: parts.db,
    clock: parts.clock ?? systemClock,
    config: parts.config,
    signal: new DeliverySignal(),
    log: parts.log ?? silentLogger,
  };
}

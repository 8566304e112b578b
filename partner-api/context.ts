/**
 * What every part of the API is handed instead of reaching for globals: the database, the clock, the
 * settings and the signal that wakes the delivery worker. Tests build one per server, so several servers
 * can run in one process without sharing anything.
 */
import type { Config } from './config';
import type { Db } from './db/open';
import type { Clock } from './lib/clock';

/** Wakes the delivery worker. notify() defers to the next turn of the event loop, so calling it inside a
 * transaction is safe: by the time the worker looks, the transaction has committed or rolled back. */
export class DeliverySignal {
  private listeners = new Set<() => void>();
  private scheduled = false;

  notify(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (const listener of this.listeners) listener();
    });
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export interface AppContext {
  db: Db;
  clock: Clock;
  config: Config;
  signal: DeliverySignal;
  log: Logger;
}

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

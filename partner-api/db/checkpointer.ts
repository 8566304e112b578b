/**
 * Moves SQLite's WAL checkpoints off the request path. By default the connection that commits the
 * 1000th WAL page runs the checkpoint inline, fsyncs included; measured here that made one commit in a
 * thousand take 17 ms and the worst 300 ms, stalling every request and delivery behind it. The server turns
 * automatic checkpoints off on its own connection and lets a worker thread, with a connection of its own,
 * checkpoint the WAL every interval instead (PASSIVE: it never blocks the writer).
 */
import { Worker } from 'node:worker_threads';
import type { Db } from './open';

export interface Checkpointer {
  /** Stops the thread after a last full checkpoint, so a clean shutdown leaves a small WAL behind. */
  stop(): Promise<void>;
}

// Plain JavaScript evaluated in the thread: it needs nothing of ours, so it runs the same under ts-node
// (whose require hooks threads do not inherit) and compiled.
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
const checkpoint = (mode) => {
  try { db.pragma('wal_checkpoint(' + mode + ')'); } catch (err) { parentPort.postMessage({ error: String(err && err.message) }); }
};
const timer = setInterval(() => checkpoint('PASSIVE'), workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  checkpoint('TRUNCATE');
  db.close();
  parentPort.close();
});
`;

export function startCheckpointer(db: Db, opts: { intervalMs?: number; onError?: (message: string) => void } = {}): Checkpointer {
  if (db.memory) return { stop: async () => {} };
  db.pragma('wal_autocheckpoint = 0');
  const worker = new Worker(THREAD_SOURCE, {
    eval: true,
    workerData: { driver: require.resolve('better-sqlite3'), file: db.name, intervalMs: opts.intervalMs ?? 250 },
  });
  worker.on('message', (m: { error?: string }) => m.error && opts.onError?.(m.error));
  worker.on('error', (err) => opts.onError?.(err.message));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  // The thread must not keep a process alive that has nothing else to do.
  worker.unref();
  return {
    async stop() {
      worker.ref(); // now the process must wait for the last checkpoint
      worker.postMessage('stop');
      await exited;
      db.pragma('wal_autocheckpoint = 1000');
    },
  };
}

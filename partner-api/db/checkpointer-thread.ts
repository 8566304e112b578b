/**
 * The checkpoint thread of checkpointer.ts: its own connection, a passive pass on a timer, a restart past
 * the bound. A pass that fails (a full or failing disk: SQLITE_FULL, SQLITE_IOERR…) does not stop it: it
 * says so once, tries again every FAILING_RETRY_MS, and says when a pass succeeds again, so the connection
 * it serves can hand checkpoints back to it (issue 8 §6: one SQLITE_FULL used to stop it for good).
 */
import { parentPort, workerData } from 'node:worker_threads';

import Database from 'better-sqlite3';

import type { CheckpointerCommand, CheckpointerMessage, CheckpointerSettings } from './checkpointer';

interface CheckpointResult {
  busy: number;
  /** Frames in the log. */
  log: number;
  checkpointed: number;
}

const port = parentPort!;
const post = (message: CheckpointerMessage) => port.postMessage(message);
const { file, intervalMs, restartAtPages } = workerData as CheckpointerSettings;

const db = new Database(file);
// A RESTART waits for the API's short transactions to end rather than failing at once.
db.pragma('busy_timeout = 5000');

function pass(): void {
  // The pragma answers one row, always.
  const [passive] = db.pragma('wal_checkpoint(PASSIVE)') as [CheckpointResult];
  if (passive.log >= restartAtPages) db.pragma('wal_checkpoint(RESTART)');
}

/** While passes fail, how often to try again: a failing disk gets no busier for our retries. */
const FAILING_RETRY_MS = 1_000;
let failingSince: number | null = null;

const timer = setInterval(() => {
  if (failingSince !== null && Date.now() - failingSince < FAILING_RETRY_MS) return;
  try {
    pass();
    if (failingSince !== null) post({ kind: 'recovered' });
    failingSince = null;
  } catch (error) {
    if (failingSince === null) post({ kind: 'failed', error: (error as Error).message });
    failingSince = Date.now();
  }
}, intervalMs);

port.on('message', (command: CheckpointerCommand) => {
  if (command.kind !== 'stop') return;
  clearInterval(timer);
  db.close();
  port.close();
});
post({ kind: 'ready' });

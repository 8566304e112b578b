/** The checkpoint thread of checkpointer.ts: its own connection, a passive pass on a timer, a restart past the bound. */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
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
  const [passive] = db.pragma('wal_checkpoint(PASSIVE)') as CheckpointResult[];
  if (passive.log >= restartAtPages) db.pragma('wal_checkpoint(RESTART)');
}

const timer = setInterval(() => {
  try {
    pass();
  } catch (error) {
    clearInterval(timer);
    post({ kind: 'failed', error: (error as Error).message });
    db.close();
    port.close();
  }
}, intervalMs);

port.on('message', (command: CheckpointerCommand) => {
  if (command.kind !== 'stop') return;
  clearInterval(timer);
  db.close();
  port.close();
});
post({ kind: 'ready' });

/**
 * WAL checkpoints on their own thread, so the API's event loop never stops to copy the log into the
 * database file. Inline, SQLite runs the checkpoint inside whichever commit crosses wal_autocheckpoint: at
 * 10,000 pages that commit took ~100 ms (copying and two fsyncs), and every request and delivery queued
 * behind it; it was the largest term of p99 delivery latency at 1,000 events/s.
 *
 * The thread has its own connection. Every intervalMs it runs a PASSIVE checkpoint, which copies what it
 * can without blocking anyone. Passive alone never lets the log restart under steady writes (the writer
 * always appends while it copies, so it is never fully caught up: an earlier attempt grew the WAL to
 * 360 MB), so once the log holds restartAtPages a RESTART checkpoint finishes the job: it holds writers off
 * only for the few pages written since the passive pass, and the next commit starts the log from the top.
 * While the thread runs, the connection it serves has its own autocheckpoint off; if the thread dies, the
 * inline checkpoint comes back on, so the WAL stays bounded either way. A pass that fails (a full or failing
 * disk) hands checkpoints back inline only until a pass succeeds again: the thread keeps trying, and takes
 * them back then.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';

import type { Logger } from '../lib/log';
import type { Db } from './open';
import { INLINE_CHECKPOINT_PAGES } from './open';

export interface CheckpointerOptions {
  /** How often the passive pass runs. */
  intervalMs?: number;
  /** Log size, in pages, at which a RESTART checkpoint bounds the WAL. */
  restartAtPages?: number;
  /** The thread's entry file; tests give one that misbehaves. */
  threadFile?: string;
}

export interface CheckpointerSettings {
  file: string;
  intervalMs: number;
  restartAtPages: number;
}

/** `failed`: a pass failed (once per run of failures); `recovered`: the first pass that succeeded after. */
export type CheckpointerMessage = { kind: 'ready' } | { kind: 'failed'; error: string } | { kind: 'recovered' };
export type CheckpointerCommand = { kind: 'stop' };

export interface Checkpointer {
  stop(): Promise<void>;
}

/** Starts the thread for `db` (a file database) and turns db's inline checkpoints off once it is ready. */
export async function startCheckpointer(db: Db, log: Logger, opts: CheckpointerOptions = {}): Promise<Checkpointer> {
  const settings: CheckpointerSettings = {
    file: db.name,
    intervalMs: opts.intervalMs ?? 100,
    restartAtPages: opts.restartAtPages ?? 4_000,
  };
  const worker = startThread(
    opts.threadFile ?? path.join(__dirname, `checkpointer-thread${path.extname(__filename)}`),
    settings,
  );
  let stopping = false;
  let ready = false;
  /** The thread is gone: inline checkpoints for good. */
  let handedBack = false;
  /** The thread's passes are failing: inline checkpoints until one succeeds. */
  let failing = false;
  const setInline = (on: boolean) => {
    if (db.open) db.pragma(`wal_autocheckpoint = ${on ? INLINE_CHECKPOINT_PAGES : 0}`);
  };
  const inlineAgain = (why: string) => {
    if (handedBack) return; // a thread that fails also exits: one hand-back, one log line
    handedBack = true;
    setInline(true);
    if (!stopping) log.error('checkpoint thread stopped; checkpoints run inline again', { error: why });
  };
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('error', (error) => inlineAgain(error.message));
  worker.on('message', (message: CheckpointerMessage) => {
    if (handedBack || stopping) return;
    if (message.kind === 'failed' && !failing) {
      failing = true;
      setInline(true);
      log.error('checkpoint failed; checkpoints run inline until the thread succeeds again', { error: message.error });
    } else if (message.kind === 'recovered' && failing) {
      failing = false;
      if (ready) setInline(false);
      log.info('checkpoint thread recovered; it runs the checkpoints again');
    }
  });
  void exited.then(() => inlineAgain('the thread exited'));
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (message: CheckpointerMessage) => message.kind === 'ready' && resolve());
    worker.once('error', reject);
    void exited.then(() => reject(new Error('the checkpoint thread exited before it was ready')));
  });
  ready = true;
  if (!handedBack && !failing) setInline(false);

  return {
    async stop() {
      stopping = true;
      inlineAgain('stopped');
      // The thread closes its connection between passes; terminate() is only for one that does not answer.
      worker.postMessage({ kind: 'stop' } satisfies CheckpointerCommand);
      const late = setTimeout(() => void worker.terminate(), 5_000);
      await exited;
      clearTimeout(late);
    },
  };
}

/**
 * Compiled, the thread is a plain .js file. Under ts-node (npm start, the tests) it is TypeScript, which a
 * thread does not inherit a require hook for: the thread registers ts-node itself and then requires it.
 */
function startThread(file: string, settings: CheckpointerSettings): Worker {
  // It allocates almost nothing; a small young generation keeps its memory small.
  const options = { workerData: settings, resourceLimits: { maxYoungGenerationSizeMb: 4 } };
  if (path.extname(file) !== '.ts') return new Worker(file, options);
  const bootstrap = `require('ts-node').register({ transpileOnly: true }); require(${JSON.stringify(file)});`;
  return new Worker(bootstrap, { ...options, eval: true });
}

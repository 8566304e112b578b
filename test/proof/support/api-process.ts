/**
 * The partner API as a real child process (partner-api/server.ts under ts-node, as `npm start` runs it), so
 * a test can SIGKILL it mid-work and start it again on the same database. Its JSON log lines are kept.
 * Every child started here is killed by killAll(), which a test file calls in afterAll.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

import { at } from '../../support/items';
import { databaseEnv } from '../../support/test-store';

const ROOT = path.join(__dirname, '..', '..', '..');
const TS_NODE = require.resolve('ts-node/dist/bin.js');
const SHIFT_CLOCK = path.join(__dirname, 'shift-clock.js');

export interface ApiProcess {
  url: string;
  child: ChildProcess;
  /** Every line the process printed (JSON log lines), stdout and stderr. */
  lines: string[];
  /** SIGKILL: no shutdown code runs, as in a crash or an OOM kill. Resolves once the process is gone. */
  crash(): Promise<void>;
  /** SIGTERM, and waits for the graceful stop. */
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();

export interface SpawnOptions {
  /** Its database: a SQLite file or a postgres:// URL (test/support/test-store.ts `newTestDatabase`). */
  dbPath: string;
  env?: Record<string, string>;
  /** Runs the process's clock this far ahead (Date.now), as if it were started that much later. */
  clockOffsetMs?: number;
}

export async function spawnApi(opts: SpawnOptions): Promise<ApiProcess> {
  const args = [TS_NODE, '--transpile-only', path.join(ROOT, 'partner-api', 'server.ts')];
  const child = spawn(process.execPath, opts.clockOffsetMs ? ['--require', SHIFT_CLOCK, ...args] : args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      ...databaseEnv(opts.dbPath),
      ILLUMICHAT_ALLOW_PRIVATE_TARGETS: '1',
      ILLUMICHAT_NO_DEMO: '1',
      ILLUMICHAT_LOG: 'info',
      PROOF_CLOCK_OFFSET_MS: String(opts.clockOffsetMs ?? 0),
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => children.delete(child));
  const lines: string[] = [];
  // Both pipes are read to the end, always: a full pipe would block the child.
  for (const stream of [child.stdout, child.stderr])
    readline.createInterface({ input: stream }).on('line', (line) => lines.push(line));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the API did not start within 30 s:\n${lines.join('\n')}`)),
      30_000,
    );
    const poll = setInterval(() => {
      for (const line of lines) {
        const m = /"message":"listening","url":"([^"]+)"/.exec(line);
        if (m) {
          clearInterval(poll);
          clearTimeout(timer);
          resolve(at(m, 1));
        }
      }
    }, 10);
    void exited.then(() => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`the API exited before listening:\n${lines.join('\n')}`));
    });
  });

  return {
    url,
    child,
    lines,
    crash: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      child.kill('SIGTERM');
      const late = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(late);
    },
  };
}

/** Kills every child still running (afterAll), so none outlives the test file. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

/**
 * `npm start` when a setting is wrong: one line on stderr saying what is wrong and which setting fixes it,
 * exit code 1, no stack trace (partner-api/startup-errors.ts).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';

import { redactDatabaseUrl } from '../../partner-api/config';
import { PG_MIGRATION_LOCK_KEY } from '../../partner-api/db/pg-migrate';
import { loadConfigOrExplain, openDatabaseOrExplain, StartupError } from '../../partner-api/startup-errors';
import { at } from '../support/items';
import { freshPgDatabaseUrl, PG_SETUP_TIMEOUT_MS } from '../support/pg';
import { describeEngine } from '../support/test-store';

const ROOT = path.join(__dirname, '..', '..');
const TS_NODE = require.resolve('ts-node/dist/bin.js');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'illumichat-startup-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function start(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [TS_NODE, '--transpile-only', 'partner-api/server.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: '0',
      ILLUMICHAT_NO_DEMO: '1',
      ILLUMICHAT_LOG: 'info',
      ILLUMICHAT_DB_PATH: path.join(dir, 'ok.db'),
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}

function expectOneLine(result: { code: number | null; stderr: string }, says: RegExp): void {
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/^[^\n]+\n$/);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stderr).toMatch(says);
}

it('a port already in use: says so and how to choose another port', async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as net.AddressInfo).port;
  try {
    expectOneLine(
      await start({ PORT: String(port) }),
      new RegExp(`^Port ${port} is already in use on 127\\.0\\.0\\.1.*PORT=\\d+ \\./dev start$`, 'm'),
    );
  } finally {
    taken.close();
  }
});

/** Paths no process here can open for writing, root included (root writes anywhere but /proc). */
const UNWRITABLE: [string, () => string][] = [
  [
    'under a file, not a directory',
    () => {
      fs.writeFileSync(path.join(dir, 'a-file'), '');
      return path.join(dir, 'a-file', 'illumichat.db');
    },
  ],
  ['a directory', () => fs.mkdtempSync(path.join(dir, 'a-dir-'))],
  [
    'in a directory nobody may write to',
    () => {
      if (process.getuid?.() === 0) return '/proc/illumichat-test.db';
      const locked = fs.mkdtempSync(path.join(dir, 'locked-'));
      fs.chmodSync(locked, 0o500);
      return path.join(locked, 'illumichat.db');
    },
  ],
];
const SAYS_DB = /^Cannot open the database .+ for writing \(.+\)\. .*ILLUMICHAT_DB_PATH=\S+$/m;

describeEngine(
  'sqlite',
  'a SQLite file that cannot be opened, or was made by a newer build',
  'the database file',
  () => {
    it.each(UNWRITABLE)(
      'an unwritable database path (%s): a StartupError that says so and which setting to change',
      (_case, makePath) => {
        const dbPath = makePath();
        let thrown: unknown;
        try {
          openDatabaseOrExplain(dbPath).close();
        } catch (error) {
          thrown = error;
        }
        expect(thrown).toBeInstanceOf(StartupError);
        expect((thrown as Error).message).toMatch(SAYS_DB);
        expect((thrown as Error).message).toContain(path.resolve(dbPath));
      },
    );

    it('npm start prints that line alone for an unwritable database path', async () => {
      expectOneLine(await start({ ILLUMICHAT_DB_PATH: at(UNWRITABLE, 0)[1]() }), SAYS_DB);
    });

    it('a schema newer than this build is not dressed up as a path problem', () => {
      const dbPath = path.join(dir, 'newer.db');
      openDatabaseOrExplain(dbPath).pragma('user_version = 9999');
      expect(() => openDatabaseOrExplain(dbPath)).toThrow(/newer than this build/);
      expect(() => openDatabaseOrExplain(dbPath)).not.toThrow(StartupError);
    });
  },
);

it('a setting of the wrong kind is named in one line', () => {
  expect(() => loadConfigOrExplain({ PORT: 'eighty' })).toThrow(StartupError);
  expect(() => loadConfigOrExplain({ PORT: 'eighty', ILLUMICHAT_LOG: 'loud' })).toThrow(
    /^Invalid setting PORT="eighty": .+; ILLUMICHAT_LOG="loud": .+\. The README's configuration table/,
  );
  expect(loadConfigOrExplain({ PORT: '8080' }).port).toBe(8080);
});

describe('ILLUMICHAT_DATABASE_URL (PostgreSQL)', () => {
  const PASSWORD = 's3cret-Pa55word';

  it('selects PostgreSQL when set, SQLite at ILLUMICHAT_DB_PATH when unset or empty', () => {
    const url = `postgres://app:${PASSWORD}@db.internal:5432/illumichat?sslmode=require`;
    expect(loadConfigOrExplain({ ILLUMICHAT_DATABASE_URL: url }).databaseUrl).toBe(url);
    expect(loadConfigOrExplain({ ILLUMICHAT_DATABASE_URL: 'postgresql://db/x' }).databaseUrl).toBe('postgresql://db/x');
    expect(loadConfigOrExplain({}).databaseUrl).toBeUndefined();
    expect(loadConfigOrExplain({ ILLUMICHAT_DATABASE_URL: ' ' }).databaseUrl).toBeUndefined();
  });

  it('a valid URL is logged with its password hidden (the "listening" line)', () => {
    expect(redactDatabaseUrl(`postgres://app:${PASSWORD}@db.internal:5432/illumichat?sslmode=require`)).toBe(
      'postgres://app:***@db.internal:5432/illumichat?sslmode=require',
    );
    expect(redactDatabaseUrl(`postgresql://db/illumichat?user=app&password=${PASSWORD}`)).toBe(
      'postgresql://db/illumichat?user=app&password=***',
    );
    expect(redactDatabaseUrl('postgres://app@db/illumichat')).toBe('postgres://app@db/illumichat');
  });

  it.each([
    [`mysql://app:${PASSWORD}@db/illumichat`, 'mysql://app:***@db/illumichat'],
    [`postgres://app:${PASSWORD}@/illumichat`, 'postgres://***@/illumichat'],
    [`app:${PASSWORD}@db:5432/illumichat`, '***@db:5432/illumichat'],
    [`db.internal/illumichat?password=${PASSWORD}`, 'db.internal/illumichat?password=***'],
  ])('a URL that is not PostgreSQL is refused in one line, its password hidden: %s', (value, shown) => {
    let error: unknown;
    try {
      loadConfigOrExplain({ ILLUMICHAT_DATABASE_URL: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StartupError);
    const message = (error as Error).message;
    expect(message).toContain(`ILLUMICHAT_DATABASE_URL="${shown}"`);
    expect(message).toMatch(/Must be a PostgreSQL URL/);
    expect(message).not.toContain(PASSWORD);
  });

  it('npm start where no server listens: one line naming the URL without its password, exit 1', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const result = await start({ ILLUMICHAT_DATABASE_URL: `postgres://app:${PASSWORD}@127.0.0.1:${port}/illumichat` });
    expectOneLine(
      result,
      new RegExp(
        `^Cannot connect to PostgreSQL at postgres://app:\\*\\*\\*@127\\.0\\.0\\.1:${port}/illumichat: nothing accepts connections.+ILLUMICHAT_DATABASE_URL`,
      ),
    );
    expect(result.stderr).not.toContain(PASSWORD);
  });

  it(
    'npm start on a database the server does not have: one line saying so, exit 1',
    async () => {
      const url = new URL(await freshPgDatabaseUrl());
      url.pathname = '/no_such_database';
      url.password = PASSWORD; // trust auth ignores it; it must not be printed
      const result = await start({ ILLUMICHAT_DATABASE_URL: url.toString() });
      expectOneLine(
        result,
        /^Cannot connect to PostgreSQL at postgres:\/\/postgres:\*\*\*@.+\/no_such_database: the server has no such database/,
      );
      expect(result.stderr).not.toContain(PASSWORD);
    },
    PG_SETUP_TIMEOUT_MS,
  );

  // A server that accepts the connection and drops it before answering (a proxy whose backend is down, a
  // server stopping): node-postgres's "Connection terminated unexpectedly", which has no code.
  it('npm start where the server accepts and drops each connection: one line, exit 1', async () => {
    const dropping = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => dropping.listen(0, '127.0.0.1', resolve));
    const port = (dropping.address() as net.AddressInfo).port;
    try {
      const result = await start({
        ILLUMICHAT_DATABASE_URL: `postgres://app:${PASSWORD}@127.0.0.1:${port}/illumichat`,
      });
      expectOneLine(
        result,
        new RegExp(
          `^Cannot connect to PostgreSQL at postgres://app:\\*\\*\\*@127\\.0\\.0\\.1:${port}/illumichat: the server closed the connection.+ILLUMICHAT_DATABASE_URL`,
        ),
      );
    } finally {
      await new Promise<void>((resolve) => dropping.close(() => resolve()));
    }
  });

  // The bench stopped the cluster while an instance was migrating: the connection the migrations held emitted
  // 'error' with no listener, and the process died of an unhandled 'error' event with a stack trace.
  it(
    'npm start whose connection is ended during its migrations: one line, exit 1, no unhandled error',
    async () => {
      const url = await freshPgDatabaseUrl();
      // Holding the migrations' lock keeps the starting server waiting in them, where its connection is ended.
      const holder = new pg.Client({ connectionString: url });
      await holder.connect();
      try {
        await holder.query('SELECT pg_advisory_lock($1)', [PG_MIGRATION_LOCK_KEY]);
        const starting = start({ ILLUMICHAT_DATABASE_URL: url });
        let terminated = 0;
        for (let waited = 0; terminated === 0 && waited < 20_000; waited += 50) {
          const { rows } = await holder.query<{ ended: boolean }>(
            `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
              WHERE datname = current_database() AND application_name = 'illumichat' AND wait_event = 'advisory'`,
          );
          terminated = rows.filter((r) => r.ended).length;
          if (terminated === 0) await new Promise((r) => setTimeout(r, 50));
        }
        expect(terminated).toBe(1);
        expectOneLine(
          await starting,
          /^Cannot connect to PostgreSQL at postgres:\/\/.+: the server closed the connection/,
        );
      } finally {
        await holder.end();
      }
    },
    PG_SETUP_TIMEOUT_MS,
  );
});

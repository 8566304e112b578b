/**
 * What goes wrong when the API starts, said in one line an operator can act on: what is wrong and which
 * setting fixes it (README's configuration table), instead of a stack trace. `npm start` prints the message
 * of a StartupError alone and exits 1; anything else is a bug and keeps its stack.
 */
import path from 'node:path';

import { z } from 'zod';

import { type Config, loadConfig, redactDatabaseUrl } from './config';
import { isConnectionWaitTimeout } from './db/faults';
import { type Db, openDatabase } from './db/open';

/** A start-up failure whose message is the whole story, one line. */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

/**
 * openDatabase (db/open.ts), with the failures a setting can fix turned into a StartupError: a directory
 * that cannot be created or written, a path that is a directory or under a file, a read-only file.
 * Anything else (e.g. a schema newer than this build) is rethrown as it is.
 */
export function openDatabaseOrExplain(dbPath: string): Db {
  try {
    return openDatabase(dbPath);
  } catch (error) {
    const why = databaseProblem(error);
    if (!why) throw error;
    throw new StartupError(
      `Cannot open the database ${path.resolve(dbPath)} for writing (${why}). ` +
        'Make that location writable, or choose another file: ILLUMICHAT_DB_PATH=/writable/dir/illumichat.db',
      { cause: error },
    );
  }
}

function databaseProblem(error: unknown): string | null {
  const { code, message } = error as { code?: string; message?: string };
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOTDIR':
    case 'EEXIST':
      return 'a part of the path is a file, not a directory';
    case 'SQLITE_CANTOPEN':
      return 'SQLite cannot open or create the file there; is the path a directory, or the directory not writable?';
    case 'SQLITE_PERM':
    case 'SQLITE_AUTH':
      return 'permission denied';
    default:
      if (code?.startsWith('SQLITE_READONLY')) return 'the file or its directory is read-only';
      if (code?.startsWith('SQLITE_CANTOPEN')) return message ?? 'SQLite cannot open the file';
      return null;
  }
}

const CLOSED = 'the server closed the connection (is it stopping, or restarting?)';

/** node-postgres's errors, without a code, for a connection that ended under it (as in db/faults.ts). */
const PG_CLOSED_MESSAGE = /^(Connection terminated|Client has encountered a connection error)/;

/**
 * A failure to connect to PostgreSQL at start (db/open-store.ts, server.ts) as a StartupError naming the URL,
 * its password hidden, and what to check, when the cause is one a setting or the server's state explains: no
 * server there (refused, unknown host, no answer), a login refused (SQLSTATE class 28), no such database
 * (3D000), a server starting, stopping or full (57P03, 53300), a connection the server closed or lost at any
 * point of the start (class 08, 57P01/57P02, a reset, node-postgres's "Connection terminated…"). Anything
 * else (a migration's SQL error, a bug) is returned as it is.
 */
export function explainPgOpenError(error: unknown, url: string): unknown {
  const { code, message } = error as { code?: string; message?: unknown };
  const where = redactDatabaseUrl(url);
  const fix = 'Check ILLUMICHAT_DATABASE_URL (postgres://user:password@host:port/database) and the server.';
  let why: string | undefined;
  switch (code) {
    case 'ECONNREFUSED':
      why = 'nothing accepts connections at that host and port';
      break;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      why = 'the host name does not resolve';
      break;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      why = 'the server did not answer';
      break;
    case '3D000':
      why = 'the server has no such database (create it first: createdb NAME)';
      break;
    case '57P03':
      why = 'the server is starting up or shutting down';
      break;
    case '53300':
      why = 'the server has no connection slot left (max_connections)';
      break;
    case 'ECONNRESET':
    case 'EPIPE':
    case '57P01': // admin_shutdown: the server is stopping, or the connection was terminated
    case '57P02': // crash_shutdown
      why = CLOSED;
      break;
    default:
      if (code?.startsWith('28')) why = 'the server refused the login (user, password or pg_hba.conf)';
      else if (code?.startsWith('08')) why = CLOSED;
      else if (isConnectionWaitTimeout(error) || message === 'Connection terminated due to connection timeout')
        why = 'the server did not answer';
      else if (code === undefined && typeof message === 'string' && PG_CLOSED_MESSAGE.test(message)) why = CLOSED;
  }
  if (why === undefined) return error;
  return new StartupError(`Cannot connect to PostgreSQL at ${where}: ${why}. ${fix}`, { cause: error });
}

/** A listen() failure as a StartupError when a setting fixes it (PORT, HOST); anything else as it is. */
export function explainListenError(error: unknown, host: string, port: number): unknown {
  const { code } = error as { code?: string };
  const where = `${host}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new StartupError(
        `Port ${port} is already in use on ${host} (another ./dev start?). Stop that process, or choose another port: PORT=${port === 3000 ? 3001 : 3000} ./dev start`,
        { cause: error },
      );
    case 'EACCES':
      return new StartupError(
        `Not allowed to listen on ${where} (ports below 1024 need privileges). Choose another port: PORT=3000 ./dev start`,
        { cause: error },
      );
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new StartupError(
        `HOST ${host} is not an address of this machine. Choose one that is: HOST=127.0.0.1 ./dev start`,
        { cause: error },
      );
    default:
      return error;
  }
}

/** loadConfig (config.ts), with a setting out of range or of the wrong kind as a one-line StartupError naming it. */
export function loadConfigOrExplain(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (!(error instanceof z.ZodError)) throw error;
    const problems = error.issues.map((issue) => {
      const name = String(issue.path[0]);
      // The database URL may hold a password: never printed.
      const value = name === 'ILLUMICHAT_DATABASE_URL' ? redactDatabaseUrl(env[name] ?? '') : (env[name] ?? '');
      return `${issue.path.join('.')}=${JSON.stringify(value)}: ${issue.message}`;
    });
    throw new StartupError(
      `Invalid setting ${problems.join('; ')}. The README's configuration table lists what each accepts.`,
      { cause: error },
    );
  }
}

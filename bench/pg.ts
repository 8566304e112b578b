/**
 * The bench's own PostgreSQL (issue 13 §4): a private cluster started with scripts/pg-cluster.sh (initdb and
 * pg_ctl on a temp directory and a free loopback port, no Docker), switched back to production durability,
 * with one fresh database per PostgreSQL column of the bench.
 *
 * Durability: the script tunes its cluster for throwaway test runs (fsync, synchronous_commit and
 * full_page_writes off). The bench turns all three back on (ALTER SYSTEM, then a reload), PostgreSQL's
 * defaults and what a production server runs with: every commit waits for its WAL flush. That is stricter
 * than the SQLite side, which runs WAL with `synchronous = NORMAL` (db/open.ts: a commit reaches the OS at
 * once and the disk at the next checkpoint), so the comparison does not flatter PostgreSQL.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

import pg from 'pg';

const run = promisify(execFile);
const SCRIPT = path.join(__dirname, '..', 'scripts', 'pg-cluster.sh');

/** The settings the bench runs PostgreSQL with, as the server reports them after the reload. */
export const DURABILITY_SETTINGS = ['fsync', 'synchronous_commit', 'full_page_writes'] as const;

export interface BenchCluster {
  /** e.g. "PostgreSQL 15.14, fsync on, synchronous_commit on, full_page_writes on" */
  description: string;
  /** A URL to a new, empty database named `name` (lower-case letters, digits, underscores) on this cluster. */
  createDatabase(name: string): Promise<string>;
  /** Stops the cluster and removes its directory (nothing in it is kept). */
  stop(): Promise<void>;
}

/**
 * Starts the cluster, or rejects with an Error whose message says why it could not (no initdb, the script's
 * own explanation on its stderr, a refused setting): the bench prints that in place of the PostgreSQL columns.
 */
export async function startBenchCluster(): Promise<BenchCluster> {
  let stdout: string;
  try {
    ({ stdout } = await run('bash', [SCRIPT, 'start'], { timeout: 180_000 }));
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(
      `scripts/pg-cluster.sh start failed${stderr ? `: ${stderr.split('\n').slice(-3).join(' ')}` : ''}`,
      { cause: error },
    );
  }
  const vars = Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((line) => line.split(/=(.*)/s, 2) as [string, string]),
  );
  const dir = vars.ILLUMICHAT_PG_CLUSTER_DIR;
  const adminUrl = vars.ILLUMICHAT_TEST_DATABASE_URL;
  if (!dir || !adminUrl) throw new Error(`scripts/pg-cluster.sh start printed no cluster: ${stdout.trim()}`);
  const stop = async () => void (await run('bash', [SCRIPT, 'stop', dir], { timeout: 60_000 }));
  try {
    const description = await productionDurability(adminUrl);
    return {
      description,
      stop,
      async createDatabase(name) {
        if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`not a database name: ${name}`);
        await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
        const url = new URL(adminUrl);
        url.pathname = `/${name}`;
        return url.toString();
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Turns fsync, synchronous_commit and full_page_writes back on, and checks that a new session sees them. */
async function productionDurability(adminUrl: string): Promise<string> {
  await withClient(adminUrl, async (c) => {
    for (const setting of DURABILITY_SETTINGS) await c.query(`ALTER SYSTEM SET ${setting} = on`);
    await c.query('SELECT pg_reload_conf()');
  });
  // The reload is a signal to the postmaster: sessions started after it has been handled see the new values.
  for (let attempt = 0; ; attempt++) {
    const shown = await withClient(adminUrl, async (c) => {
      const values: string[] = [];
      const show = async (setting: string) =>
        String((await c.query<Record<string, string>>(`SHOW ${setting}`)).rows[0]?.[setting]);
      for (const setting of DURABILITY_SETTINGS) values.push(await show(setting));
      const version = await show('server_version');
      return { values, version };
    });
    if (shown.values.every((v) => v === 'on')) {
      const settings = DURABILITY_SETTINGS.map((s) => `${s} on`).join(', ');
      return `PostgreSQL ${shown.version.split(' ')[0]}, ${settings}`;
    }
    if (attempt >= 50)
      throw new Error(`PostgreSQL kept ${DURABILITY_SETTINGS.join(', ')} at ${shown.values.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'illumichat-bench' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * PostgreSQL for tests (ADR 0010 §8): one migrated template database per jest run, and a database cloned from
 * it for each test file (`CREATE DATABASE … TEMPLATE …`, about 0.36 s), dropped after the file.
 *
 * Where the cluster comes from:
 * - ILLUMICHAT_TEST_DATABASE_URL (postgres://…/postgres, a superuser: .ci/run's private cluster from
 *   scripts/pg-cluster.sh). Jest's global set-up (test/support/pg-global-setup.ts) then makes the template
 *   once and hands its name to every worker in ILLUMICHAT_TEST_TEMPLATE_DATABASE.
 * - Without it, a test file that asks for a database starts a private cluster of its own (scripts/
 *   pg-cluster.sh: 1-7 s, depending on the machine's load) and stops it after the file, so the PostgreSQL
 *   tests run, never skip, in a plain `npx jest` too. Where PostgreSQL is missing and cannot be installed,
 *   they fail with the script's advice (as the browser test does without Chromium).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';

import pg from 'pg';

import { openPgStore } from '../../partner-api/db/pg-store';

const run = promisify(execFile);
const CLUSTER_SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'pg-cluster.sh');

/** Time a set-up that may start a cluster needs under load (initdb took 6.3 s while a suite ran). */
export const PG_SETUP_TIMEOUT_MS = 120_000;

/** The admin URL (database `postgres`) of the cluster the tests use, or undefined when none was given. */
export function testClusterUrl(): string | undefined {
  return process.env.ILLUMICHAT_TEST_DATABASE_URL || undefined;
}

/** `url` with its database replaced by `database`. */
export function databaseUrl(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/** Runs `sql` on the cluster's admin database, on a connection of its own (CREATE/DROP DATABASE need one). */
export async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Makes an empty database named `name` and migrates it with the build's PostgreSQL migrations. */
export async function createMigratedDatabase(adminUrl: string, name: string): Promise<void> {
  await adminQuery(adminUrl, `CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  const store = await openPgStore(databaseUrl(adminUrl, name), { max: 1 });
  await store.close();
}

/** A name no other run on the cluster uses: prefix, process id and random hex (PostgreSQL allows 63 bytes). */
export function uniqueDatabaseName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** Drops `name` on the cluster, ending the connections still open to it. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
}

/** Starts a private cluster (scripts/pg-cluster.sh start); resolves to its directory and admin URL. */
export async function startCluster(): Promise<{ dir: string; url: string }> {
  const { stdout } = await run(CLUSTER_SCRIPT, ['start'], { maxBuffer: 1 << 20 }).catch(
    (error: Error & { stderr?: string }) => {
      throw new Error(
        `could not start a PostgreSQL cluster for the tests (scripts/pg-cluster.sh): ${error.stderr ?? error.message}`,
      );
    },
  );
  const vars = Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]),
  );
  const dir = vars.ILLUMICHAT_PG_CLUSTER_DIR;
  const url = vars.ILLUMICHAT_TEST_DATABASE_URL;
  if (!dir || !url) throw new Error(`scripts/pg-cluster.sh start printed no cluster: ${stdout}`);
  return { dir, url };
}

export async function stopCluster(dir: string): Promise<void> {
  await run(CLUSTER_SCRIPT, ['stop', dir]);
}

// This test file's own cluster and template, when the run gave none (made on first use, stopped after the file).
let own: Promise<{ dir: string; url: string; template: string }> | undefined;
// The databases this file made, and what holds connections to them: closed, then dropped, after the file.
const made = new Set<string>();
const closers = new Set<{ close(): Promise<void> }>();
let adminUrlUsed: string | undefined;

async function clusterAndTemplate(): Promise<{ url: string; template: string }> {
  const url = testClusterUrl();
  const template = process.env.ILLUMICHAT_TEST_TEMPLATE_DATABASE;
  if (url && template) return { url, template };
  own ??= (async () => {
    // No cluster: start one. A cluster but no template (a jest config without the global set-up): make one.
    const cluster = url ? { dir: '', url } : await startCluster();
    const name = uniqueDatabaseName('illumichat_tpl');
    await createMigratedDatabase(cluster.url, name);
    return { ...cluster, template: name };
  })();
  return own;
}

/**
 * A new database for this test file, as a postgres:// URL: cloned from the run's migrated template, or empty
 * with `migrated: false`. Dropped (its connections ended) after the file's tests; call it from a `beforeAll`
 * with PG_SETUP_TIMEOUT_MS.
 * Hand what you open on it (a store, a pool) to `closeAfterFile`, so it is closed before the drop.
 */
export async function freshPgDatabaseUrl(options: { migrated?: boolean } = {}): Promise<string> {
  const { url, template } = await clusterAndTemplate();
  const name = uniqueDatabaseName(`${template}_f`);
  // Unmigrated (for tests of the migrations themselves): PostgreSQL's own empty template, template1.
  const source = (options.migrated ?? true) ? template : 'template1';
  await adminQuery(url, `CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(source)}`);
  made.add(name);
  adminUrlUsed = url;
  return databaseUrl(url, name);
}

/**
 * Closes `closable` after the file's tests, before its database is dropped (jest runs a file's afterAll hooks
 * in the order they were declared, so this module's, declared at import, runs before the file's own). Its
 * `close` may be called again later by the test: PgStore's close is idempotent. Returns `closable`.
 */
export function closeAfterFile<C extends { close(): Promise<void> }>(closable: C): C {
  closers.add(closable);
  return closable;
}

/** Closes what was handed to closeAfterFile (newest first), drops this file's databases, stops the cluster it started. */
export async function cleanUpPg(): Promise<void> {
  // Newest first, one at a time: a server handed over after its store closes (stopping its worker) before it.
  const closing: PromiseSettledResult<void>[] = [];
  for (const closable of [...closers].reverse()) {
    closing.push(...(await Promise.allSettled([closable.close()])));
  }
  closers.clear();
  const ownCluster = own ? await own.catch(() => undefined) : undefined;
  own = undefined;
  if (adminUrlUsed) for (const name of made) await dropDatabase(adminUrlUsed, name);
  made.clear();
  if (ownCluster?.dir) await stopCluster(ownCluster.dir);
  else if (ownCluster) await dropDatabase(ownCluster.url, ownCluster.template);
  const failed = closing.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

// Registered when a test file loads this module (its imports run while jest collects the file's tests).
if (typeof afterAll === 'function') afterAll(cleanUpPg, PG_SETUP_TIMEOUT_MS);

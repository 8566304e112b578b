/**
 * PostgreSQL's migrations (ADR 0010 §7): the `NNN_name.pg.sql` twins of SQLite's `NNN_name.sql` in
 * ./migrations, one number sequence for both engines. Each runs in its own transaction together with its row
 * in `schema_migrations` (PostgreSQL's DDL is transactional, so a crash never leaves half a migration), under
 * a session advisory lock, so instances starting together against one database take turns: the first applies,
 * the others wait and then find nothing left to do. Like db/open.ts for SQLite, a database that already holds
 * a version newer than this build knows is refused rather than guessed at.
 *
 * Unlike SQLite's single `user_version`, the table records each version, so a migration numbered below the
 * newest applied one (two branches merged in either order) is still applied, once.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { Pool, PoolClient } from 'pg';

const MIGRATIONS_DIR = path.join(__dirname, 'migrations');

/**
 * The advisory lock key the migrations hold (an arbitrary bigint, used for nothing else). Advisory
 * locks belong to one database, so test databases of one cluster do not wait for each other.
 */
export const PG_MIGRATION_LOCK_KEY = 0x1_11c4a7_3160;

/** PostgreSQL's migrations, in order: the `NNN_name.pg.sql` files, version NNN. */
export function listPgMigrations(): { version: number; name: string; file: string }[] {
  return fs
    .readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d{3}_.+\.pg\.sql$/.test(f))
    .sort()
    .map((f) => ({
      version: Number(f.slice(0, 3)),
      name: f.slice(4, -'.pg.sql'.length),
      file: path.join(MIGRATIONS_DIR, f),
    }));
}

/**
 * Brings the database `pool` connects to up to this build's schema. Resolves to the versions it applied
 * (empty when another instance had applied them, or none were due). Rejects, applying nothing, when the
 * database holds a version newer than the newest file here; rejects with the database's error when a
 * migration fails (that migration rolled back, the ones before it kept).
 */
export async function migratePg(pool: Pool): Promise<number[]> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // The pool listens for errors of idle connections only: this one, lost while held (the server stopping
  // during a start), would otherwise emit an unhandled 'error' and end the process. The query under way
  // fails instead, and that failure is what migratePg rejects with.
  const lost = (error: Error) => (broken ??= error);
  client.on('error', lost);
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PG_MIGRATION_LOCK_KEY]);
    try {
      return await applyPending(client);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [PG_MIGRATION_LOCK_KEY]);
    }
  } catch (error) {
    // The connection may be unusable (and may still hold the lock): end it rather than pool it.
    broken ??= error as Error;
    throw error;
  } finally {
    client.removeListener('error', lost);
    client.release(broken);
  }
}

async function applyPending(client: PoolClient): Promise<number[]> {
  await client.query(
    `CREATE TABLE IF NOT EXISTS schema_migrations (
       version     INTEGER PRIMARY KEY,
       name        TEXT NOT NULL,
       applied_at  TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
     )`,
  );
  const applied = new Set(
    (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version),
  );
  const migrations = listPgMigrations();
  const latest = migrations.at(-1)?.version ?? 0;
  const newest = Math.max(0, ...applied);
  if (newest > latest) {
    throw new Error(
      `database schema version ${newest} is newer than this build knows (${latest}); refusing to open it`,
    );
  }
  const done: number[] = [];
  for (const { version, name, file } of migrations) {
    if (applied.has(version)) continue;
    const sql = fs.readFileSync(file, 'utf8');
    await client.query('BEGIN');
    try {
      // Without parameters node-postgres sends the simple query protocol, which runs several statements.
      await client.query(sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [version, name]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new Error(`PostgreSQL migration ${path.basename(file)} failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
    done.push(version);
  }
  return done;
}

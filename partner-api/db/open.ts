/**
 * Opens the SQLite database with the pragmas the API relies on and brings its schema up to date.
 * Migrations are numbered files in ./migrations; each runs in its own transaction together with the
 * `PRAGMA user_version` bump, so a crash never leaves a half-applied schema. A database written by a newer
 * version of the API is refused rather than guessed at.
 */
import fs from 'node:fs';
import path from 'node:path';

import Database from 'better-sqlite3';

export type Db = Database.Database;

const MIGRATIONS_DIR = path.join(__dirname, 'migrations');

/** The page cache's bound, KiB (`PRAGMA cache_size` takes it negated). */
export const PAGE_CACHE_KIB = 8_000;
/** WAL pages at which a commit runs the checkpoint itself, when no checkpoint thread does. */
export const INLINE_CHECKPOINT_PAGES = 10_000;

/** SQLite's migrations, in order: `NNN_name.sql`; a `NNN_name.pg.sql` beside one is its PostgreSQL twin. */
export function listMigrations(): { version: number; file: string }[] {
  return fs
    .readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d{3}_.+\.sql$/.test(f) && !f.endsWith('.pg.sql'))
    .sort()
    .map((file) => ({ version: Number(file.slice(0, 3)), file: path.join(MIGRATIONS_DIR, file) }));
}

export function openDatabase(filename: string): Db {
  if (filename !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(filename)), { recursive: true });
  const db = new Database(filename);
  // Before anything else: on a new file this only takes effect ahead of WAL mode and the first table. It
  // lets retention give freed pages back (db/retention.ts); older files are converted there, at start.
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode is durable across process crashes (what the crash tests kill); only an OS crash or
  // power loss can drop the last commits. FULL would cost about 5x in write throughput on this hardware.
  db.pragma('synchronous = NORMAL');
  // Without the checkpoint thread (db/checkpointer.ts, which the server runs), checkpoints run inside the
  // commit that crosses this many WAL pages, fsyncs included. SQLite's 1,000 (4 MB) meant one every ~80
  // events here, each a latency spike; 10,000 (40 MB) makes them ten times rarer while bounding the WAL.
  db.pragma(`wal_autocheckpoint = ${INLINE_CHECKPOINT_PAGES}`);
  // After a checkpoint restarts the WAL, the file is cut back to this size instead of staying at its peak.
  db.pragma('journal_size_limit = 67108864');
  // The page cache, at most 8 MiB (better-sqlite3 builds SQLite with 16): over the bench's phases the full
  // 16 MiB took the API's peak RSS to 195-201 MB against the 200 MB target; with 8, 182-183 MB at the same CPU
  // per event and deliveries/s (docs/performance.md). The hot pages (the B-trees' upper levels, the newest
  // leaves) fit many times over; older pages come back from the OS's file cache when asked for.
  db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

export function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  const migrations = listMigrations();
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new Error(
      `database schema version ${current} is newer than this build knows (${latest}); refusing to open it`,
    );
  }
  for (const { version, file } of migrations) {
    if (version <= current) continue;
    const sql = fs.readFileSync(file, 'utf8');
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${version}`);
    }).immediate();
  }
}

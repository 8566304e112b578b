/**
 * PostgreSQL's migrations (partner-api/db/pg-migrate.ts) on a real PostgreSQL: applied once each in order,
 * instances starting together take turns under the advisory lock, and a database from a newer build is
 * refused. Needs a PostgreSQL whatever the run's engine (test/support/pg.ts).
 */
import pg from 'pg';

import { listMigrations } from '../../partner-api/db/open';
import { listPgMigrations, migratePg } from '../../partner-api/db/pg-migrate';
import { openPgStore } from '../../partner-api/db/pg-store';
import { closeAfterFile, freshPgDatabaseUrl, PG_SETUP_TIMEOUT_MS } from '../support/pg';

it('every SQLite migration has its PostgreSQL twin, with the same number and name, and SQLite ignores the twins', () => {
  const sqlite = listMigrations().map((m) => m.file.replace(/\.sql$/, ''));
  const postgres = listPgMigrations().map((m) => m.file.replace(/\.pg\.sql$/, ''));
  expect(sqlite.length).toBeGreaterThan(0);
  expect(postgres).toEqual(sqlite);
  expect(listMigrations().filter((m) => m.file.endsWith('.pg.sql'))).toEqual([]);
});

describe('on a fresh database', () => {
  it(
    'two instances starting at once both open it; each migration is applied once, in order',
    async () => {
      const url = await freshPgDatabaseUrl({ migrated: false });
      // Two pools are two instances; each runner waits for the other's lock, not for its own pool.
      const pools = [new pg.Pool({ connectionString: url }), new pg.Pool({ connectionString: url })];
      try {
        const applied = await Promise.all(pools.map((pool) => migratePg(pool)));
        const versions = listPgMigrations().map((m) => m.version);
        // One applied everything, the other found nothing left to do.
        expect(applied.map((a) => a.length).sort()).toEqual([0, versions.length]);
        expect(applied.flat()).toEqual(versions);
        const recorded = await pools[0]!.query<{ version: number; name: string }>(
          'SELECT version, name FROM schema_migrations ORDER BY version',
        );
        expect(recorded.rows).toEqual(listPgMigrations().map(({ version, name }) => ({ version, name })));
        // Running again changes nothing.
        expect(await migratePg(pools[1]!)).toEqual([]);
      } finally {
        await Promise.all(pools.map((pool) => pool.end()));
      }
    },
    PG_SETUP_TIMEOUT_MS,
  );

  it(
    'refuses a database that a newer build migrated, without applying anything',
    async () => {
      const url = await freshPgDatabaseUrl({ migrated: false });
      const pool = new pg.Pool({ connectionString: url });
      try {
        await migratePg(pool);
        const latest = listPgMigrations().at(-1)!.version;
        await pool.query(`INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future')`, [latest + 1]);
        await pool.query('DROP INDEX deliveries_due'); // would come back if a migration ran again
        await expect(openPgStore(url)).rejects.toThrow(
          `database schema version ${latest + 1} is newer than this build knows (${latest}); refusing to open it`,
        );
        const index = await pool.query(`SELECT 1 FROM pg_indexes WHERE indexname = 'deliveries_due'`);
        expect(index.rowCount).toBe(0);
      } finally {
        await pool.end();
      }
    },
    PG_SETUP_TIMEOUT_MS,
  );

  it(
    'openPgStore migrates unless told not to',
    async () => {
      const url = await freshPgDatabaseUrl({ migrated: false });
      const bare = closeAfterFile(await openPgStore(url, { migrate: false }));
      expect(await bare.value(`SELECT to_regclass('schema_migrations') IS NULL`)).toBe(true);
      const store = closeAfterFile(await openPgStore(url));
      expect(await store.value('SELECT COUNT(*) FROM schema_migrations')).toBe(listPgMigrations().length);
    },
    PG_SETUP_TIMEOUT_MS,
  );

  it(
    "keeps the rate limits' counts in an unlogged table (017): counting a request waits for no WAL flush",
    async () => {
      const store = closeAfterFile(await openPgStore(await freshPgDatabaseUrl({ migrated: false })));
      const persistence = `SELECT relpersistence FROM pg_class WHERE oid = to_regclass(?)`;
      expect(await store.value(persistence, 'rate_limits')).toBe('u');
      expect(await store.value(persistence, 'deliveries')).toBe('p'); // everything else is WAL-logged, as ever
    },
    PG_SETUP_TIMEOUT_MS,
  );
});

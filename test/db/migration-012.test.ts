/**
 * Migration 012 (rate limits): PostgreSQL gets the `rate_limits` table (its own file, 012_rate_limits.pg.sql,
 * applied by rate-limit-postgres.test.ts), SQLite a comment only. SQLite's migration list must never pick
 * up a `.pg.sql` file: it would run PostgreSQL's DDL and count version 12 twice.
 */
import fs from 'node:fs';
import path from 'node:path';

import { listMigrations, openDatabase } from '../../partner-api/db/open';

it("lists only SQLite's migrations, each number once, and every PostgreSQL file has its SQLite twin", () => {
  const listed = listMigrations();
  expect(listed.filter((m) => m.file.endsWith('.pg.sql'))).toEqual([]);
  const versions = listed.map((m) => m.version);
  expect(new Set(versions).size).toBe(versions.length);

  const dir = path.dirname(listed[0]!.file);
  const pgVersions = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.pg.sql'))
    .map((f) => Number(f.slice(0, 3)));
  expect(pgVersions).toContain(12);
  for (const version of pgVersions) expect(versions).toContain(version);
});

it('brings a new SQLite database to version 12 without a rate_limits table (the limits count in memory)', () => {
  const db = openDatabase(':memory:');
  try {
    expect(db.pragma('user_version', { simple: true })).toBeGreaterThanOrEqual(12); // 013 and later follow
    expect(db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'rate_limits'").pluck().get()).toBe(0);
  } finally {
    db.close();
  }
});

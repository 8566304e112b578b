/**
 * Test support for migration tests: an in-memory database with the schema exactly as migrations 001..`version`
 * left it (`user_version` set as `migrate` sets it), to fill with the rows an older install held before the
 * migration under test runs over them.
 */
import fs from 'node:fs';

import Database from 'better-sqlite3';

import { listMigrations } from '../../partner-api/db/open';

export function databaseAtVersion(version: number): Database.Database {
  const db = new Database(':memory:');
  for (const migration of listMigrations().filter((m) => m.version <= version)) {
    db.exec(fs.readFileSync(migration.file, 'utf8'));
    db.pragma(`user_version = ${migration.version}`);
  }
  return db;
}

/**
 * Migration 008 (issue 14) on a database as version 6 left it, with rows in it: existing contacts get empty
 * attribute values, existing conversations stay open with no closer, and their visitor emails become findable
 * by Find Conversation (trimmed, lower-cased), through the new partial index.
 */

import type Database from 'better-sqlite3';

import { migrate } from '../../partner-api/db/open';
import { databaseAtVersion } from '../support/migrations';
import { describeEngine } from '../support/test-store';

describeEngine(
  'sqlite',
  "SQLite's migration 008 on a database at version 7 (databaseAtVersion)",
  'migration 008',
  () => {
    function databaseAtVersion6(): Database.Database {
      const db = databaseAtVersion(6);
      const at = '2026-01-01T00:00:00.000Z';
      db.exec(`
      INSERT INTO workspaces VALUES ('ws_a', 'A', 'pro', '${at}');
      INSERT INTO assistants VALUES ('ast_a', 'ws_a', 'Bot', '${at}');
      INSERT INTO contacts (id, workspace_id, email, email_normalized, source, created_at, updated_at)
        VALUES ('con_a', 'ws_a', 'Ava@Example.com', 'ava@example.com', 'api', '${at}', '${at}');
      INSERT INTO conversations (id, workspace_id, assistant_id, channel, mode, status, visitor_email, started_at, updated_at) VALUES
        ('cnv_email', 'ws_a', 'ast_a', 'widget', 'assistant', 'open', ' Ava@Example.COM ', '${at}', '${at}'),
        ('cnv_none', 'ws_a', 'ast_a', 'widget', 'assistant', 'open', NULL, '${at}', '${at}');
    `);
      return db;
    }

    it('keeps every row, gives contacts empty attributes, and makes old visitor emails findable case-insensitively', () => {
      const db = databaseAtVersion6();
      migrate(db);
      expect(db.pragma('user_version', { simple: true })).toBeGreaterThanOrEqual(8);
      expect(db.prepare('SELECT attributes FROM contacts').pluck().all()).toEqual(['{}']);
      expect(
        db
          .prepare(
            'SELECT id, status, closed_at, closed_by_type, visitor_email_normalized FROM conversations ORDER BY id',
          )
          .all(),
      ).toEqual([
        {
          id: 'cnv_email',
          status: 'open',
          closed_at: null,
          closed_by_type: null,
          visitor_email_normalized: 'ava@example.com',
        },
        { id: 'cnv_none', status: 'open', closed_at: null, closed_by_type: null, visitor_email_normalized: null },
      ]);
      const plan = db
        .prepare(
          `EXPLAIN QUERY PLAN SELECT id FROM conversations WHERE workspace_id = ? AND visitor_email_normalized = ? ORDER BY started_at DESC`,
        )
        .all('ws_a', 'ava@example.com') as { detail: string }[];
      expect(plan.map((p) => p.detail).join(' ')).toMatch(/USING (COVERING )?INDEX conversations_by_visitor_email/);
      db.close();
    });
  },
);

/**
 * Migration 010 on a database as version 9 left it: every delivery gets its subscription's workspace and
 * event type (the delivery log reads them by workspace), and the log's indexes exist.
 */

import type Database from 'better-sqlite3';

import { migrate } from '../../partner-api/db/open';
import { databaseAtVersion } from '../support/migrations';
import { describeEngine } from '../support/test-store';

describeEngine(
  'sqlite',
  "SQLite's migration 010 on a database at version 9 (databaseAtVersion)",
  'migration 010',
  () => {
    function databaseAtVersion9(): Database.Database {
      const db = databaseAtVersion(9);
      db.exec(`
      INSERT INTO workspaces VALUES ('ws_a', 'A', 'pro', '2026-01-01T00:00:00.000Z'), ('ws_b', 'B', 'pro', '2026-01-01T00:00:00.000Z');
      INSERT INTO api_keys (id, workspace_id, name, prefix, secret_hash, scopes, created_at) VALUES
        ('key_a', 'ws_a', 'k', 'wsk_live_aaaa', 'h1', 'events:read', '2026-01-01T00:00:00.000Z'),
        ('key_b', 'ws_b', 'k', 'wsk_live_bbbb', 'h2', 'events:read', '2026-01-01T00:00:00.000Z');
      INSERT INTO subscriptions (id, workspace_id, api_key_id, event_type, target_url, secret, active, created_at) VALUES
        ('sub_a', 'ws_a', 'key_a', 'ticket.created', 'https://hooks.example/1', 's', 0, '2026-01-01T00:00:01.000Z'),
        ('sub_b', 'ws_b', 'key_b', 'lead.captured', 'https://hooks.example/2', 's', 1, '2026-01-01T00:00:01.000Z');
      INSERT INTO events (id, workspace_id, type, payload, created_at) VALUES
        ('evt_1', 'ws_a', 'ticket.created', '{}', '2026-01-04T00:00:00.000Z'),
        ('evt_2', 'ws_b', 'lead.captured', '{}', '2026-01-04T00:00:00.000Z');
      INSERT INTO deliveries (id, event_id, subscription_id, status, attempts, next_attempt_ms, created_at) VALUES
        ('dlv_1', 'evt_1', 'sub_a', 'failed', 1, 0, '2026-01-04T00:00:00.000Z'),
        ('dlv_2', 'evt_2', 'sub_b', 'pending', 0, 0, '2026-01-04T00:00:00.000Z');
      INSERT INTO agents (id, workspace_id, name, email, token_hash, created_at, role, token_revoked_at) VALUES
        ('agt_live', 'ws_a', 'Live', 'l@example.com', 't1', '2026-01-01T00:00:00.000Z', 'owner', NULL),
        ('agt_gone', 'ws_a', 'Gone', 'g@example.com', 't2', '2026-01-01T00:00:00.000Z', 'admin', '2026-01-02T00:00:00.000Z');
      INSERT INTO sessions (id_hash, agent_id, workspace_id, csrf_token, created_at, expires_at_ms) VALUES
        ('s_live', 'agt_live', 'ws_a', 'c', '2026-01-03T00:00:00.000Z', 9e12),
        ('s_gone', 'agt_gone', 'ws_a', 'c', '2026-01-03T00:00:00.000Z', 9e12);
      INSERT INTO sign_in_links (token_hash, agent_id, created_at, expires_at_ms, used_at) VALUES
        ('l_live', 'agt_live', '2026-01-03T00:00:00.000Z', 9e12, NULL),
        ('l_gone', 'agt_gone', '2026-01-03T00:00:00.000Z', 9e12, NULL),
        ('l_gone_used', 'agt_gone', '2026-01-01T00:00:00.000Z', 9e12, '2026-01-01T00:00:01.000Z');
    `);
      return db;
    }

    it("gives every delivery its subscription's workspace and event type, and indexes the log by workspace", () => {
      const db = databaseAtVersion9();
      migrate(db);
      expect(db.pragma('user_version', { simple: true })).toBeGreaterThanOrEqual(10);
      expect(db.prepare('SELECT id, workspace_id, event_type FROM deliveries ORDER BY id').all()).toEqual([
        { id: 'dlv_1', workspace_id: 'ws_a', event_type: 'ticket.created' },
        { id: 'dlv_2', workspace_id: 'ws_b', event_type: 'lead.captured' },
      ]);
      const indexes = db
        .prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deliveries'`)
        .pluck()
        .all();
      expect(indexes).toEqual(
        expect.arrayContaining([
          'deliveries_by_workspace',
          'deliveries_by_workspace_status',
          'deliveries_by_workspace_type',
          'deliveries_by_subscription',
          'deliveries_by_subscription_status',
        ]),
      );
    });

    it('ends the sessions and voids the unused sign-in links of agents revoked before it', () => {
      const db = databaseAtVersion9();
      migrate(db);
      expect(db.prepare('SELECT id_hash FROM sessions ORDER BY 1').pluck().all()).toEqual(['s_live']);
      expect(db.prepare('SELECT token_hash FROM sign_in_links ORDER BY 1').pluck().all()).toEqual([
        'l_gone_used',
        'l_live',
      ]);
    });
  },
);

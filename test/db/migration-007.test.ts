/**
 * Migration 007 on a database as version 6 left it: every agent gets a role, the first agent of each
 * workspace (by creation time) becoming its owner so someone can open Settings, and the others `agent`;
 * the role is constrained; earlier delivery attempts count as automatic.
 */

import type Database from 'better-sqlite3';

import { migrate } from '../../partner-api/db/open';
import { databaseAtVersion } from '../support/migrations';
import { describeEngine } from '../support/test-store';

describeEngine(
  'sqlite',
  "SQLite's migration 007 on a database at version 6 (databaseAtVersion)",
  'migration 007',
  () => {
    function databaseAtVersion6(): Database.Database {
      const db = databaseAtVersion(6);
      db.exec(`
      INSERT INTO workspaces VALUES ('ws_a', 'A', 'pro', '2026-01-01T00:00:00.000Z'), ('ws_b', 'B', 'pro', '2026-01-01T00:00:00.000Z'),
                                    ('ws_empty', 'E', 'pro', '2026-01-01T00:00:00.000Z');
      INSERT INTO agents (id, workspace_id, name, email, token_hash, created_at) VALUES
        ('agt_a2', 'ws_a', 'Second', 'a2@example.com', 't1', '2026-01-02T00:00:00.000Z'),
        ('agt_a1', 'ws_a', 'First',  'a1@example.com', 't2', '2026-01-01T00:00:00.000Z'),
        ('agt_b1', 'ws_b', 'Only',   'b1@example.com', 't3', '2026-01-05T00:00:00.000Z');
      INSERT INTO api_keys (id, workspace_id, name, prefix, secret_hash, scopes, created_at) VALUES
        ('key_a', 'ws_a', 'k', 'wsk_live_aaaa', 'h1', 'events:read', '2026-01-01T00:00:00.000Z');
      INSERT INTO subscriptions (id, workspace_id, api_key_id, event_type, target_url, secret, active, created_at) VALUES
        ('sub_a', 'ws_a', 'key_a', 'ticket.created', 'https://hooks.example/1', 's', 1, '2026-01-01T00:00:01.000Z');
      INSERT INTO events (id, workspace_id, type, payload, created_at) VALUES ('evt_1', 'ws_a', 'ticket.created', '{}', '2026-01-04T00:00:00.000Z');
      INSERT INTO deliveries (id, event_id, subscription_id, status, attempts, next_attempt_ms, created_at) VALUES
        ('dlv_1', 'evt_1', 'sub_a', 'failed', 1, 0, '2026-01-04T00:00:00.000Z');
      INSERT INTO delivery_attempts (id, delivery_id, attempt, started_at, duration_ms, outcome) VALUES
        ('att_1', 'dlv_1', 1, '2026-01-04T00:00:00.000Z', 5, 'failed');
    `);
      return db;
    }

    it('makes the first agent of each workspace its owner and every other one an agent', () => {
      const db = databaseAtVersion6();
      migrate(db);
      expect(db.pragma('user_version', { simple: true })).toBeGreaterThanOrEqual(7);
      expect(db.prepare('SELECT id, role FROM agents ORDER BY id').all()).toEqual([
        { id: 'agt_a1', role: 'owner' },
        { id: 'agt_a2', role: 'agent' },
        { id: 'agt_b1', role: 'owner' },
      ]);
      expect(() => db.prepare(`UPDATE agents SET role = 'root' WHERE id = 'agt_a2'`).run()).toThrow(/CHECK/);
      expect(db.prepare('SELECT manual FROM delivery_attempts').pluck().all()).toEqual([0]);
      expect(db.prepare('SELECT COUNT(*) FROM sessions').pluck().get()).toBe(0);
    });
  },
);

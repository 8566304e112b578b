/**
 * Migration 003 on a database as version 2 left it: active subscriptions under a revoked key (the in-flight
 * revocation race) and several active subscriptions at one hook URL (a retried subscribe) are deactivated,
 * their pending deliveries cancelled, and then the schema itself allows one active subscription per URL.
 */

import type Database from 'better-sqlite3';

import { migrate } from '../../partner-api/db/open';
import { databaseAtVersion } from '../support/migrations';
import { describeEngine } from '../support/test-store';

describeEngine(
  'sqlite',
  "SQLite's migration 003 on a database at version 2 (databaseAtVersion)",
  'migration 003',
  () => {
    function databaseAtVersion2(): Database.Database {
      const db = databaseAtVersion(2);
      db.exec(`
      INSERT INTO workspaces VALUES ('ws_a', 'A', 'pro', '2026-01-01T00:00:00.000Z'), ('ws_b', 'B', 'pro', '2026-01-01T00:00:00.000Z');
      INSERT INTO api_keys (id, workspace_id, name, prefix, secret_hash, scopes, created_at, revoked_at) VALUES
        ('key_live', 'ws_a', 'live', 'wsk_live_aaaa', 'h1', 'events:read', '2026-01-01T00:00:00.000Z', NULL),
        ('key_gone', 'ws_a', 'gone', 'wsk_live_bbbb', 'h2', 'events:read', '2026-01-01T00:00:00.000Z', '2026-01-02T00:00:00.000Z'),
        ('key_b',    'ws_b', 'b',    'wsk_live_cccc', 'h3', 'events:read', '2026-01-01T00:00:00.000Z', NULL);
      INSERT INTO agents (id, workspace_id, name, email, token_hash, created_at) VALUES ('agt_1', 'ws_a', 'Al', 'al@example.com', 't1', '2026-01-01T00:00:00.000Z');
      INSERT INTO subscriptions (id, workspace_id, api_key_id, event_type, target_url, secret, active, created_at) VALUES
        ('sub_old',     'ws_a', 'key_live', 'ticket.created', 'https://hooks.example/1', 's', 1, '2026-01-01T00:00:01.000Z'),
        ('sub_retry',   'ws_a', 'key_live', 'ticket.created', 'https://hooks.example/1', 's', 1, '2026-01-01T00:00:02.000Z'),
        ('sub_newest',  'ws_a', 'key_live', 'lead.captured',  'https://hooks.example/1', 's', 1, '2026-01-01T00:00:03.000Z'),
        ('sub_off',     'ws_a', 'key_live', 'ticket.created', 'https://hooks.example/1', 's', 0, '2026-01-01T00:00:04.000Z'),
        ('sub_other',   'ws_a', 'key_live', 'ticket.created', 'https://hooks.example/2', 's', 1, '2026-01-01T00:00:01.000Z'),
        ('sub_b',       'ws_b', 'key_b',    'ticket.created', 'https://hooks.example/1', 's', 1, '2026-01-01T00:00:01.000Z'),
        ('sub_revoked', 'ws_a', 'key_gone', 'ticket.created', 'https://hooks.example/3', 's', 1, '2026-01-03T00:00:00.000Z');
      INSERT INTO events (id, workspace_id, type, payload, created_at) VALUES ('evt_1', 'ws_a', 'ticket.created', '{}', '2026-01-04T00:00:00.000Z');
      INSERT INTO deliveries (id, event_id, subscription_id, status, attempts, next_attempt_ms, created_at) VALUES
        ('dlv_old', 'evt_1', 'sub_old', 'pending', 0, 0, '2026-01-04T00:00:00.000Z'),
        ('dlv_retry', 'evt_1', 'sub_retry', 'pending', 3, 0, '2026-01-04T00:00:00.000Z'),
        ('dlv_revoked', 'evt_1', 'sub_revoked', 'pending', 1, 0, '2026-01-04T00:00:00.000Z'),
        ('dlv_other', 'evt_1', 'sub_other', 'pending', 0, 0, '2026-01-04T00:00:00.000Z');
    `);
      return db;
    }

    it('deactivates duplicates (the newest stays) and subscriptions under revoked keys, cancels what they owed, then enforces the rule', () => {
      const db = databaseAtVersion2();
      migrate(db);
      expect(db.pragma('user_version', { simple: true })).toBeGreaterThanOrEqual(3);
      const subs = Object.fromEntries(
        (
          db.prepare('SELECT id, active, deactivated_reason AS reason FROM subscriptions').all() as {
            id: string;
            active: number;
            reason: string | null;
          }[]
        ).map((r) => [r.id, `${r.active}:${r.reason}`]),
      );
      expect(subs).toEqual({
        sub_old: '0:replaced',
        sub_retry: '0:replaced',
        sub_newest: '1:null',
        sub_off: '0:null',
        sub_other: '1:null',
        sub_b: '1:null',
        sub_revoked: '0:key_revoked',
      });
      const deliveries = Object.fromEntries(
        (db.prepare('SELECT id, status FROM deliveries').all() as { id: string; status: string }[]).map((r) => [
          r.id,
          r.status,
        ]),
      );
      expect(deliveries).toEqual({
        dlv_old: 'cancelled',
        dlv_retry: 'cancelled',
        dlv_revoked: 'cancelled',
        dlv_other: 'pending',
      });
      expect(db.prepare(`SELECT finished_at FROM deliveries WHERE id = 'dlv_old'`).pluck().get()).toMatch(
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
      );

      const insert = db.prepare(
        `INSERT INTO subscriptions (id, workspace_id, api_key_id, event_type, target_url, secret, active, created_at) VALUES (?, 'ws_a', 'key_live', 'ticket.created', ?, 's', ?, '2026-02-01T00:00:00.000Z')`,
      );
      expect(() => insert.run('sub_dup', 'https://hooks.example/1', 1)).toThrow(/UNIQUE/);
      expect(() => insert.run('sub_inactive_dup', 'https://hooks.example/1', 0)).not.toThrow();
      expect(db.prepare(`SELECT token_revoked_at FROM agents WHERE id = 'agt_1'`).pluck().get()).toBeNull();
    });
  },
);

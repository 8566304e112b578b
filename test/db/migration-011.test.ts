/**
 * Migration 011 on a database as version 10 left it: each workspace's ticket counter starts at its highest
 * ticket number, a conversation that somehow held two live chats keeps the newest (the unique index could not
 * be built otherwise), and the list indexes end in `id`.
 */
import { migrate } from '../../partner-api/db/open';
import { databaseAtVersion } from '../support/migrations';
import { describeEngine } from '../support/test-store';

describeEngine(
  'sqlite',
  "SQLite's migration 011 on a database at version 10 (databaseAtVersion)",
  'migration 011',
  () => {
    it('backfills ticket counters, ends all but the newest live chat of a conversation, and adds the id-ended indexes', () => {
      const db = databaseAtVersion(10);
      db.exec(`
      INSERT INTO workspaces VALUES ('ws_a', 'A', 'pro', '2026-01-01T00:00:00.000Z'), ('ws_b', 'B', 'pro', '2026-01-01T00:00:00.000Z');
      INSERT INTO assistants VALUES ('ast_a', 'ws_a', 'A', '2026-01-01T00:00:00.000Z');
      INSERT INTO tickets (id, workspace_id, number, subject, status, priority, source, created_at, updated_at) VALUES
        ('tkt_1', 'ws_a', 1, 's', 'new', 'normal', 'api', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'),
        ('tkt_7', 'ws_a', 7, 's', 'new', 'normal', 'api', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z');
      INSERT INTO conversations (id, workspace_id, assistant_id, channel, mode, status, started_at, updated_at) VALUES
        ('cnv_1', 'ws_a', 'ast_a', 'widget', 'human', 'open', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z');
      INSERT INTO live_chat_sessions (id, workspace_id, conversation_id, status, queued_at) VALUES
        ('lcs_old', 'ws_a', 'cnv_1', 'queued', '2026-01-01T00:00:00.000Z'),
        ('lcs_new', 'ws_a', 'cnv_1', 'active', '2026-01-01T00:00:01.000Z'),
        ('lcs_done', 'ws_a', 'cnv_1', 'ended', '2026-01-01T00:00:02.000Z');
    `);
      migrate(db);
      expect(db.pragma('user_version', { simple: true })).toBeGreaterThanOrEqual(11);
      expect(db.prepare('SELECT workspace_id, last_number FROM ticket_counters').all()).toEqual([
        { workspace_id: 'ws_a', last_number: 7 },
      ]);
      expect(db.prepare('SELECT id, status FROM live_chat_sessions ORDER BY id').all()).toEqual([
        { id: 'lcs_done', status: 'ended' },
        { id: 'lcs_new', status: 'active' },
        { id: 'lcs_old', status: 'ended' },
      ]);
      const columns = (index: string) =>
        (db.prepare(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`).pluck().all(index) as string[]).join(',');
      expect(columns('conversations_by_start')).toBe('workspace_id,started_at,id');
      expect(columns('messages_by_conversation')).toBe('conversation_id,created_at,id');
      expect(columns('deliveries_by_workspace_status')).toBe('workspace_id,status,created_at,id');
      expect(columns('live_chat_sessions_one_live')).toBe('conversation_id');
      db.close();
    });
  },
);

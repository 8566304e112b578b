-- 011 (issue 13 §1-2), PostgreSQL: the twin of 011_portable_keys.sql (read its comments); the same tables,
-- columns, indexes and constraints, by the same names.
--
-- 1. Lists page by (time, id) instead of (time, rowid): PostgreSQL has no rowid. Ids are time first and grow
-- within a process (lib/ids.ts), so the order within one millisecond stays the order of creation. Each index
-- a list seeks on ends in `id`, so the order needs no sort; the names stay, so `INDEXED BY` still holds.
DROP INDEX conversations_by_start;
CREATE INDEX conversations_by_start ON conversations(workspace_id, started_at, id);
DROP INDEX conversations_by_mode;
CREATE INDEX conversations_by_mode ON conversations(workspace_id, mode, started_at, id);
DROP INDEX conversations_by_visitor_email;
CREATE INDEX conversations_by_visitor_email ON conversations(workspace_id, visitor_email_normalized, started_at, id)
  WHERE visitor_email_normalized IS NOT NULL;
DROP INDEX messages_by_conversation;
CREATE INDEX messages_by_conversation ON messages(conversation_id, created_at, id);
DROP INDEX deliveries_by_subscription;
CREATE INDEX deliveries_by_subscription ON deliveries(subscription_id, created_at, id);
DROP INDEX deliveries_by_subscription_status;
CREATE INDEX deliveries_by_subscription_status ON deliveries(subscription_id, status, created_at, id);
DROP INDEX deliveries_by_workspace;
CREATE INDEX deliveries_by_workspace ON deliveries(workspace_id, created_at, id);
DROP INDEX deliveries_by_workspace_status;
CREATE INDEX deliveries_by_workspace_status ON deliveries(workspace_id, status, created_at, id);
DROP INDEX deliveries_by_workspace_type;
CREATE INDEX deliveries_by_workspace_type ON deliveries(workspace_id, event_type, created_at, id);
-- GET /v1/subscriptions and Connected Zaps, newest first (read a workspace's subscriptions and sorted them).
CREATE INDEX subscriptions_by_workspace ON subscriptions(workspace_id, created_at, id);

-- 2. Ticket numbers come from a counter row per workspace, taken with one upsert (domain/tickets.ts), not
-- from MAX(number) + 1, which two writers on PostgreSQL read alike. last_number is the last number given.
CREATE TABLE ticket_counters (
  workspace_id  TEXT PRIMARY KEY REFERENCES workspaces(id),
  last_number   INTEGER NOT NULL
);
INSERT INTO ticket_counters (workspace_id, last_number)
SELECT workspace_id, MAX(number) FROM tickets GROUP BY workspace_id;

-- 3. One live-chat session in progress (queued or active) per conversation, held by the database: two
-- "request a human" at once on PostgreSQL both saw none. Any earlier duplicate (none can exist under
-- SQLite's single writer, but the index would refuse to build) keeps its newest, the others end.
UPDATE live_chat_sessions
   SET status = 'ended', ended_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
 WHERE status IN ('queued', 'active')
   AND EXISTS (SELECT 1 FROM live_chat_sessions n
                WHERE n.conversation_id = live_chat_sessions.conversation_id AND n.status IN ('queued', 'active')
                  AND (n.queued_at, n.id) > (live_chat_sessions.queued_at, live_chat_sessions.id));
CREATE UNIQUE INDEX live_chat_sessions_one_live ON live_chat_sessions(conversation_id)
  WHERE status IN ('queued', 'active');

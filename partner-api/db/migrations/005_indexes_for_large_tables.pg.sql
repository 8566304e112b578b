-- 005, PostgreSQL: the twin of 005_indexes_for_large_tables.sql (read its comments). The SQLite file's
-- conversation indexes end, implicitly, in rowid; PostgreSQL has none (011 ends them in id on both engines).
CREATE INDEX events_samples_by_assistant ON events(workspace_id, type, assistant_id, seq DESC);
DROP INDEX conversations_recent;
CREATE INDEX conversations_by_start ON conversations(workspace_id, started_at);
CREATE INDEX conversations_by_mode ON conversations(workspace_id, mode, started_at);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at_ms);
CREATE INDEX subscriptions_by_key ON subscriptions(api_key_id, active);
CREATE INDEX deliveries_pending_by_subscription ON deliveries(subscription_id) WHERE status = 'pending';
CREATE INDEX agents_by_workspace ON agents(workspace_id, created_at);

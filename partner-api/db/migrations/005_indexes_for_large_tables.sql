-- 005: Test-trigger samples filtered to one assistant (GET /v1/samples?assistant_id=…) seek straight to that
-- assistant's latest events of the type. With only events_samples(workspace_id, type, seq), the query read
-- every event of the type in the workspace, newest first, until it found `limit` of the assistant's: for an
-- assistant with few or none, all of them (0.9 s a call at 1M events). The retention pruner
-- (db/retention.ts) uses the same index to find the newest events each filtered Test trigger keeps.
CREATE INDEX events_samples_by_assistant ON events(workspace_id, type, assistant_id, seq DESC);

-- The rest are what the query-plan guard (test/db/query-plans.test.ts) found reading whole tables or index
-- ranges to return a few rows:
-- Conversations newest first, optionally one mode, paged by (started_at, rowid): conversations_recent ended
-- in `id DESC`, so ORDER BY started_at DESC, rowid DESC sorted every conversation of the workspace for each
-- page, and a mode filter skipped through all of them. Without `id`, rowid is the index's last column.
DROP INDEX conversations_recent;
CREATE INDEX conversations_by_start ON conversations(workspace_id, started_at);
CREATE INDEX conversations_by_mode ON conversations(workspace_id, mode, started_at);
-- Expired Idempotency-Key records are purged by age (domain/idempotency.ts); that was a full scan.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at_ms);
-- Revoking a key turns its subscriptions off (delivery/outbox.ts); that was a full scan.
CREATE INDEX subscriptions_by_key ON subscriptions(api_key_id, active);
-- ... and cancels their pending deliveries, which read every pending delivery of every subscription. Partial:
-- a row leaves it when it is sent, so it stays as small as the backlog.
CREATE INDEX deliveries_pending_by_subscription ON deliveries(subscription_id) WHERE status = 'pending';
-- The admin CLI's `agent list` reads one workspace's agents in creation order; that was a full scan.
CREATE INDEX agents_by_workspace ON agents(workspace_id, created_at);

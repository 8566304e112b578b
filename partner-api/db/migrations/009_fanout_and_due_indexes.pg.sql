-- 009, PostgreSQL: the twin of 009_fanout_and_due_indexes.sql (read its comments).
DROP INDEX events_awaiting_fanout;
CREATE INDEX events_awaiting_fanout_by_workspace ON events(workspace_id, seq) WHERE fanout_upto IS NOT NULL;

DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries(next_attempt_ms) WHERE status = 'pending';

-- 005: Test-trigger samples filtered to one assistant (GET /v1/samples?assistant_id=…) seek straight to that
-- assistant's latest events of the type. With only events_samples(workspace_id, type, seq), the query read
-- every event of the type in the workspace, newest first, until it found `limit` of the assistant's: for an
-- assistant with few or none, all of them (0.9 s a call at 1M events). The retention pruner
-- (db/retention.ts) uses the same index to find the newest events each filtered Test trigger keeps.
CREATE INDEX events_samples_by_assistant ON events(workspace_id, type, assistant_id, seq DESC);

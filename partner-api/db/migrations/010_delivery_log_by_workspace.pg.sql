-- 010, PostgreSQL: the twin of 010_delivery_log_by_workspace.sql (read its comments).
ALTER TABLE deliveries ADD COLUMN workspace_id TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN event_type TEXT NOT NULL DEFAULT '';
UPDATE deliveries
   SET (workspace_id, event_type) = (SELECT s.workspace_id, s.event_type FROM subscriptions s WHERE s.id = deliveries.subscription_id);

CREATE INDEX deliveries_by_workspace ON deliveries(workspace_id, created_at);
CREATE INDEX deliveries_by_workspace_status ON deliveries(workspace_id, status, created_at);
CREATE INDEX deliveries_by_workspace_type ON deliveries(workspace_id, event_type, created_at);

CREATE INDEX sessions_by_agent ON sessions(agent_id);
CREATE INDEX sign_in_links_by_agent ON sign_in_links(agent_id) WHERE used_at IS NULL;
DELETE FROM sessions WHERE agent_id IN (SELECT id FROM agents WHERE token_revoked_at IS NOT NULL);
DELETE FROM sign_in_links WHERE used_at IS NULL AND agent_id IN (SELECT id FROM agents WHERE token_revoked_at IS NOT NULL);

-- 010 (issue 11 follow-up 1): the workspace-wide delivery log reads one index range, whatever the number of
-- subscriptions the workspace has ever had. Before, deliveries had no workspace column and the log merged one
-- page per subscription, deactivated ones included (never deleted): 0.40-0.47 s of blocked event loop per
-- call at 30,000 deactivated subscriptions.
--
-- Both columns copy the delivery's subscription (which never changes workspace or event type); the fan-out
-- (delivery/fanout.ts) sets them on every insert. ADD COLUMN NOT NULL needs a default: '' is never a
-- workspace or event type, and no row keeps it after the backfill.
ALTER TABLE deliveries ADD COLUMN workspace_id TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN event_type TEXT NOT NULL DEFAULT '';
UPDATE deliveries
   SET (workspace_id, event_type) = (SELECT s.workspace_id, s.event_type FROM subscriptions s WHERE s.id = deliveries.subscription_id);

-- The log newest first (domain/deliveries.ts): all of the workspace's, of one status, or of one event type.
-- The per-subscription indexes of 007 stay: the log filtered to one Zap (with or without a status), a Zap's
-- last delivery (Settings → Connected Zaps) and the bulk replay of a Zap's failed deliveries read them.
CREATE INDEX deliveries_by_workspace ON deliveries(workspace_id, created_at);
CREATE INDEX deliveries_by_workspace_status ON deliveries(workspace_id, status, created_at);
CREATE INDEX deliveries_by_workspace_type ON deliveries(workspace_id, event_type, created_at);

-- (issue 11 follow-up 3) Revoking or rotating an agent ends its Settings sessions and voids its unused sign-in
-- links in the same transaction (domain/settings-access.ts): both are found by agent. Sessions and unused
-- links that agents revoked before this version still hold end here.
CREATE INDEX sessions_by_agent ON sessions(agent_id);
CREATE INDEX sign_in_links_by_agent ON sign_in_links(agent_id) WHERE used_at IS NULL;
DELETE FROM sessions WHERE agent_id IN (SELECT id FROM agents WHERE token_revoked_at IS NOT NULL);
DELETE FROM sign_in_links WHERE used_at IS NULL AND agent_id IN (SELECT id FROM agents WHERE token_revoked_at IS NOT NULL);

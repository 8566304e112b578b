-- 007, PostgreSQL: the twin of 007_settings_sessions_and_delivery_log.sql (read its comments).
ALTER TABLE agents ADD COLUMN role TEXT NOT NULL DEFAULT 'agent' CHECK (role IN ('owner', 'admin', 'agent'));
UPDATE agents SET role = 'owner'
 WHERE id IN (SELECT (SELECT a.id FROM agents a WHERE a.workspace_id = w.id ORDER BY a.created_at, a.id LIMIT 1)
                FROM workspaces w);

CREATE TABLE sign_in_links (
  token_hash     TEXT PRIMARY KEY,
  agent_id       TEXT NOT NULL REFERENCES agents(id),
  created_at     TEXT NOT NULL,
  expires_at_ms  BIGINT NOT NULL,
  used_at        TEXT
);
CREATE INDEX sign_in_links_by_expiry ON sign_in_links(expires_at_ms);

CREATE TABLE sessions (
  id_hash        TEXT PRIMARY KEY,
  agent_id       TEXT NOT NULL REFERENCES agents(id),
  workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
  csrf_token     TEXT NOT NULL,
  created_at     TEXT NOT NULL,
  expires_at_ms  BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions(expires_at_ms);

ALTER TABLE delivery_attempts ADD COLUMN manual INTEGER NOT NULL DEFAULT 0;

CREATE INDEX deliveries_by_subscription ON deliveries(subscription_id, created_at);
CREATE INDEX deliveries_by_subscription_status ON deliveries(subscription_id, status, created_at);

-- 007 (issue 11): the workspace settings pages (Settings → API Keys, Connected Zaps, Delivery log).
-- Agents get a role; owners and admins may open the settings. The first agent of each existing workspace
-- becomes its owner, so every workspace has someone who can.
ALTER TABLE agents ADD COLUMN role TEXT NOT NULL DEFAULT 'agent' CHECK (role IN ('owner', 'admin', 'agent'));
UPDATE agents SET role = 'owner'
 WHERE id IN (SELECT (SELECT a.id FROM agents a WHERE a.workspace_id = w.id ORDER BY a.created_at, a.id LIMIT 1)
                FROM workspaces w);

-- One-time sign-in links the admin CLI prints: only the SHA-256 of the token is kept (as for API keys);
-- used_at is set by the one sign-in it starts.
CREATE TABLE sign_in_links (
  token_hash     TEXT PRIMARY KEY,
  agent_id       TEXT NOT NULL REFERENCES agents(id),
  created_at     TEXT NOT NULL,
  expires_at_ms  INTEGER NOT NULL,
  used_at        TEXT
);
CREATE INDEX sign_in_links_by_expiry ON sign_in_links(expires_at_ms);

-- Browser sessions of the settings pages: the cookie holds the id, the table its SHA-256. csrf_token is the
-- synchronizer token every form of the session must send back.
CREATE TABLE sessions (
  id_hash        TEXT PRIMARY KEY,
  agent_id       TEXT NOT NULL REFERENCES agents(id),
  workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
  csrf_token     TEXT NOT NULL,
  created_at     TEXT NOT NULL,
  expires_at_ms  INTEGER NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions(expires_at_ms);

-- A replay from the delivery log or the API is an attempt like any other, marked manual.
ALTER TABLE delivery_attempts ADD COLUMN manual INTEGER NOT NULL DEFAULT 0;

-- The delivery log reads one subscription's deliveries newest first, optionally of one status (the
-- workspace-wide log merges its subscriptions' pages; domain/deliveries.ts). Replaying "every failed one
-- of a subscription since a time" is a range of the second.
CREATE INDEX deliveries_by_subscription ON deliveries(subscription_id, created_at);
CREATE INDEX deliveries_by_subscription_status ON deliveries(subscription_id, status, created_at);

-- 001, PostgreSQL: the twin of 001_initial.sql (read its comments); the same tables, columns, indexes and
-- constraints, by the same names. Types follow ADR 0010: *_ms columns BIGINT (unix milliseconds overflow
-- INTEGER), other integers INTEGER (flags 0/1, not BOOLEAN), text and JSON TEXT; events.seq, an AUTOINCREMENT
-- key on SQLite, is an identity column (never reused either).

CREATE TABLE workspaces (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  plan        TEXT NOT NULL CHECK (plan IN ('free', 'starter', 'pro', 'business', 'enterprise')),
  created_at  TEXT NOT NULL
);

CREATE TABLE assistants (
  id            TEXT PRIMARY KEY,
  workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
  name          TEXT NOT NULL,
  created_at    TEXT NOT NULL
);
CREATE INDEX assistants_by_workspace ON assistants(workspace_id, name);

CREATE TABLE agents (
  id            TEXT PRIMARY KEY,
  workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
  name          TEXT NOT NULL,
  email         TEXT NOT NULL,
  token_hash    TEXT NOT NULL UNIQUE,
  created_at    TEXT NOT NULL
);

CREATE TABLE api_keys (
  id            TEXT PRIMARY KEY,
  workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
  name          TEXT NOT NULL,
  prefix        TEXT NOT NULL,
  secret_hash   TEXT NOT NULL UNIQUE,
  scopes        TEXT NOT NULL,
  created_at    TEXT NOT NULL,
  last_used_at  TEXT,
  revoked_at    TEXT
);
CREATE INDEX api_keys_by_workspace ON api_keys(workspace_id);

CREATE TABLE contacts (
  id                TEXT PRIMARY KEY,
  workspace_id      TEXT NOT NULL REFERENCES workspaces(id),
  email             TEXT NOT NULL,
  email_normalized  TEXT NOT NULL,
  name              TEXT,
  phone             TEXT,
  company           TEXT,
  notes             TEXT,
  source            TEXT NOT NULL CHECK (source IN ('widget_form', 'crm', 'api')),
  assistant_id      TEXT REFERENCES assistants(id),
  created_at        TEXT NOT NULL,
  updated_at        TEXT NOT NULL,
  UNIQUE (workspace_id, email_normalized)
);

CREATE TABLE conversations (
  id             TEXT PRIMARY KEY,
  workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
  assistant_id   TEXT NOT NULL REFERENCES assistants(id),
  channel        TEXT NOT NULL CHECK (channel IN ('widget', 'in_app')),
  mode           TEXT NOT NULL CHECK (mode IN ('assistant', 'human')),
  status         TEXT NOT NULL CHECK (status IN ('open', 'closed')),
  visitor_id     TEXT,
  visitor_name   TEXT,
  visitor_email  TEXT,
  page_url       TEXT,
  contact_id     TEXT REFERENCES contacts(id),
  first_message  TEXT,
  started_at     TEXT NOT NULL,
  updated_at     TEXT NOT NULL
);
CREATE INDEX conversations_recent ON conversations(workspace_id, started_at DESC, id DESC);

CREATE TABLE messages (
  id               TEXT PRIMARY KEY,
  workspace_id     TEXT NOT NULL REFERENCES workspaces(id),
  conversation_id  TEXT NOT NULL REFERENCES conversations(id),
  sender_type      TEXT NOT NULL CHECK (sender_type IN ('visitor', 'assistant', 'agent', 'integration')),
  sender_id        TEXT,
  body             TEXT NOT NULL,
  created_at       TEXT NOT NULL
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, created_at);

CREATE TABLE live_chat_sessions (
  id               TEXT PRIMARY KEY,
  workspace_id     TEXT NOT NULL REFERENCES workspaces(id),
  conversation_id  TEXT NOT NULL REFERENCES conversations(id),
  status           TEXT NOT NULL CHECK (status IN ('queued', 'active', 'ended')),
  reason           TEXT,
  agent_id         TEXT REFERENCES agents(id),
  queued_at        TEXT NOT NULL,
  assigned_at      TEXT,
  ended_at         TEXT
);
CREATE INDEX live_chat_sessions_by_conversation ON live_chat_sessions(conversation_id, status);

CREATE TABLE tickets (
  id               TEXT PRIMARY KEY,
  workspace_id     TEXT NOT NULL REFERENCES workspaces(id),
  number           INTEGER NOT NULL,
  subject          TEXT NOT NULL,
  description      TEXT,
  status           TEXT NOT NULL CHECK (status IN ('new', 'open', 'pending', 'resolved', 'closed')),
  priority         TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
  source           TEXT NOT NULL CHECK (source IN ('api', 'agent', 'chat')),
  assignee_id      TEXT REFERENCES agents(id),
  contact_id       TEXT REFERENCES contacts(id),
  conversation_id  TEXT REFERENCES conversations(id),
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  resolved_at      TEXT,
  closed_at        TEXT,
  UNIQUE (workspace_id, number)
);
CREATE INDEX tickets_recent ON tickets(workspace_id, created_at DESC, id DESC);

CREATE TABLE events (
  seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id            TEXT NOT NULL UNIQUE,
  workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
  type          TEXT NOT NULL,
  assistant_id  TEXT,
  payload       TEXT NOT NULL,
  created_at    TEXT NOT NULL
);
CREATE INDEX events_samples ON events(workspace_id, type, seq DESC);

CREATE TABLE subscriptions (
  id                    TEXT PRIMARY KEY,
  workspace_id          TEXT NOT NULL REFERENCES workspaces(id),
  api_key_id            TEXT NOT NULL REFERENCES api_keys(id),
  event_type            TEXT NOT NULL,
  target_url            TEXT NOT NULL,
  assistant_id          TEXT REFERENCES assistants(id),
  secret                TEXT NOT NULL,
  active                INTEGER NOT NULL DEFAULT 1,
  created_at            TEXT NOT NULL,
  deactivated_at        TEXT,
  deactivated_reason    TEXT,
  failing_since_ms      BIGINT
);
CREATE INDEX subscriptions_matching ON subscriptions(workspace_id, event_type, active);

CREATE TABLE deliveries (
  id               TEXT PRIMARY KEY,
  event_id         TEXT NOT NULL REFERENCES events(id),
  subscription_id  TEXT NOT NULL REFERENCES subscriptions(id),
  status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'cancelled')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms  BIGINT NOT NULL,
  claim_token      TEXT,
  claimed_at_ms    BIGINT,
  last_error       TEXT,
  created_at       TEXT NOT NULL,
  finished_at      TEXT,
  UNIQUE (event_id, subscription_id)
);
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_ms);

CREATE TABLE delivery_attempts (
  id             TEXT PRIMARY KEY,
  delivery_id    TEXT NOT NULL REFERENCES deliveries(id),
  attempt        INTEGER NOT NULL,
  started_at     TEXT NOT NULL,
  duration_ms    BIGINT NOT NULL,
  status_code    INTEGER,
  outcome        TEXT NOT NULL,
  error          TEXT,
  response_body  TEXT
);
CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts(delivery_id, attempt);

CREATE TABLE idempotency_keys (
  workspace_id     TEXT NOT NULL REFERENCES workspaces(id),
  key              TEXT NOT NULL,
  request_hash     TEXT NOT NULL,
  state            TEXT NOT NULL CHECK (state IN ('running', 'done')),
  response_status  INTEGER,
  response_body    TEXT,
  created_at_ms    BIGINT NOT NULL,
  PRIMARY KEY (workspace_id, key)
);

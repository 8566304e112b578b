-- 008, PostgreSQL: the twin of 008_tags_notes_attributes_closing.sql (read its comments). lower() folds ASCII
-- only here too: the test cluster and the recommended database use locale C (scripts/pg-cluster.sh).
CREATE TABLE record_tags (
  record_id      TEXT NOT NULL,
  tag_key        TEXT NOT NULL,
  workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
  record_type    TEXT NOT NULL CHECK (record_type IN ('contact', 'conversation')),
  tag            TEXT NOT NULL,
  added_by_type  TEXT NOT NULL CHECK (added_by_type IN ('agent', 'api_key')),
  added_by_id    TEXT NOT NULL,
  created_at     TEXT NOT NULL,
  PRIMARY KEY (record_id, tag_key)
);

CREATE TABLE contact_notes (
  id            TEXT PRIMARY KEY,
  workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
  contact_id    TEXT NOT NULL REFERENCES contacts(id),
  body          TEXT NOT NULL,
  author_type   TEXT NOT NULL CHECK (author_type IN ('agent', 'api_key')),
  author_id     TEXT NOT NULL,
  author_name   TEXT,
  created_at    TEXT NOT NULL
);
CREATE INDEX contact_notes_by_contact ON contact_notes(contact_id, created_at);

CREATE TABLE contact_attributes (
  workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
  key           TEXT NOT NULL,
  label         TEXT NOT NULL,
  type          TEXT NOT NULL CHECK (type IN ('text', 'number', 'boolean', 'date')),
  created_at    TEXT NOT NULL,
  PRIMARY KEY (workspace_id, key)
);
ALTER TABLE contacts ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';

ALTER TABLE conversations ADD COLUMN closed_at TEXT;
ALTER TABLE conversations ADD COLUMN closed_by_type TEXT CHECK (closed_by_type IN ('agent', 'assistant'));
ALTER TABLE conversations ADD COLUMN closed_by_id TEXT;

ALTER TABLE conversations ADD COLUMN visitor_email_normalized TEXT;
UPDATE conversations SET visitor_email_normalized = lower(trim(visitor_email)) WHERE visitor_email IS NOT NULL;
CREATE INDEX conversations_by_visitor_email ON conversations(workspace_id, visitor_email_normalized, started_at)
  WHERE visitor_email_normalized IS NOT NULL;

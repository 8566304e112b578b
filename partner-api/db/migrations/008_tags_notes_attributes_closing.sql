-- 008 (issue 14): tags on contacts and conversations, notes on contacts, the workspace's custom contact
-- attributes and each contact's values, who closed a conversation and when, and the visitor email a Zap
-- finds the latest conversation by. Applies on top of 006 alone and together with 007 and 009.

-- A tag on a contact or a conversation. `tag` keeps the first spelling added; `tag_key` is its matching form
-- (NFC, case-folded; domain/tags.ts), so "VIP", "vip" and " Vip " are one tag on a record. Record ids are
-- unique across kinds (con_, cnv_), so (record_id, tag_key) identifies a tag.
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

-- A note on a contact, by an agent or an API key (a Zap).
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

-- The custom attributes a workspace defines for its contacts; a contact's values are JSON in contacts.attributes.
CREATE TABLE contact_attributes (
  workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
  key           TEXT NOT NULL,
  label         TEXT NOT NULL,
  type          TEXT NOT NULL CHECK (type IN ('text', 'number', 'boolean', 'date')),
  created_at    TEXT NOT NULL,
  PRIMARY KEY (workspace_id, key)
);
ALTER TABLE contacts ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';

-- Closing: when, and by whom (an agent, or the conversation's assistant).
ALTER TABLE conversations ADD COLUMN closed_at TEXT;
ALTER TABLE conversations ADD COLUMN closed_by_type TEXT CHECK (closed_by_type IN ('agent', 'assistant'));
ALTER TABLE conversations ADD COLUMN closed_by_id TEXT;

-- Find Conversation's "latest by visitor email": matched like contacts' emails, trimmed and lower-cased. New
-- rows get the application's Unicode lower-casing; rows from before this migration get SQLite's lower(),
-- which folds ASCII only (an address with an upper-case non-ASCII letter typed before 008 matches only as
-- typed).
ALTER TABLE conversations ADD COLUMN visitor_email_normalized TEXT;
UPDATE conversations SET visitor_email_normalized = lower(trim(visitor_email)) WHERE visitor_email IS NOT NULL;
CREATE INDEX conversations_by_visitor_email ON conversations(workspace_id, visitor_email_normalized, started_at)
  WHERE visitor_email_normalized IS NOT NULL;

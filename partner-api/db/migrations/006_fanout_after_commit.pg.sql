-- 006, PostgreSQL: the twin of 006_fanout_after_commit.sql (read its comments). fanout_upto and fanout_after
-- hold subscription positions (SQLite rowids there); INTEGER as on SQLite.
ALTER TABLE events ADD COLUMN fanout_upto INTEGER;
ALTER TABLE events ADD COLUMN fanout_after INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_awaiting_fanout ON events(seq) WHERE fanout_upto IS NOT NULL;

-- 016 (issue 13), PostgreSQL: the fan-out's look-up of an event's subscriptions (delivery/fanout.ts,
-- `WHERE workspace_id = ? AND event_type = ? AND active = 1 … AND rowid > ? AND rowid <= ? ORDER BY rowid
-- LIMIT ?`) found by an index that also gives their rowid order. SQLite's subscriptions_matching serves it
-- alone, since every SQLite index ends in the rowid; PostgreSQL's does not, so its planner either sorted the
-- workspace's matching subscriptions or, with sorting priced out, walked subscriptions_rowid across every
-- workspace's subscriptions (test/db/query-plans-pg.test.ts). 016_subscriptions_matching_by_rowid.sql is
-- SQLite's comment-only twin.
CREATE INDEX subscriptions_matching_by_rowid ON subscriptions(workspace_id, event_type, active, rowid);

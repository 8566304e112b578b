-- 013 (issue 13), PostgreSQL: SQLite's implicit rowid, made explicit on the two tables whose statements read
-- it, so the same SQL text runs on both engines (013_explicit_rowid.sql is SQLite's comment-only twin):
--   subscriptions: the fan-out (delivery/fanout.ts) marks an event with max(rowid), the newest subscription
--     that may receive it, and resumes a long fan-out after the last rowid written.
--   deliveries: the claimer (delivery/claimer.ts) and retention (db/retention.ts) walk the table by rowid.
-- An identity column, never written by the API: existing rows are numbered in their physical order when it is
-- added (the table is rewritten once). Unlike SQLite's, these numbers are taken when a row is inserted and
-- commit in any order across instances: nothing may read "rowid > the last seen" as "everything newer".
-- SQLite finds a row by its rowid in the table's own b-tree; here each table gets the unique index the
-- statements above seek on (max(rowid), rowid > ? ORDER BY rowid, WHERE rowid = ?).
ALTER TABLE subscriptions ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX subscriptions_rowid ON subscriptions(rowid);

ALTER TABLE deliveries ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX deliveries_rowid ON deliveries(rowid);

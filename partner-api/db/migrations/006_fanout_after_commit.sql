-- 006 (issue 12 §3): an event's deliveries are written after its commit, not in the request's transaction.
-- With 1,000 matching subscriptions the creating request took 228 ms (57 ms at 100), and every write in
-- its group commit waited with it. Now the request stores the event with a marker and the fan-out
-- (delivery/fanout.ts) writes the delivery rows in short transactions of its own; a restart resumes every
-- event still marked, so nothing owed is lost across a crash.
--   fanout_upto:  set while deliveries are still owed: the subscriptions' highest rowid at the event's commit.
--                 Only subscriptions up to it (those that existed then) receive the event; NULL once done.
--   fanout_after: the rowid of the last subscription already given its delivery (a long fan-out resumes there).
ALTER TABLE events ADD COLUMN fanout_upto INTEGER;
ALTER TABLE events ADD COLUMN fanout_after INTEGER NOT NULL DEFAULT 0;
-- Partial: an event leaves it when its fan-out is done, so it stays as small as the backlog.
CREATE INDEX events_awaiting_fanout ON events(seq) WHERE fanout_upto IS NOT NULL;

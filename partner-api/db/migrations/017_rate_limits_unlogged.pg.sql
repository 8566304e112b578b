-- 017 (issue 13): the rate limits' counts (012) are UNLOGGED. Every request through the API counts once in
-- `rate_limits` (http/rate-limit.ts), so every request made a commit that waited for the WAL to reach disk,
-- the cost of one fsync per request, for counts that matter for a minute at most. An unlogged table writes no
-- WAL: its commits do not wait for a flush. What that gives up: after a crash of the PostgreSQL server the
-- table comes back empty (every client starts a fresh window), and standbys do not have it (a failover does
-- the same). Neither lifts a limit for longer than one window.
ALTER TABLE rate_limits SET UNLOGGED;

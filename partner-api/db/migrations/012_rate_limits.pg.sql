-- 012 (issue 13): the rate limits' counts, shared by every instance (http/rate-limit.ts). The table
-- rate-limiter-flexible's RateLimiterPostgres (11.4.0) reads and writes: one row per client and window,
-- `key` is "<key|address>:<client>", `points` the requests counted in the window, `expire` when the window
-- ends (unix ms). The library would create it itself at start; it is told not to (tableCreated), because two
-- instances starting together would race on CREATE TABLE: migrations create it, under their lock.
-- Rows of ended windows are overwritten by the client's next request, and deleted by the library an hour
-- after they end (its clearExpiredByTimeout, every 5 minutes).
CREATE TABLE rate_limits (
  key VARCHAR(255) PRIMARY KEY,
  points INTEGER NOT NULL DEFAULT 0,
  expire BIGINT
);

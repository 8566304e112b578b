-- 002: what GET /v1/subscriptions shows a workspace about a subscription that is failing or was turned off:
-- the error of the latest failed attempt in the current run of failures (set with failing_since_ms, cleared
-- with it by the next success). Attempts themselves stay in delivery_attempts, which has no subscription
-- column to look them up by.
ALTER TABLE subscriptions ADD COLUMN last_error TEXT;

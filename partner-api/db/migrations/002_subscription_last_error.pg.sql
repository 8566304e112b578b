-- 002, PostgreSQL: the twin of 002_subscription_last_error.sql (read its comments).
ALTER TABLE subscriptions ADD COLUMN last_error TEXT;

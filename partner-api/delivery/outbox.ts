/**
 * The outbox: an event, and the mark that says it owes deliveries, are written in the caller's
 * transaction, so a change and what it owes commit together or not at all (no crash window between "saved"
 * and "queued"). After commit the fan-out (fanout.ts) turns the mark into delivery rows and the worker
 * sends them; the signal makes both immediate.
 */
import type { z } from 'zod';
import type { AppContext } from '../context';
import { payloadSchema, type EventType } from '../../catalog/events';
import { isoAt } from '../lib/clock';
import { sql, writeTransaction } from '../lib/statements';
import { markForFanOut } from './fanout';

// Every event goes through here: each strict schema is built once per type (zod compiles a schema on
// first use, which costs more than the parse itself).
const strictSchemas = new Map<EventType, z.ZodObject>();

function strictSchema(type: EventType): z.ZodObject {
  let schema = strictSchemas.get(type);
  if (!schema) strictSchemas.set(type, (schema = payloadSchema(type).strict()));
  return schema;
}

export interface NewEvent {
  id: string;
  workspaceId: string;
  type: EventType;
  /** The assistant the event came from; subscriptions filtered to another assistant skip it. */
  assistantId: string | null;
  createdAt: string;
  /** The exact record a subscriber receives. */
  payload: Record<string, unknown>;
}

/**
 * Stores the event, and marks it for the fan-out when it owes deliveries: some active subscription matches
 * and the workspace is on Pro or above (the integration is a Pro feature: docs/delivery.md, "Plans below
 * Pro"). The delivery rows themselves are written after commit by the fan-out (fanout.ts), so this costs
 * the same however many subscriptions match. The event itself is kept either way (samples, history). Call
 * inside a transaction. Returns whether deliveries are owed.
 */
export function recordEvent(ctx: AppContext, event: NewEvent): { fanOut: boolean } {
  if (!ctx.db.inTransaction) throw new Error('recordEvent must run inside the transaction of the change');
  // A payload that does not match the catalog is a bug in the API; failing here rolls the change back.
  strictSchema(event.type).parse(event.payload);
  sql(ctx.db, `INSERT INTO events (id, workspace_id, type, assistant_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`).run(
    event.id, event.workspaceId, event.type, event.assistantId, JSON.stringify(event.payload), event.createdAt,
  );
  const fanOut = markForFanOut(ctx.db, event);
  if (fanOut) ctx.signal.notify(); // deferred: the fan-out looks after this transaction has ended
  return { fanOut };
}

/** unsubscribed (by id or URL), key_revoked, gone (410), failing (disabled), replaced (a newer subscribe to its URL). */
export type DeactivationReason = 'unsubscribed' | 'key_revoked' | 'gone' | 'failing' | 'replaced';

/**
 * Turns subscriptions off and cancels what they still had pending (retries included): nothing more goes
 * out for them. For a key, the pending deliveries of its subscriptions already inactive are cancelled too,
 * so a repeat revocation repairs whatever an earlier one left behind. Returns how many were active.
 */
export function deactivateSubscriptions(
  ctx: AppContext,
  where: { subscriptionId: string } | { apiKeyId: string },
  reason: DeactivationReason,
): number {
  const [column, value] = 'subscriptionId' in where ? ['id', where.subscriptionId] : ['api_key_id', where.apiKeyId];
  const at = isoAt(ctx.clock.now());
  return writeTransaction(ctx.db, () => {
    const deactivated = sql(
      ctx.db,
      `UPDATE subscriptions SET active = 0, deactivated_at = ?, deactivated_reason = ? WHERE ${column} = ? AND active = 1`,
    ).run(at, reason, value).changes;
    // Every inactive subscription matched, not only those just turned off: a repeat revoke repairs deliveries
    // left pending by an earlier one. One seek per subscription on the partial pending index.
    const ended = sql(ctx.db, `SELECT id FROM subscriptions WHERE ${column} = ? AND active = 0`).pluck().all(value) as string[];
    for (const id of ended) cancelPending(ctx, id, at, `subscription deactivated: ${reason}`);
    return deactivated;
  });
}

function cancelPending(ctx: AppContext, subscriptionId: string, at: string, why: string): number {
  return sql(
    ctx.db,
    `UPDATE deliveries SET status = 'cancelled', finished_at = ?, last_error = ?, claim_token = NULL
      WHERE subscription_id = ? AND status = 'pending'`,
  ).run(at, why, subscriptionId).changes;
}

/** Cancels every delivery still pending for the workspace's subscriptions (its plan fell below Pro). */
export function cancelPendingDeliveries(ctx: AppContext, where: { workspaceId: string }, why: string): number {
  const at = isoAt(ctx.clock.now());
  const ids = sql(ctx.db, 'SELECT id FROM subscriptions WHERE workspace_id = ?').pluck().all(where.workspaceId) as string[];
  return ids.reduce((cancelled, id) => cancelled + cancelPending(ctx, id, at, why), 0);
}

/**
 * The outbox: an event and the deliveries it owes are written in the caller's transaction, so a change,
 * its event and its deliveries commit together or not at all (no crash window between "saved" and
 * "queued"). The worker picks the rows up after commit; the signal makes that immediate.
 */
import type { z } from 'zod';

import { type EventType, payloadSchema } from '../../catalog/events';
import type { AppContext } from '../context';
import { hasIntegration, type Plan } from '../domain/plans';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
import { sql, writeTransaction } from '../lib/statements';

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
 * Stores the event and enqueues one delivery per active matching subscription; none when the workspace is
 * below Pro (the integration is a Pro feature: docs/delivery.md, "Plans below Pro"). The event itself is
 * kept either way (samples, history). Call inside a transaction.
 */
export function recordEvent(ctx: AppContext, event: NewEvent): { deliveries: number } {
  if (!ctx.db.inTransaction) throw new Error('recordEvent must run inside the transaction of the change');
  // A payload that does not match the catalog is a bug in the API; failing here rolls the change back.
  strictSchema(event.type).parse(event.payload);
  const now = ctx.clock.now();
  const db = ctx.db;
  sql(db, `INSERT INTO events (id, workspace_id, type, assistant_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`).run(
    event.id, event.workspaceId, event.type, event.assistantId, JSON.stringify(event.payload), event.createdAt,
  );
  const subscriptions = sql(
    db,
    `SELECT id FROM subscriptions
      WHERE workspace_id = ? AND event_type = ? AND active = 1
        AND (assistant_id IS NULL OR assistant_id = ?)`,
  )
    .pluck()
    .all(event.workspaceId, event.type, event.assistantId) as string[];
  if (subscriptions.length === 0) return { deliveries: 0 };
  // Looked up only when someone is subscribed: most events have no subscriber, and this runs for each.
  const plan = sql(db, 'SELECT plan FROM workspaces WHERE id = ?').pluck().get(event.workspaceId) as Plan;
  if (!hasIntegration(plan)) return { deliveries: 0 };
  const insertDelivery = sql(
    db,
    `INSERT INTO deliveries (id, event_id, subscription_id, status, next_attempt_ms, created_at) VALUES (?, ?, ?, 'pending', ?, ?)`,
  );
  for (const subscriptionId of subscriptions) insertDelivery.run(newId('dlv'), event.id, subscriptionId, now, isoAt(now));
  ctx.signal.notify();
  return { deliveries: subscriptions.length };
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

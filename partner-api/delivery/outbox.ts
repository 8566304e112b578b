/**
 * The outbox: an event and the deliveries it owes are written in the caller's transaction, so a change,
 * its event and its deliveries commit together or not at all (no crash window between "saved" and
 * "queued"). The worker picks the rows up after commit; the signal makes that immediate.
 */
import type { z } from 'zod';
import type { AppContext } from '../context';
import { payloadSchema, type EventType } from '../../catalog/events';
import { hasIntegration, type Plan } from '../domain/plans';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
import { sql } from '../lib/statements';

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

/**
 * The outbox: an event, and what it owes (its delivery rows, or past a few of them the mark that says it
 * owes them), are written in the caller's transaction, so a change and what it owes commit together or not
 * at all (no crash window between "saved" and "queued"). After commit the fan-out (fanout.ts) turns a mark
 * into delivery rows and the worker sends them; the signal makes both immediate.
 */
import type { z } from 'zod';

import { type EventType, payloadSchema } from '../../catalog/events';
import type { AppContext } from '../context';
import { enqueueDeliveries } from './fanout';

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
 * Stores the event and queues the deliveries it owes: one per matching active subscription, on Pro or
 * above (the integration is a Pro feature: docs/delivery.md, "Plans below Pro"). Up to a few rows are
 * written here; past that the event is marked and the fan-out (fanout.ts) writes them after commit, so
 * this costs about the same however many subscriptions match. The event itself is kept either way
 * (samples, history). Call inside a transaction. Returns whether deliveries are owed.
 */
export async function recordEvent(ctx: AppContext, event: NewEvent): Promise<{ fanOut: boolean }> {
  if (!ctx.db.inTransaction) throw new Error('recordEvent must run inside the transaction of the change');
  // A payload that does not match the catalog is a bug in the API; failing here rolls the change back.
  strictSchema(event.type).parse(event.payload);
  await ctx.db.run(
    `INSERT INTO events (id, workspace_id, type, assistant_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
    event.id,
    event.workspaceId,
    event.type,
    event.assistantId,
    JSON.stringify(event.payload),
    event.createdAt,
  );
  const fanOut = (await enqueueDeliveries(ctx.db, event, ctx.clock.now())) !== 'none';
  if (fanOut) ctx.signal.notify(); // deferred: the worker and the fan-out look after this transaction has ended
  return { fanOut };
}

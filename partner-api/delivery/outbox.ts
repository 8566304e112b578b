/**
 * The outbox: an event, and the mark that says it owes deliveries, are written in the caller's
 * transaction, so a change and what it owes commit together or not at all (no crash window between "saved"
 * and "queued"). After commit the fan-out (fanout.ts) turns the mark into delivery rows and the worker
 * sends them; the signal makes both immediate.
 */
import type { z } from 'zod';

import { type EventType, payloadSchema } from '../../catalog/events';
import type { AppContext } from '../context';
import { sql } from '../lib/statements';
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
  sql(
    ctx.db,
    `INSERT INTO events (id, workspace_id, type, assistant_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
  ).run(event.id, event.workspaceId, event.type, event.assistantId, JSON.stringify(event.payload), event.createdAt);
  const fanOut = markForFanOut(ctx.db, event);
  if (fanOut) ctx.signal.notify(); // deferred: the fan-out looks after this transaction has ended
  return { fanOut };
}

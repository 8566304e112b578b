/**
 * Builds each event's payload in the catalog's exact shape and records it through the outbox, inside the
 * caller's transaction (recordEvent refuses to run outside one and validates the payload strictly).
 */
import { type ConversationEventType, type LeadRecord, TAG_ADDED } from '../../catalog/events';
import type { AppContext } from '../context';
import { recordEvent } from '../delivery/outbox';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';

export interface AssistantRef {
  id: string;
  name: string;
}

/**
 * Records lead.captured with the lead as its whole payload; returns the event id (`evt_…`). Call inside the
 * change's transaction: throws Error outside one, and a zod error (a bug: the transaction rolls back, 500) when
 * the payload does not match the catalog.
 */
export async function emitLeadCaptured(ctx: AppContext, workspaceId: string, lead: LeadRecord): Promise<string> {
  const id = newId('evt');
  await recordEvent(ctx, {
    id,
    workspaceId,
    type: 'lead.captured',
    assistantId: lead.assistantId,
    createdAt: isoAt(ctx.clock.now()),
    payload: { ...lead },
  });
  return id;
}

/**
 * The conversation-event envelope: `{ id, type, createdAt, workspaceId, assistantId, assistantName, data }`;
 * returns the event id. Throws as emitLeadCaptured does: outside a transaction, or on a payload the catalog
 * refuses.
 */
export async function emitConversationEvent(
  ctx: AppContext,
  event: {
    workspaceId: string;
    type: ConversationEventType | typeof TAG_ADDED;
    assistant: AssistantRef | null;
    data: Record<string, unknown>;
  },
): Promise<string> {
  const id = newId('evt');
  const createdAt = isoAt(ctx.clock.now());
  await recordEvent(ctx, {
    id,
    workspaceId: event.workspaceId,
    type: event.type,
    assistantId: event.assistant?.id ?? null,
    createdAt,
    payload: {
      id,
      type: event.type,
      createdAt,
      workspaceId: event.workspaceId,
      assistantId: event.assistant?.id ?? null,
      assistantName: event.assistant?.name ?? null,
      data: event.data,
    },
  });
  return id;
}

/**
 * tag.added, in the conversation events' envelope (its own trigger, Tag Added, subscribes to it); returns the
 * event id. Throws as emitLeadCaptured does.
 */
export async function emitTagAdded(
  ctx: AppContext,
  event: { workspaceId: string; assistant: AssistantRef | null; data: Record<string, unknown> },
): Promise<string> {
  return await emitConversationEvent(ctx, { ...event, type: TAG_ADDED });
}

/**
 * Conversations in the widget and the in-app SDK, and their messages. A conversation is handled by its
 * assistant (`mode` assistant) until a human agent takes it over in live chat (`mode` human); only then may
 * an integration post into it.
 */
import { z } from 'zod';

import type { CloserRecord } from '../../catalog/events';
import type { ConversationDetailRecord, MessageRecord } from '../../catalog/records';
import type { AppContext } from '../context';
import { inTransaction } from '../context';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
import { normalizeEmail } from './contacts';
import { ApiError, invalidState } from './errors';
import { emitConversationEvent } from './events';
import { lockOpenConversation } from './locks';
import { decodeCursor, type Page, toPage } from './pagination';
import { CONVERSATION_SELECT, conversationRecord, conversationResource, type ConversationRow } from './records';
import { tagsOf, type TagTarget } from './tags';
import { type Agent, findAssistant } from './workspaces';

export type ConversationResource = ReturnType<typeof conversationResource>;

export interface StartInput {
  message: string;
  visitorId?: string | undefined;
  visitorName?: string | undefined;
  visitorEmail?: string | undefined;
  pageUrl?: string | undefined;
}

/**
 * Starts a conversation on `channel` with its first visitor message; fires {widget,chat}.conversation_started.
 * Throws 404 not_found for an unknown assistant.
 */
export async function startConversation(
  ctx: AppContext,
  assistantId: string,
  channel: 'widget' | 'in_app',
  input: StartInput,
): Promise<ConversationResource> {
  return await inTransaction(ctx, async (ctx) => {
    const assistant = await findAssistant(ctx, assistantId);
    if (!assistant) throw new ApiError(404, 'not_found', `No assistant ${assistantId}.`);
    const now = isoAt(ctx.clock.now());
    const id = newId('cnv');
    await ctx.db.run(
      `INSERT INTO conversations (id, workspace_id, assistant_id, channel, mode, status, visitor_id, visitor_name, visitor_email,
                                  visitor_email_normalized, page_url, contact_id, first_message, started_at, updated_at)
       VALUES (?, ?, ?, ?, 'assistant', 'open', ?, ?, ?, ?, ?, NULL, ?, ?, ?)`,
      id,
      assistant.workspaceId,
      assistant.id,
      channel,
      input.visitorId ?? null,
      input.visitorName ?? null,
      input.visitorEmail ?? null,
      input.visitorEmail === undefined ? null : normalizeEmail(input.visitorEmail),
      input.pageUrl ?? null,
      input.message,
      now,
      now,
    );
    await insertMessage(ctx, {
      workspaceId: assistant.workspaceId,
      conversationId: id,
      senderType: 'visitor',
      senderId: input.visitorId ?? null,
      body: input.message,
    });
    const row = (await conversationRow(ctx, id))!;
    await emitConversationEvent(ctx, {
      workspaceId: assistant.workspaceId,
      type: channel === 'widget' ? 'widget.conversation_started' : 'chat.conversation_started',
      assistant: { id: assistant.id, name: assistant.name },
      data: { conversation: conversationRecord(row) },
    });
    return conversationResource(row);
  });
}

/** Any conversation by id, whatever its workspace (the public widget endpoints key on it); null when none. */
export async function conversationRow(ctx: AppContext, id: string): Promise<ConversationRow | null> {
  return await ctx.db.one<ConversationRow>(`${CONVERSATION_SELECT} WHERE v.id = ?`, id);
}

/**
 * The conversation, checked to be `workspaceId`'s (null: any workspace, for the public endpoints). Throws 404
 * not_found when there is none, or it is another workspace's: the two are indistinguishable to the caller.
 */
export async function requireConversation(
  ctx: AppContext,
  workspaceId: string | null,
  id: string,
): Promise<ConversationRow> {
  const row = await conversationRow(ctx, id);
  if (!row || (workspaceId !== null && row.workspace_id !== workspaceId)) {
    throw new ApiError(404, 'not_found', `No conversation ${id}${workspaceId ? ' in this workspace' : ''}.`);
  }
  return row;
}

const conversationCursor = z.tuple([z.string(), z.string()]);

type ConversationQuery = {
  mode?: 'assistant' | 'human' | undefined;
  visitorEmail?: string | undefined;
  limit: number;
  cursor?: string | undefined;
};

/**
 * Newest first (started_at, then id: creation order within a process, lib/ids.ts), optionally only one
 * mode, or only the conversations whose visitor gave `visitorEmail` (Find Conversation's "latest by visitor email"; in the widget or on the lead form,
 * matched as contacts' emails are); `limit` records per page (the route bounds it, 1-100). Throws 422
 * validation_failed for a cursor this API did not return.
 */
export async function listConversations(
  ctx: AppContext,
  workspaceId: string,
  query: ConversationQuery,
): Promise<Page<ConversationResource>> {
  const after = query.cursor ? decodeCursor(query.cursor, conversationCursor) : null;
  // Only the conditions that apply, so each statement seeks on its index (migration 005; by visitor email,
  // conversations_by_visitor_email of migration 008): `(? IS NULL OR …)` cannot, and made a filtered or later
  // page read every conversation of the workspace. A visitor has few conversations, so there the mode is
  // checked on the index's rows rather than given an index of its own.
  const params: unknown[] = [workspaceId];
  let where = 'v.workspace_id = ?';
  if (query.visitorEmail !== undefined) {
    where += ' AND v.visitor_email_normalized = ?';
    params.push(normalizeEmail(query.visitorEmail));
  }
  if (query.mode) {
    where += ' AND v.mode = ?';
    params.push(query.mode);
  }
  if (after) {
    where += ' AND (v.started_at, v.id) < (?, ?)';
    params.push(after[0], after[1]);
  }
  const rows = await ctx.db.all<ConversationRow>(
    `SELECT v.*, (SELECT name FROM assistants WHERE id = v.assistant_id) AS assistant_name
       FROM conversations v WHERE ${where}
      ORDER BY v.started_at DESC, v.id DESC
      LIMIT ?`,
    ...params,
    query.limit + 1,
  );
  return toPage(rows, query.limit, conversationResource, (r) => [r.started_at, r.id]);
}

async function insertMessage(
  ctx: AppContext,
  m: {
    workspaceId: string;
    conversationId: string;
    senderType: MessageRecord['senderType'];
    senderId: string | null;
    body: string;
  },
): Promise<MessageRecord> {
  const record: MessageRecord = {
    id: newId('msg'),
    conversationId: m.conversationId,
    body: m.body,
    senderType: m.senderType,
    createdAt: isoAt(ctx.clock.now()),
  };
  await ctx.db.run(
    `INSERT INTO messages (id, workspace_id, conversation_id, sender_type, sender_id, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    record.id,
    m.workspaceId,
    m.conversationId,
    m.senderType,
    m.senderId,
    m.body,
    record.createdAt,
  );
  await ctx.db.run('UPDATE conversations SET updated_at = ? WHERE id = ?', record.createdAt, m.conversationId);
  return record;
}

export const NOT_IN_TAKEOVER_MESSAGE =
  'The conversation must be in live-chat takeover mode. The action cannot post into a conversation that the assistant is still handling automatically.';

/**
 * Send Message to Conversation: only into a conversation a human agent has taken over. The message is the
 * integration's (sender the key `keyId`) and fires no event. Throws 404 not_found when the conversation is not
 * this workspace's, 409 conversation_not_in_takeover while the assistant still handles it.
 */
export async function postIntegrationMessage(
  ctx: AppContext,
  workspaceId: string,
  conversationId: string,
  body: string,
  keyId: string,
): Promise<MessageRecord> {
  return await inTransaction(ctx, async (ctx) => {
    const conversation = await requireConversation(ctx, workspaceId, conversationId);
    if (conversation.mode !== 'human') throw new ApiError(409, 'conversation_not_in_takeover', NOT_IN_TAKEOVER_MESSAGE);
    return await insertMessage(ctx, { workspaceId, conversationId, senderType: 'integration', senderId: keyId, body });
  });
}

/** Sets the mode without checks or events: for live-chat steps, inside their transaction, which check and fire. */
export async function setConversationMode(
  ctx: AppContext,
  conversationId: string,
  mode: 'assistant' | 'human',
): Promise<void> {
  await ctx.db.run(
    'UPDATE conversations SET mode = ?, updated_at = ? WHERE id = ?',
    mode,
    isoAt(ctx.clock.now()),
    conversationId,
  );
}

/** Messages GET /v1/conversations/{id} shows, newest last. */
export const RECENT_MESSAGES = 20;

/**
 * A conversation as GET /v1/conversations/{id} (Find Conversation) and closing answer it: the resource with
 * when and by whom it was closed, its tags, its message count and its RECENT_MESSAGES latest messages, oldest
 * first.
 */
export async function conversationDetail(ctx: AppContext, row: ConversationRow): Promise<ConversationDetailRecord> {
  const messageCount = await countMessages(ctx, row.id);
  const recent = await ctx.db.all<{
    id: string;
    conversation_id: string;
    body: string;
    sender_type: MessageRecord['senderType'];
    created_at: string;
  }>(
    `SELECT id, conversation_id, body, sender_type, created_at FROM messages
      WHERE conversation_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`,
    row.id,
    RECENT_MESSAGES,
  );
  return {
    ...conversationResource(row),
    closedAt: row.closed_at,
    closedBy: await closerOf(ctx, row),
    tags: await tagsOf(ctx, row.id),
    messageCount,
    recentMessages: recent.reverse().map((m) => ({
      id: m.id,
      conversationId: m.conversation_id,
      body: m.body,
      senderType: m.sender_type,
      createdAt: m.created_at,
    })),
  };
}

async function countMessages(ctx: AppContext, conversationId: string): Promise<number> {
  return (await ctx.db.value<number>('SELECT COUNT(*) FROM messages WHERE conversation_id = ?', conversationId))!;
}

/** Who closed it (agent or assistant, with the name they have now), or null while it is open. */
async function closerOf(ctx: AppContext, row: ConversationRow): Promise<CloserRecord | null> {
  if (!row.closed_by_type || !row.closed_by_id) return null;
  if (row.closed_by_type === 'assistant') return { type: 'assistant', id: row.assistant_id, name: row.assistant_name };
  const name = (await ctx.db.value<string>('SELECT name FROM agents WHERE id = ?', row.closed_by_id))!;
  return { type: 'agent', id: row.closed_by_id, name };
}

/** Who closes: an agent of the conversation's workspace, or its assistant (the widget, docs/api.md). */
export type Closer = { type: 'agent'; agent: Agent } | { type: 'assistant' };

/**
 * Closes an open conversation and fires conversation.closed with who closed it, the message count and the
 * duration (from its start, whole seconds, never negative). An agent closes only its own workspace's
 * conversations. Throws 404 not_found when the conversation is unknown (or, for an agent, another
 * workspace's), 409 invalid_state when it is already closed or a live chat in it is queued or active (end
 * that first: the visitor is waiting for a person).
 */
export async function closeConversation(
  ctx: AppContext,
  conversationId: string,
  closer: Closer,
): Promise<ConversationDetailRecord> {
  return await inTransaction(ctx, async (ctx) => {
    const workspaceId = closer.type === 'agent' ? closer.agent.workspaceId : null;
    const conversation = await requireConversation(ctx, workspaceId, conversationId);
    // The conversation's row lock first (as a handoff takes it), then the check for a live chat.
    if (conversation.status === 'closed' || !(await lockOpenConversation(ctx, conversationId)))
      throw invalidState('This conversation is already closed.');
    const live = await ctx.db.one(
      `SELECT id FROM live_chat_sessions WHERE conversation_id = ? AND status IN ('queued', 'active')`,
      conversationId,
    );
    if (live) throw invalidState('This conversation has a live chat that has not ended. End the live chat first.');
    const now = ctx.clock.now();
    const closedAt = isoAt(now);
    const closedById = closer.type === 'agent' ? closer.agent.id : conversation.assistant_id;
    await ctx.db.run(
      `UPDATE conversations SET status = 'closed', closed_at = ?, closed_by_type = ?, closed_by_id = ?, updated_at = ? WHERE id = ?`,
      closedAt,
      closer.type,
      closedById,
      closedAt,
      conversationId,
    );
    const row = (await conversationRow(ctx, conversationId))!;
    const detail = await conversationDetail(ctx, row);
    await emitConversationEvent(ctx, {
      workspaceId: row.workspace_id,
      type: 'conversation.closed',
      assistant: { id: row.assistant_id, name: row.assistant_name },
      data: {
        conversation: conversationRecord(row),
        closedBy: detail.closedBy,
        closedAt,
        messageCount: detail.messageCount,
        durationSeconds: Math.max(0, Math.floor((now - Date.parse(row.started_at)) / 1000)),
      },
    });
    return detail;
  });
}

/** The workspace's conversation `id` as a tag's target; throws 404 not_found as requireConversation does. */
export async function conversationTagTarget(ctx: AppContext, workspaceId: string, id: string): Promise<TagTarget> {
  const row = await requireConversation(ctx, workspaceId, id);
  const contact = row.contact_id
    ? await ctx.db.one<{ id: string; email: string; name: string | null }>(
        'SELECT id, email, name FROM contacts WHERE id = ?',
        row.contact_id,
      )
    : null;
  return {
    workspaceId,
    recordType: 'conversation',
    recordId: row.id,
    assistant: { id: row.assistant_id, name: row.assistant_name },
    contact,
    conversationId: row.id,
  };
}

/**
 * Live chat: a conversation is queued for a human (handoff), an agent accepts it (takeover: the
 * conversation's mode becomes `human`), it may be transferred to another agent, and it ends (mode back to
 * `assistant`). Each step fires its live_chat.* event in the same transaction.
 */
import type { ConversationEventType } from '../../catalog/events';
import type { AppContext } from '../context';
import { inTransaction } from '../context';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
import { conversationRow, requireConversation, setConversationMode } from './conversations';
import { ApiError, invalidState } from './errors';
import { emitConversationEvent } from './events';
import { lockOpenConversation } from './locks';
import { agentRecord, conversationRecord, SESSION_SELECT, sessionRecord, type SessionRow } from './records';
import { type Agent, requireAgent } from './workspaces';

export type SessionResource = ReturnType<typeof sessionRecord> & { conversationId: string; reason: string | null };

async function sessionRow(ctx: AppContext, id: string): Promise<SessionRow | null> {
  return await ctx.db.one<SessionRow>(`${SESSION_SELECT} WHERE l.id = ?`, id);
}

async function requireSession(ctx: AppContext, workspaceId: string, id: string): Promise<SessionRow> {
  const row = await sessionRow(ctx, id);
  if (!row || row.workspace_id !== workspaceId)
    throw new ApiError(404, 'not_found', `No live-chat session ${id} in this workspace.`);
  return row;
}

const resource = (r: SessionRow): SessionResource => ({
  ...sessionRecord(r),
  conversationId: r.conversation_id,
  reason: r.reason,
});

/** Emits `type` with the session and its conversation as they are now, plus the event's own fields. */
async function emitSessionEvent(
  ctx: AppContext,
  sessionId: string,
  type: ConversationEventType,
  extra: Record<string, unknown>,
): Promise<SessionRow> {
  const session = (await sessionRow(ctx, sessionId))!;
  const conversation = (await conversationRow(ctx, session.conversation_id))!;
  await emitConversationEvent(ctx, {
    workspaceId: session.workspace_id,
    type,
    assistant: { id: conversation.assistant_id, name: conversation.assistant_name },
    data: { session: sessionRecord(session), conversation: conversationRecord(conversation), ...extra },
  });
  return session;
}

/**
 * The visitor asks for a human: a queued session. The assistant keeps the conversation until an agent accepts.
 * Throws 404 not_found for an unknown conversation, 409 invalid_state when it is closed or already has a
 * session that has not ended.
 */
export async function requestHandoff(
  ctx: AppContext,
  conversationId: string,
  reason: string | null,
): Promise<SessionResource> {
  return await inTransaction(ctx, async (ctx) => {
    const conversation = await requireConversation(ctx, null, conversationId);
    if (conversation.status !== 'open' || !(await lockOpenConversation(ctx, conversationId)))
      throw invalidState('This conversation is closed.');
    // One session in progress per conversation is the unique index live_chat_sessions_one_live (migration
    // 011): of two requests at once, on either engine, one inserts and the other changes nothing.
    const id = newId('lcs');
    const inserted = (
      await ctx.db.run(
        `INSERT INTO live_chat_sessions (id, workspace_id, conversation_id, status, reason, queued_at) VALUES (?, ?, ?, 'queued', ?, ?)
       ON CONFLICT (conversation_id) WHERE status IN ('queued', 'active') DO NOTHING`,
        id,
        conversation.workspace_id,
        conversationId,
        reason,
        isoAt(ctx.clock.now()),
      )
    ).changes;
    if (inserted === 0) throw invalidState('This conversation already has a live-chat session that has not ended.');
    return resource(await emitSessionEvent(ctx, id, 'live_chat.session_queued', { reason }));
  });
}

/**
 * An agent picks up a queued session: takeover begins. Throws 404 not_found when the session is not the
 * agent's workspace's, 409 invalid_state when it is not queued.
 */
export async function acceptSession(ctx: AppContext, agent: Agent, sessionId: string): Promise<SessionResource> {
  return await inTransaction(ctx, async (ctx) => {
    const session = await requireSession(ctx, agent.workspaceId, sessionId);
    if (session.status !== 'queued')
      throw invalidState(`Only a queued session can be accepted; this one is ${session.status}.`);
    // Conditional on the state read, so of two agents accepting at once exactly one does (either engine).
    const accepted = (
      await ctx.db.run(
        `UPDATE live_chat_sessions SET status = 'active', agent_id = ?, assigned_at = ? WHERE id = ? AND status = 'queued'`,
        agent.id,
        isoAt(ctx.clock.now()),
        sessionId,
      )
    ).changes;
    if (accepted === 0)
      throw invalidState('Only a queued session can be accepted; another agent accepted or ended it.');
    await setConversationMode(ctx, session.conversation_id, 'human');
    return resource(await emitSessionEvent(ctx, sessionId, 'live_chat.agent_assigned', { agent: agentRecord(agent) }));
  });
}

/**
 * Hands an active session to another agent of the workspace; the conversation stays in takeover. Throws 404
 * not_found for a session or agent outside the workspace, 409 invalid_state when the session is not active or
 * is already with that agent.
 */
export async function transferSession(
  ctx: AppContext,
  by: Agent,
  sessionId: string,
  toAgentId: string,
  note: string | null,
): Promise<SessionResource> {
  return await inTransaction(ctx, async (ctx) => {
    const session = await requireSession(ctx, by.workspaceId, sessionId);
    if (session.status !== 'active')
      throw invalidState(`Only an active session can be transferred; this one is ${session.status}.`);
    const to = await requireAgent(ctx, by.workspaceId, toAgentId);
    if (to.id === session.agent_id) throw invalidState('The session is already with this agent.');
    const from = await requireAgent(ctx, by.workspaceId, session.agent_id!);
    // assigned_at stays the first pickup: the session's duration covers every agent who held it.
    const moved = (
      await ctx.db.run(
        `UPDATE live_chat_sessions SET agent_id = ? WHERE id = ? AND status = 'active' AND agent_id = ?`,
        to.id,
        sessionId,
        session.agent_id,
      )
    ).changes;
    if (moved === 0) throw invalidState('The session was transferred or ended meanwhile; reload it and try again.');
    return resource(
      await emitSessionEvent(ctx, sessionId, 'live_chat.session_transferred', {
        fromAgent: agentRecord(from),
        toAgent: agentRecord(to),
        note,
      }),
    );
  });
}

/**
 * Ends a queued or active session; the assistant takes the conversation back. durationSeconds runs from
 * the moment an agent first picked it up (or from queueing, when none did) to the end, in whole seconds, never
 * negative. Throws 404 not_found for a session outside the agent's workspace, 409 invalid_state when it has
 * already ended.
 */
export async function endSession(
  ctx: AppContext,
  by: Agent,
  sessionId: string,
  endedBy: 'agent' | 'visitor' | 'system',
): Promise<SessionResource> {
  return await inTransaction(ctx, async (ctx) => {
    const session = await requireSession(ctx, by.workspaceId, sessionId);
    if (session.status === 'ended') throw invalidState('This session has already ended.');
    const now = ctx.clock.now();
    const ended = (
      await ctx.db.run(
        `UPDATE live_chat_sessions SET status = 'ended', ended_at = ? WHERE id = ? AND status IN ('queued', 'active')`,
        isoAt(now),
        sessionId,
      )
    ).changes;
    if (ended === 0) throw invalidState('This session has already ended.');
    await setConversationMode(ctx, session.conversation_id, 'assistant');
    const startedMs = Date.parse(session.assigned_at ?? session.queued_at);
    const durationSeconds = Math.max(0, Math.floor((now - startedMs) / 1000));
    return resource(await emitSessionEvent(ctx, sessionId, 'live_chat.session_ended', { endedBy, durationSeconds }));
  });
}

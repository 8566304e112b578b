/**
 * The product side of a Zapier scenario: a Pro workspace with its assistant, two agents and a Zapier
 * connection, and the real endpoints through which visitors, agents and integrations cause each event.
 * Nothing here writes to the database: every event comes from an HTTP request, as in production.
 */
import type { ConversationEventType } from '../../catalog/events';
import { findContact } from '../../partner-api/domain/contacts';
import type { Scope } from '../../partner-api/domain/credentials';
import type { Assistant, Workspace } from '../../partner-api/domain/workspaces';
import { api, type ApiClient, type ApiResponse } from './api-server';
import type { Connection, JsonRecord, LiveStack } from './zapier-live';

export interface Agent {
  id: string;
  name: string;
  email: string;
  console: ApiClient;
}

export interface LiveWorkspace {
  stack: LiveStack;
  workspace: Workspace;
  assistant: Assistant;
  key: string;
  keyId: string;
  zap: Connection;
  /** The public widget and in-app SDK endpoints: no credential. */
  visitor: ApiClient;
  /** The API as an integration calls it with the workspace key. */
  partner: ApiClient;
  sam: Agent;
  kim: Agent;
}

/** A fresh workspace (so Test trigger starts on the fixtures), with agents Sam and Kim. */
export async function newWorkspace(stack: LiveStack, opts: { scopes?: readonly Scope[] } = {}): Promise<LiveWorkspace> {
  const { server } = stack;
  const { workspace, assistant, key, keyId } = await server.setup(opts);
  const agent = async (name: string, email: string): Promise<Agent> => {
    const made = await server.createAgent(workspace.id, { name, email });
    return { id: made.id, name: made.name, email: made.email, console: api(server.url, made.token) };
  };
  return {
    stack,
    workspace,
    assistant,
    key,
    keyId,
    zap: stack.connect(key),
    visitor: api(server.url),
    partner: api(server.url, key),
    sam: await agent('Sam Rivera', 'sam@acme.test'),
    kim: await agent('Kim Osei', 'kim@acme.test'),
  };
}

/** The body of a 2xx answer; anything else fails loudly with what the API said. */
export async function ok<T = JsonRecord>(request: Promise<ApiResponse<T>>): Promise<T> {
  const res = await request;
  if (res.status < 200 || res.status >= 300) throw new Error(`API answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

export const startWidgetConversation = (
  w: LiveWorkspace,
  assistantId = w.assistant.id,
  message = 'Do you ship to Canada?',
) =>
  ok(
    w.visitor.post(`/v1/widget/assistants/${assistantId}/conversations`, {
      message,
      visitor_id: 'vis_jane',
      visitor_name: 'Jane Visitor',
      page_url: 'https://shop.example.com/pricing',
    }),
  );

export const startInAppConversation = (w: LiveWorkspace, message = 'Where is my invoice?') =>
  ok(
    w.visitor.post(`/v1/in-app/assistants/${w.assistant.id}/conversations`, {
      message,
      user_id: 'u_42',
      user_name: 'Lee Park',
    }),
  );

/**
 * The visitor's form. Its public answer only acknowledges (it must not tell an anonymous visitor what the
 * CRM holds), so the contact is then read the way the workspace would see it, without a key: the key may
 * be revoked in the scenario.
 */
export async function submitLeadForm(
  w: LiveWorkspace,
  conversationId: string,
  lead: { email: string; name?: string; phone?: string },
) {
  await ok(w.visitor.post(`/v1/widget/conversations/${conversationId}/lead`, lead));
  const contact = await findContact(w.stack.server.ctx, w.workspace.id, lead.email);
  if (!contact) throw new Error(`no contact ${lead.email} after the lead form`);
  return { contact };
}

export const handOff = (w: LiveWorkspace, conversationId: string, reason = 'Asked for a human') =>
  ok(w.visitor.post(`/v1/widget/conversations/${conversationId}/handoff`, { reason }));

export const accept = (agent: Agent, sessionId: string) =>
  ok(agent.console.post(`/v1/agent/live-chat/sessions/${sessionId}/accept`));

export const transfer = (from: Agent, sessionId: string, to: Agent, note = 'Billing question') =>
  ok(from.console.post(`/v1/agent/live-chat/sessions/${sessionId}/transfer`, { to_agent_id: to.id, note }));

export const endChat = (agent: Agent, sessionId: string) =>
  ok(agent.console.post(`/v1/agent/live-chat/sessions/${sessionId}/end`, { ended_by: 'agent' }));

export const closeConversation = (agent: Agent, conversationId: string) =>
  ok(agent.console.post(`/v1/agent/conversations/${conversationId}/close`, {}));

export const agentTicket = (agent: Agent, subject = 'Refund for order #1042') =>
  ok(agent.console.post('/v1/agent/tickets', { subject, priority: 'high' }));

export const assignTicket = (by: Agent, ticketId: string, to: Agent) =>
  ok(by.console.post(`/v1/agent/tickets/${ticketId}/assign`, { agent_id: to.id }));

export const setTicketStatus = (by: Agent, ticketId: string, status: string) =>
  ok(by.console.post(`/v1/agent/tickets/${ticketId}/status`, { status }));

/** A conversation a human agent has taken over: widget start, handoff, Sam accepts. */
export async function takenOverConversation(
  w: LiveWorkspace,
): Promise<{ conversation: JsonRecord; session: JsonRecord }> {
  const conversation = await startWidgetConversation(w, w.assistant.id, 'I need to talk to a person');
  const queued = await handOff(w, conversation.id);
  return { conversation, session: await accept(w.sam, queued.id) };
}

/**
 * Causes one event of `type` through the real endpoints (with whatever must happen before it) and returns
 * the part of the delivered record that this cause decides.
 */
export async function causeConversationEvent(w: LiveWorkspace, type: ConversationEventType): Promise<JsonRecord> {
  const envelope = { type, workspaceId: w.workspace.id, assistantId: w.assistant.id, assistantName: w.assistant.name };
  const session = async () => {
    const conversation = await startWidgetConversation(w);
    return { conversation, queued: await handOff(w, conversation.id) };
  };
  const ticket = () => agentTicket(w.sam);
  switch (type) {
    case 'widget.conversation_started': {
      const c = await startWidgetConversation(w);
      return {
        ...envelope,
        data: { conversation: { id: c.id, channel: 'widget', mode: 'assistant', firstMessage: c.firstMessage } },
      };
    }
    case 'chat.conversation_started': {
      const c = await startInAppConversation(w);
      return { ...envelope, data: { conversation: { id: c.id, channel: 'in_app', visitorName: 'Lee Park' } } };
    }
    case 'live_chat.session_queued': {
      const { conversation, queued } = await session();
      return {
        ...envelope,
        data: {
          session: { id: queued.id, status: 'queued' },
          conversation: { id: conversation.id },
          reason: 'Asked for a human',
        },
      };
    }
    case 'live_chat.agent_assigned': {
      const { conversation, queued } = await session();
      await accept(w.sam, queued.id);
      const agent = { id: w.sam.id, name: w.sam.name, email: w.sam.email };
      return {
        ...envelope,
        data: {
          session: { id: queued.id, status: 'active', agentId: w.sam.id },
          conversation: { id: conversation.id, mode: 'human' },
          agent,
        },
      };
    }
    case 'live_chat.session_transferred': {
      const { queued } = await session();
      await accept(w.sam, queued.id);
      await transfer(w.sam, queued.id, w.kim);
      return {
        ...envelope,
        data: {
          session: { id: queued.id, agentId: w.kim.id },
          fromAgent: { id: w.sam.id },
          toAgent: { id: w.kim.id },
          note: 'Billing question',
        },
      };
    }
    case 'live_chat.session_ended': {
      const { queued } = await session();
      await accept(w.sam, queued.id);
      await endChat(w.sam, queued.id);
      return {
        ...envelope,
        data: { session: { id: queued.id, status: 'ended' }, conversation: { mode: 'assistant' }, endedBy: 'agent' },
      };
    }
    case 'conversation.closed': {
      const c = await startWidgetConversation(w);
      await closeConversation(w.sam, c.id);
      return {
        ...envelope,
        data: {
          conversation: { id: c.id, status: 'closed' },
          closedBy: { type: 'agent', id: w.sam.id, name: w.sam.name },
          messageCount: 1,
        },
      };
    }
    case 'ticket.created': {
      const t = await ticket();
      return {
        ...envelope,
        assistantId: null,
        assistantName: null,
        data: { ticket: { id: t.id, status: 'new', source: 'agent', priority: 'high' } },
      };
    }
    case 'ticket.assigned': {
      const t = await ticket();
      await assignTicket(w.sam, t.id, w.kim);
      return {
        ...envelope,
        assistantId: null,
        assistantName: null,
        data: { ticket: { id: t.id, assigneeId: w.kim.id }, previousAssigneeId: null },
      };
    }
    case 'ticket.status_changed': {
      const t = await ticket();
      await setTicketStatus(w.sam, t.id, 'open');
      return {
        ...envelope,
        assistantId: null,
        assistantName: null,
        data: { ticket: { id: t.id, status: 'open' }, previousStatus: 'new' },
      };
    }
  }
}

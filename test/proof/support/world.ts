/**
 * The World a well-formed request to every route needs (routes.ts): the records each route's path, body and
 * query refer to, made through the API on a test server. One home for the fuzz test (test/proof/fuzz.test.ts)
 * and the query-plan guards' workload (test/db/support/plan-workload.ts).
 */
import { api, type ApiServer } from '../../support/api-server';
import type { World } from './routes';

/** A finished delivery of the hook subscription: its id and its event's. */
export interface FinishedDelivery {
  id: string;
  event_id: string;
}

export interface WorldOptions {
  /** Where the subscriptions deliver: a receiver's URL, or one nothing answers at. */
  receiverUrl: string;
  /**
   * Called once the hook (`ticket.created` to receiverUrl) exists and a ticket was created for it: resolves to
   * that ticket's delivery once it is finished (the worker delivered it, or the caller marked it failed).
   */
  finishDelivery: (hookId: string) => Promise<FinishedDelivery>;
}

/** The World, and the credentials and records a caller also uses. */
export interface BuiltWorld {
  world: World;
  workspaceId: string;
  /** The workspace's API key (events:read and every write scope) and its id. */
  key: string;
  keyId: string;
  agent: { id: string; token: string };
  otherAgent: { id: string; token: string };
  /** The `ticket.created` subscription to receiverUrl, whose delivery is world.deliveryId. */
  hook: { id: string; secret: string };
  /** world.subscriptionId: a `lead.captured` subscription of its own, so the routes may delete it last. */
  zap: { id: string; secret: string };
}

/**
 * Makes the World on `server` (a new workspace on the pro plan, two agents, a contact, a ticket, conversations
 * in each live-chat state, two subscriptions and a finished delivery). Throws when a step fails.
 */
export async function buildWorld(server: ApiServer, opts: WorldOptions): Promise<BuiltWorld> {
  const setup = await server.setup();
  const agent = await server.createAgent(setup.workspace.id, { name: 'Agent', email: 'agent@example.com' });
  const otherAgent = await server.createAgent(setup.workspace.id, { name: 'Other', email: 'other@example.com' });
  const zapClient = api(server.url, setup.key);
  const visitor = api(server.url);
  const contactEmail = 'known@example.com';
  const contact = (await zapClient.post('/v1/contacts', { email: contactEmail, name: 'Known' })).body;
  const ticket = (await zapClient.post('/v1/tickets', { subject: 'Seed' })).body;
  const start = () => visitor.post(`/v1/widget/assistants/${setup.assistant.id}/conversations`, { message: 'hi' });
  const conversation = (await start()).body;
  const active = (await visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {})).body;
  await api(server.url, agent.token).post(`/v1/agent/live-chat/sessions/${active.id}/accept`);
  const waiting = (await start()).body;
  const idle = (await start()).body;
  const agentClosable = (await start()).body;
  const widgetClosable = (await start()).body;
  const queued = (await visitor.post(`/v1/widget/conversations/${waiting.id}/handoff`, {})).body;
  const subscribe = async (eventType: string, targetUrl: string) =>
    (await zapClient.post('/v1/subscriptions', { event_type: eventType, target_url: targetUrl })).body as {
      id: string;
      secret: string;
    };
  const hook = await subscribe('ticket.created', opts.receiverUrl);
  const zap = await subscribe('lead.captured', `${opts.receiverUrl}?zap`);
  await zapClient.post('/v1/tickets', { subject: 'Delivered' });
  const delivery = await opts.finishDelivery(hook.id);
  if (!ticket.id || !active.id || !queued.id || !hook.secret || !zap.secret) throw new Error('the World was not made');
  return {
    world: {
      assistantId: setup.assistant.id,
      agentId: agent.id,
      otherAgentId: otherAgent.id,
      ticketId: ticket.id,
      conversationId: conversation.id,
      idleConversationId: idle.id,
      queuedSessionId: queued.id,
      activeSessionId: active.id,
      subscriptionId: zap.id,
      deliveryId: delivery.id,
      eventId: delivery.event_id,
      contactEmail,
      contactId: contact.id,
      agentClosableConversationId: agentClosable.id,
      widgetClosableConversationId: widgetClosable.id,
      receiverUrl: opts.receiverUrl,
    },
    workspaceId: setup.workspace.id,
    key: setup.key,
    keyId: setup.keyId,
    agent,
    otherAgent,
    hook,
    zap,
  };
}

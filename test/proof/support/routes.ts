/**
 * Every route of the partner API with what a well-formed request to it looks like: who may call it, its
 * path parameters, its body fields and its query parameters. The fuzzer starts from these and breaks them;
 * routesOf() reads the app's own route table, so a route added without an entry here fails the fuzz test.
 */
import type { Express } from 'express';

import { at } from '../../support/items';

export type Auth = 'key' | 'agent' | 'public';

export interface World {
  assistantId: string;
  agentId: string;
  otherAgentId: string;
  ticketId: string;
  /** A conversation in live-chat takeover, so Send Message can succeed. */
  conversationId: string;
  /** A conversation with no live-chat session yet, so a handoff can succeed. */
  idleConversationId: string;
  queuedSessionId: string;
  activeSessionId: string;
  subscriptionId: string;
  /** A finished delivery of an active subscription, so a replay can be sent. */
  deliveryId: string;
  /** Its event. */
  eventId: string;
  contactEmail: string;
  /** The contact with contactEmail. */
  contactId: string;
  /** Open conversations with no live chat, for an agent and for the widget to close. */
  agentClosableConversationId: string;
  widgetClosableConversationId: string;
  receiverUrl: string;
}

export interface RouteSpec {
  auth: Auth;
  /** Path parameter → a real id in the world. */
  params?: Record<string, (w: World) => string>;
  /** Body fields → a valid value (fresh each call, so creates do not collide). Undefined: no body. */
  body?: (w: World, n: number) => Record<string, unknown>;
  /** Query parameters → a valid value. */
  query?: (w: World) => Record<string, string>;
  /** Takes `limit` and `cursor`. */
  paged?: boolean;
}

export const ROUTES: Record<string, RouteSpec> = {
  'GET /healthz': { auth: 'public' },
  'GET /openapi.json': { auth: 'public' },
  'GET /v1/me': { auth: 'key' },
  'GET /v1/assistants': { auth: 'key' },
  'POST /v1/contacts': {
    auth: 'key',
    body: (_w, n) => ({
      email: `fuzz${n}@example.com`,
      name: 'Fuzz',
      phone: '+1 555',
      company: 'Fuzz Inc',
      notes: 'n',
    }),
  },
  'GET /v1/contacts': { auth: 'key', query: (w) => ({ email: w.contactEmail }) },
  'GET /v1/contacts/:id': { auth: 'key', params: { id: (w) => w.contactId } },
  'POST /v1/contacts/:id/tags': { auth: 'key', params: { id: (w) => w.contactId }, body: () => ({ tag: 'VIP' }) },
  'DELETE /v1/contacts/:id/tags/:tag': { auth: 'key', params: { id: (w) => w.contactId, tag: () => 'vip' } },
  'POST /v1/contacts/:id/notes': {
    auth: 'key',
    params: { id: (w) => w.contactId },
    body: () => ({ body: 'Called back; wants the annual plan.' }),
  },
  'GET /v1/contact-attributes': { auth: 'key' },
  'GET /v1/tickets': { auth: 'key', query: () => ({ limit: '5' }), paged: true },
  'GET /v1/tickets/:id': { auth: 'key', params: { id: (w) => w.ticketId } },
  'POST /v1/tickets': {
    auth: 'key',
    body: (w) => ({ subject: 'Fuzz', description: 'd', priority: 'high', contact_email: w.contactEmail }),
  },
  'PATCH /v1/tickets/:id': {
    auth: 'key',
    params: { id: (w) => w.ticketId },
    body: () => ({ status: 'pending', priority: 'low', subject: 'Fuzzed', description: 'x' }),
  },
  'GET /v1/conversations': { auth: 'key', query: () => ({ mode: 'human', limit: '5' }), paged: true },
  'GET /v1/conversations/:id': { auth: 'key', params: { id: (w) => w.conversationId } },
  'POST /v1/conversations/:id/tags': {
    auth: 'key',
    params: { id: (w) => w.conversationId },
    body: () => ({ tag: 'Billing' }),
  },
  'DELETE /v1/conversations/:id/tags/:tag': {
    auth: 'key',
    params: { id: (w) => w.conversationId, tag: () => 'billing' },
  },
  'POST /v1/conversations/:id/messages': {
    auth: 'key',
    params: { id: (w) => w.conversationId },
    body: () => ({ message: 'hello' }),
  },
  // Before the subscription routes: their POST replaces the subscription these deliveries belong to.
  'GET /v1/deliveries': { auth: 'key', query: () => ({ status: 'failed', limit: '5' }), paged: true },
  'GET /v1/deliveries/:id': { auth: 'key', params: { id: (w) => w.deliveryId } },
  'POST /v1/deliveries/:id/replay': { auth: 'key', params: { id: (w) => w.deliveryId }, body: () => ({}) },
  'POST /v1/subscriptions/:id/replay': {
    auth: 'key',
    params: { id: (w) => w.subscriptionId },
    body: () => ({ since: '2026-01-01T00:00:00Z' }),
  },
  'GET /v1/events/:id': { auth: 'key', params: { id: (w) => w.eventId } },
  'GET /v1/subscriptions': { auth: 'key', query: () => ({ limit: '5' }), paged: true },
  'POST /v1/subscriptions': {
    auth: 'key',
    body: (w) => ({ event_type: 'ticket.created', target_url: w.receiverUrl, assistant_id: w.assistantId }),
  },
  // After the POST above, so a subscription is active at the receiver URL when this runs first.
  'DELETE /v1/subscriptions': { auth: 'key', query: (w) => ({ target_url: w.receiverUrl }) },
  'DELETE /v1/subscriptions/:id': { auth: 'key', params: { id: (w) => w.subscriptionId } },
  'GET /v1/samples': {
    auth: 'key',
    query: (w) => ({ event_type: 'ticket.created', assistant_id: w.assistantId, limit: '2' }),
  },
  'POST /v1/widget/assistants/:assistantId/conversations': {
    auth: 'public',
    params: { assistantId: (w) => w.assistantId },
    body: () => ({
      message: 'Hi',
      visitor_id: 'v1',
      visitor_name: 'V',
      visitor_email: 'v@example.com',
      page_url: 'https://x.example/',
    }),
  },
  'POST /v1/in-app/assistants/:assistantId/conversations': {
    auth: 'public',
    params: { assistantId: (w) => w.assistantId },
    body: () => ({ message: 'Hi', user_id: 'u1', user_name: 'U', user_email: 'u@example.com' }),
  },
  'POST /v1/widget/conversations/:id/lead': {
    auth: 'public',
    params: { id: (w) => w.idleConversationId },
    body: (_w, n) => ({ email: `lead${n}@example.com`, name: 'Lead', phone: '1' }),
  },
  'POST /v1/widget/conversations/:id/handoff': {
    auth: 'public',
    params: { id: (w) => w.idleConversationId },
    body: () => ({ reason: 'human' }),
  },
  'POST /v1/widget/conversations/:id/close': {
    auth: 'public',
    params: { id: (w) => w.widgetClosableConversationId },
    body: () => ({}),
  },
  'POST /v1/agent/conversations/:id/close': {
    auth: 'agent',
    params: { id: (w) => w.agentClosableConversationId },
    body: () => ({}),
  },
  'POST /v1/agent/contacts/:id/tags': {
    auth: 'agent',
    params: { id: (w) => w.contactId },
    body: () => ({ tag: 'Renewal' }),
  },
  'POST /v1/agent/conversations/:id/tags': {
    auth: 'agent',
    params: { id: (w) => w.conversationId },
    body: () => ({ tag: 'Urgent' }),
  },
  'POST /v1/agent/contacts/:id/notes': {
    auth: 'agent',
    params: { id: (w) => w.contactId },
    body: () => ({ body: 'Spoke on the phone.' }),
  },
  'POST /v1/agent/contact-attributes': {
    auth: 'agent',
    body: () => ({ key: 'plan', label: 'Plan', type: 'text' }),
  },
  'POST /v1/agent/contacts': {
    auth: 'agent',
    body: (_w, n) => ({ email: `crm${n}@example.com`, name: 'C', phone: '2' }),
  },
  'POST /v1/agent/tickets': {
    auth: 'agent',
    body: (w) => ({
      subject: 'S',
      description: 'D',
      priority: 'urgent',
      contact_email: w.contactEmail,
      conversation_id: w.conversationId,
    }),
  },
  'POST /v1/agent/tickets/:id/assign': {
    auth: 'agent',
    params: { id: (w) => w.ticketId },
    body: (w) => ({ agent_id: w.otherAgentId }),
  },
  'POST /v1/agent/tickets/:id/status': {
    auth: 'agent',
    params: { id: (w) => w.ticketId },
    body: () => ({ status: 'open' }),
  },
  'POST /v1/agent/live-chat/sessions/:id/accept': {
    auth: 'agent',
    params: { id: (w) => w.queuedSessionId },
    body: () => ({}),
  },
  'POST /v1/agent/live-chat/sessions/:id/transfer': {
    auth: 'agent',
    params: { id: (w) => w.activeSessionId },
    body: (w) => ({ to_agent_id: w.otherAgentId, note: 'n' }),
  },
  'POST /v1/agent/live-chat/sessions/:id/end': {
    auth: 'agent',
    params: { id: (w) => w.activeSessionId },
    body: () => ({ ended_by: 'agent' }),
  },
};

/** "METHOD /path/:param" for every route the app registers. */
export function routesOf(app: Express): string[] {
  const routes: string[] = [];
  for (const layer of (
    app as unknown as { router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] } }
  ).router.stack) {
    if (!layer.route) continue;
    for (const method of Object.keys(layer.route.methods)) routes.push(`${method.toUpperCase()} ${layer.route.path}`);
  }
  return routes.sort();
}

export function methodOf(route: string): string {
  return at(route.split(' '), 0);
}

/** The route's path with `params` (already encoded) in place of its parameters. */
export function pathOf(route: string, params: Record<string, string>): string {
  return at(route.split(' '), 1).replace(/:(\w+)/g, (_, name: string) => params[name] ?? '');
}

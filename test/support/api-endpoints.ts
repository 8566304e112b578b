/**
 * Every Zapier-facing endpoint with the scope it needs and a request that passes validation, for the
 * "who may do what" matrices. Path ids are placeholders: a request that gets past authentication may
 * then be a 404 or 422, which is what tells it apart from an auth refusal.
 */
import type { Scope } from '../../partner-api/domain/credentials';

export interface KeyedEndpoint {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  scope: Scope;
  body?: unknown;
  /** Open to keys of workspaces below Pro too (unsubscribing always works, so a Zap can be turned off). */
  anyPlan?: true;
}

export const KEYED_ENDPOINTS: KeyedEndpoint[] = [
  { method: 'GET', path: '/v1/me', scope: 'events:read' },
  { method: 'GET', path: '/v1/assistants', scope: 'events:read' },
  {
    method: 'POST',
    path: '/v1/subscriptions',
    scope: 'events:read',
    body: { event_type: 'lead.captured', target_url: 'http://127.0.0.1:9/hook' },
  },
  { method: 'GET', path: '/v1/subscriptions', scope: 'events:read' },
  { method: 'DELETE', path: '/v1/subscriptions/sub_000000000000000000000000', scope: 'events:read', anyPlan: true },
  {
    method: 'DELETE',
    path: '/v1/subscriptions?target_url=http%3A%2F%2F127.0.0.1%3A9%2Fnone',
    scope: 'events:read',
    anyPlan: true,
  },
  { method: 'GET', path: '/v1/samples?event_type=ticket.created', scope: 'events:read' },
  { method: 'GET', path: '/v1/deliveries?status=failed', scope: 'events:read' },
  { method: 'GET', path: '/v1/deliveries/dlv_000000000000000000000000', scope: 'events:read' },
  { method: 'POST', path: '/v1/deliveries/dlv_000000000000000000000000/replay', scope: 'events:read', body: {} },
  {
    method: 'POST',
    path: '/v1/subscriptions/sub_000000000000000000000000/replay',
    scope: 'events:read',
    body: { since: '2026-01-01T00:00:00Z' },
  },
  { method: 'GET', path: '/v1/events/evt_000000000000000000000000', scope: 'events:read' },
  { method: 'POST', path: '/v1/contacts', scope: 'contacts:write', body: { email: 'matrix@example.com' } },
  { method: 'GET', path: '/v1/contacts?email=matrix@example.com', scope: 'contacts:write' },
  { method: 'GET', path: '/v1/tickets', scope: 'tickets:write' },
  { method: 'POST', path: '/v1/tickets', scope: 'tickets:write', body: { subject: 'Matrix' } },
  {
    method: 'PATCH',
    path: '/v1/tickets/tkt_000000000000000000000000',
    scope: 'tickets:write',
    body: { status: 'open' },
  },
  { method: 'GET', path: '/v1/conversations?mode=human', scope: 'chat:write' },
  {
    method: 'POST',
    path: '/v1/conversations/cnv_000000000000000000000000/messages',
    scope: 'chat:write',
    body: { message: 'Hi' },
  },
  { method: 'GET', path: '/v1/contacts/con_000000000000000000000000', scope: 'contacts:write' },
  {
    method: 'POST',
    path: '/v1/contacts/con_000000000000000000000000/tags',
    scope: 'contacts:write',
    body: { tag: 'VIP' },
  },
  { method: 'DELETE', path: '/v1/contacts/con_000000000000000000000000/tags/vip', scope: 'contacts:write' },
  {
    method: 'POST',
    path: '/v1/contacts/con_000000000000000000000000/notes',
    scope: 'contacts:write',
    body: { body: 'A note' },
  },
  { method: 'GET', path: '/v1/contact-attributes', scope: 'contacts:write' },
  { method: 'GET', path: '/v1/tickets/tkt_000000000000000000000000', scope: 'tickets:write' },
  { method: 'GET', path: '/v1/tickets?number=1', scope: 'tickets:write' },
  { method: 'GET', path: '/v1/conversations/cnv_000000000000000000000000', scope: 'chat:write' },
  { method: 'GET', path: '/v1/conversations?visitor_email=ava@example.com', scope: 'chat:write' },
  {
    method: 'POST',
    path: '/v1/conversations/cnv_000000000000000000000000/tags',
    scope: 'chat:write',
    body: { tag: 'VIP' },
  },
  { method: 'DELETE', path: '/v1/conversations/cnv_000000000000000000000000/tags/vip', scope: 'chat:write' },
];

/** The agent console's endpoints (agt_tok_ tokens). */
export const AGENT_ENDPOINTS: { method: 'POST'; path: string; body?: unknown }[] = [
  { method: 'POST', path: '/v1/agent/contacts', body: { email: 'agent@example.com' } },
  { method: 'POST', path: '/v1/agent/tickets', body: { subject: 'From the console' } },
  {
    method: 'POST',
    path: '/v1/agent/tickets/tkt_000000000000000000000000/assign',
    body: { agent_id: 'agt_000000000000000000000000' },
  },
  { method: 'POST', path: '/v1/agent/tickets/tkt_000000000000000000000000/status', body: { status: 'open' } },
  { method: 'POST', path: '/v1/agent/live-chat/sessions/lcs_000000000000000000000000/accept' },
  {
    method: 'POST',
    path: '/v1/agent/live-chat/sessions/lcs_000000000000000000000000/transfer',
    body: { to_agent_id: 'agt_000000000000000000000000' },
  },
  { method: 'POST', path: '/v1/agent/live-chat/sessions/lcs_000000000000000000000000/end' },
  { method: 'POST', path: '/v1/agent/conversations/cnv_000000000000000000000000/close' },
  { method: 'POST', path: '/v1/agent/contacts/con_000000000000000000000000/tags', body: { tag: 'VIP' } },
  { method: 'POST', path: '/v1/agent/conversations/cnv_000000000000000000000000/tags', body: { tag: 'VIP' } },
  { method: 'POST', path: '/v1/agent/contacts/con_000000000000000000000000/notes', body: { body: 'A note' } },
  { method: 'POST', path: '/v1/agent/contact-attributes', body: { key: 'plan', label: 'Plan', type: 'text' } },
];

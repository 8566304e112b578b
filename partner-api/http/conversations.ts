/**
 * Conversations: the Send Message action and its dropdown, and the public widget and in-app SDK endpoints
 * (keyed by assistant or conversation id; no credential) where conversations, leads and handoffs start.
 */
import { z } from 'zod';

import { captureWidgetLead } from '../domain/contacts';
import {
  closeConversation,
  conversationDetail,
  listConversations,
  postIntegrationMessage,
  requireConversation,
  startConversation,
} from '../domain/conversations';
import { requestHandoff } from '../domain/live-chat';
import { agentOf, keyOf } from './auth';
import { created, ok, type RouteBuilders } from './route-builders';
import {
  emailField,
  idField,
  limitQuery,
  optionalEmail,
  optionalEnum,
  optionalLine,
  optionalText,
  parseWith,
  requiredText,
} from './validate';

const listQuery = z.strictObject({
  mode: optionalEnum(['assistant', 'human']),
  /** Only this visitor's conversations (Find Conversation's "latest by visitor email"). */
  visitor_email: optionalEmail,
  limit: limitQuery(25, 100),
  cursor: z.string().max(500).optional(),
});

const messageBody = z.strictObject({ message: requiredText(10_000) });

const widgetStart = z.strictObject({
  message: requiredText(10_000),
  visitor_id: optionalText(200),
  visitor_name: optionalLine(200),
  visitor_email: optionalEmail,
  page_url: optionalText(2048),
});

const inAppStart = z.strictObject({
  message: requiredText(10_000),
  user_id: optionalText(200),
  user_name: optionalLine(200),
  user_email: optionalEmail,
});

const leadBody = z.strictObject({ email: emailField, name: optionalLine(200), phone: optionalLine(50) });
const handoffBody = z.strictObject({ reason: optionalText(1000) });
const idParams = z.object({ id: idField });
const assistantParams = z.object({ assistantId: idField });

export function registerConversationRoutes({ app, ctx, keyed, agent, visitor, write }: RouteBuilders): void {
  app.get('/v1/conversations', ...keyed('chat:write'), async (req, res) => {
    const { visitor_email, ...query } = parseWith(listQuery, req.query);
    res.json(await listConversations(ctx, keyOf(req).workspace.id, { ...query, visitorEmail: visitor_email }));
  });

  app.get('/v1/conversations/:id', ...keyed('chat:write'), async (req, res) => {
    const { id } = parseWith(idParams, req.params);
    res.json(await conversationDetail(ctx, await requireConversation(ctx, keyOf(req).workspace.id, id)));
  });

  app.post(
    '/v1/agent/conversations/:id/close',
    agent,
    write((req) => {
      const { id } = parseWith(idParams, req.params);
      parseWith(z.strictObject({}), req.body);
      const by = agentOf(req);
      return async (ctx) => ok(await closeConversation(ctx, id, { type: 'agent', agent: by }));
    }),
  );

  // The widget closes a conversation its assistant has resolved (docs/api.md): closedBy is the assistant.
  app.post(
    '/v1/widget/conversations/:id/close',
    visitor,
    write((req) => {
      const { id } = parseWith(idParams, req.params);
      parseWith(z.strictObject({}), req.body);
      return async (ctx) => {
        const closed = await closeConversation(ctx, id, { type: 'assistant' });
        // The public caller learns only that it is closed, as the lead form's answer (nothing the CRM holds).
        return ok({ conversationId: closed.id, status: closed.status, closedAt: closed.closedAt });
      };
    }),
  );

  app.post(
    '/v1/conversations/:id/messages',
    ...keyed('chat:write'),
    write((req) => {
      const { id } = parseWith(idParams, req.params);
      const { message } = parseWith(messageBody, req.body);
      const key = keyOf(req);
      return async (ctx) => created(await postIntegrationMessage(ctx, key.workspace.id, id, message, key.keyId));
    }),
  );

  app.post(
    '/v1/widget/assistants/:assistantId/conversations',
    visitor,
    write((req) => {
      const { assistantId } = parseWith(assistantParams, req.params);
      const b = parseWith(widgetStart, req.body);
      const input = {
        message: b.message,
        visitorId: b.visitor_id,
        visitorName: b.visitor_name,
        visitorEmail: b.visitor_email,
        pageUrl: b.page_url,
      };
      return async (ctx) => created(await startConversation(ctx, assistantId, 'widget', input));
    }),
  );

  app.post(
    '/v1/in-app/assistants/:assistantId/conversations',
    visitor,
    write((req) => {
      const { assistantId } = parseWith(assistantParams, req.params);
      const b = parseWith(inAppStart, req.body);
      const input = { message: b.message, visitorId: b.user_id, visitorName: b.user_name, visitorEmail: b.user_email };
      return async (ctx) => created(await startConversation(ctx, assistantId, 'in_app', input));
    }),
  );

  app.post(
    '/v1/widget/conversations/:id/lead',
    visitor,
    write((req) => {
      const { id } = parseWith(idParams, req.params);
      const input = parseWith(leadBody, req.body);
      return async (ctx) => {
        const conversation = await requireConversation(ctx, null, id);
        const assistant = { id: conversation.assistant_id, name: conversation.assistant_name };
        await captureWidgetLead(ctx, { id, workspaceId: conversation.workspace_id, assistant }, input);
        // Only an acknowledgement: the caller is an anonymous visitor who may type anyone's email, so the
        // answer must not reveal what the CRM holds about it (its name, phone, company, notes) or whether
        // it is known at all. The workspace sees the lead through lead.captured.
        return created({ conversationId: id, received: true });
      };
    }),
  );

  app.post(
    '/v1/widget/conversations/:id/handoff',
    visitor,
    write((req) => {
      const { id } = parseWith(idParams, req.params);
      const { reason } = parseWith(handoffBody, req.body);
      return async (ctx) => created(await requestHandoff(ctx, id, reason ?? null));
    }),
  );
}

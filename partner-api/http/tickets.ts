/** Create Ticket, Update Ticket and its dropdown, and the agent console's ticket operations. */
import { z } from 'zod';

import { TICKET_PRIORITIES, TICKET_STATUSES } from '../../catalog/events';
import {
  assignTicket,
  createTicket,
  getTicket,
  listTickets,
  setTicketStatus,
  ticketByNumber,
  updateTicket,
} from '../domain/tickets';
import { agentOf, keyOf } from './auth';
import { withAdvice } from './errors';
import { created, ok, type RouteBuilders } from './route-builders';
import { idField, limitQuery, optionalEmail, optionalEnum, optionalText, parseWith, requiredText } from './validate';

const newTicketBody = z.strictObject({
  subject: requiredText(500),
  description: optionalText(20_000),
  priority: optionalEnum(TICKET_PRIORITIES),
  contact_email: optionalEmail,
});

const agentTicketBody = newTicketBody.extend({ conversation_id: optionalText(100) });

const ticketChanges = z
  .strictObject({
    status: optionalEnum(TICKET_STATUSES),
    priority: optionalEnum(TICKET_PRIORITIES),
    subject: z.preprocess((v) => (v === null || v === '' ? undefined : v), requiredText(500).optional()),
    description: optionalText(20_000),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), {
    message: 'Give at least one of status, priority, subject, description.',
  });

/** What to do about contact_not_found. Key callers are Zaps (the help page's troubleshooting answer). */
const ZAP_CONTACT_ADVICE =
  'Add a Find or Create Contact step before Create Ticket, or leave Contact Email blank to create the ticket without a contact link.';
/** ...and agents in the console. */
const AGENT_CONTACT_ADVICE = 'Create the contact first, or leave the email out.';

const listQuery = z.strictObject({
  limit: limitQuery(25, 100),
  cursor: z.string().max(500).optional(),
  /** Only the ticket with this number (Find Ticket); `#42` is read as 42. */
  number: z.preprocess(
    (v) => (typeof v === 'string' ? v.trim().replace(/^#/, '') || undefined : v),
    z.coerce.number().int('Must be a whole number.').positive().max(Number.MAX_SAFE_INTEGER).optional(),
  ),
});
const idParams = z.object({ id: idField });

export function registerTicketRoutes({ app, ctx, keyed, agent, write }: RouteBuilders): void {
  app.get('/v1/tickets', ...keyed('tickets:write'), async (req, res) => {
    const { number, ...page } = parseWith(listQuery, req.query);
    const workspaceId = keyOf(req).workspace.id;
    if (number === undefined) {
      res.json(await listTickets(ctx, workspaceId, page));
      return;
    }
    const ticket = await ticketByNumber(ctx, workspaceId, number);
    res.json({ data: ticket ? [ticket] : [], nextCursor: null });
  });

  app.get('/v1/tickets/:id', ...keyed('tickets:write'), async (req, res) => {
    const { id } = parseWith(idParams, req.params);
    res.json(await getTicket(ctx, keyOf(req).workspace.id, id));
  });

  app.post(
    '/v1/tickets',
    ...keyed('tickets:write'),
    write((req) => {
      const body = parseWith(newTicketBody, req.body);
      const workspaceId = keyOf(req).workspace.id;
      const input = {
        subject: body.subject,
        description: body.description,
        priority: body.priority,
        contactEmail: body.contact_email,
      };
      return async (ctx) =>
        created(
          await withAdvice(
            'contact_not_found',
            ZAP_CONTACT_ADVICE,
            async () => await createTicket(ctx, workspaceId, input, 'api'),
          ),
        );
    }),
  );

  app.patch(
    '/v1/tickets/:id',
    ...keyed('tickets:write'),
    write((req) => {
      const { id } = parseWith(idParams, req.params);
      const changes = parseWith(ticketChanges, req.body);
      const workspaceId = keyOf(req).workspace.id;
      return async (ctx) => ok(await updateTicket(ctx, workspaceId, id, changes));
    }),
  );

  app.post(
    '/v1/agent/tickets',
    agent,
    write((req) => {
      const body = parseWith(agentTicketBody, req.body);
      const workspaceId = agentOf(req).workspaceId;
      const input = {
        subject: body.subject,
        description: body.description,
        priority: body.priority,
        contactEmail: body.contact_email,
        conversationId: body.conversation_id,
      };
      return async (ctx) =>
        created(
          await withAdvice(
            'contact_not_found',
            AGENT_CONTACT_ADVICE,
            async () => await createTicket(ctx, workspaceId, input, 'agent'),
          ),
        );
    }),
  );

  app.post(
    '/v1/agent/tickets/:id/assign',
    agent,
    write((req) => {
      const { id } = parseWith(idParams, req.params);
      const { agent_id } = parseWith(z.strictObject({ agent_id: idField }), req.body);
      const workspaceId = agentOf(req).workspaceId;
      return async (ctx) => ok(await assignTicket(ctx, workspaceId, id, agent_id));
    }),
  );

  app.post(
    '/v1/agent/tickets/:id/status',
    agent,
    write((req) => {
      const { id } = parseWith(idParams, req.params);
      const { status } = parseWith(z.strictObject({ status: z.enum(TICKET_STATUSES) }), req.body);
      const workspaceId = agentOf(req).workspaceId;
      return async (ctx) => ok(await setTicketStatus(ctx, workspaceId, id, status));
    }),
  );
}

/**
 * An honest static sample of each record the actions and the search return, built from the same
 * placeholder values as fixtures/ and parsed against the catalog's schemas (catalog/records.ts for
 * contacts and messages, catalog/events.ts for tickets).
 */
import { type TicketRecord, ticketSchema } from '../catalog/events';
import { type ContactRecord, contactSchema, type MessageRecord, messageSchema } from '../catalog/records';
import { fixtureFor } from '../fixtures';

export { type ContactRecord, contactSchema, type MessageRecord, messageSchema, ticketSchema };

const lead = fixtureFor('lead.captured');

/** A contact as Create or Update Contact returns it: the sample lead, written through the API. */
export const contactSample: ContactRecord = contactSchema.parse({
  id: lead.id,
  email: lead.email,
  name: lead.name,
  phone: lead.phone,
  company: 'Example Company',
  notes: 'This is sample data. Your real contacts will appear here.',
  source: 'api',
  assistantId: null,
  createdAt: lead.createdAt,
  updatedAt: lead.createdAt,
});

/** The sample ticket of the Ticket Created fixture: status `new`, source `api`, as Create Ticket returns. */
export const ticketSample: TicketRecord = ticketSchema.parse(
  (fixtureFor('ticket.created') as { data: { ticket: unknown } }).data.ticket,
);

export const messageSample: MessageRecord = messageSchema.parse({
  id: 'msg_sample0000000000000000',
  conversationId: 'cnv_sample0000000000000000',
  body: 'Thanks for waiting. An agent will follow up by email today.',
  senderType: 'integration',
  createdAt: '2026-01-15T09:30:00.000Z',
});

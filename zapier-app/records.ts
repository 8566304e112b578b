/**
 * The records the actions and the search return, as docs/api.md documents them, with an honest static sample
 * of each built from the same placeholder values as fixtures/. The ticket record is the catalog's; the contact
 * and message records are not in catalog/ yet, so their shapes live here.
 */
import { z } from 'zod';
import { LEAD_SOURCES, ticketSchema, type TicketRecord } from '../catalog/events';
import { fixtureFor } from '../fixtures';

const isoDateTime = z.iso.datetime({ offset: true });

export const contactSchema = z.object({
  id: z.string().startsWith('con_'),
  email: z.string(),
  name: z.string().nullable(),
  phone: z.string().nullable(),
  company: z.string().nullable(),
  notes: z.string().nullable(),
  source: z.enum(LEAD_SOURCES),
  assistantId: z.string().nullable(),
  createdAt: isoDateTime,
  updatedAt: isoDateTime,
});

export const messageSchema = z.object({
  id: z.string().startsWith('msg_'),
  conversationId: z.string().startsWith('cnv_'),
  body: z.string(),
  senderType: z.string(),
  createdAt: isoDateTime,
});

export { ticketSchema };

export type ContactRecord = z.infer<typeof contactSchema>;
export type MessageRecord = z.infer<typeof messageSchema>;

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

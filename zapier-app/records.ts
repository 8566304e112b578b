/**
 * An honest static sample of each record the actions and the search return, built from the same
 * placeholder values as fixtures/ and parsed against the catalog's schemas (catalog/records.ts for
 * contacts and messages, catalog/events.ts for tickets).
 */
import { type TicketRecord, ticketSchema } from '../catalog/events';
import {
  type ContactRecord,
  contactSchema,
  type ConversationDetailRecord,
  conversationDetailSchema,
  type MessageRecord,
  messageSchema,
  type NoteRecord,
  noteSchema,
  type TagsResultRecord,
  tagsResultSchema,
} from '../catalog/records';
import { fixtureFor } from '../fixtures';

export {
  type ContactRecord,
  contactSchema,
  type ConversationDetailRecord,
  conversationDetailSchema,
  type MessageRecord,
  messageSchema,
  type NoteRecord,
  noteSchema,
  type TagsResultRecord,
  tagsResultSchema,
  ticketSchema,
};

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
  tags: ['VIP'],
  attributes: lead.attributes,
  notesCount: 1,
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

/** What Add Tag to Contact answers for the sample contact. */
export const contactTagsSample: TagsResultRecord = tagsResultSchema.parse({
  recordType: 'contact',
  recordId: lead.id,
  tag: 'VIP',
  changed: true,
  tags: ['Newsletter', 'VIP'],
});

/** What Add Tag to Conversation answers for the sample conversation. */
export const conversationTagsSample: TagsResultRecord = tagsResultSchema.parse({
  recordType: 'conversation',
  recordId: 'cnv_sample0000000000000000',
  tag: 'Billing',
  changed: true,
  tags: ['Billing'],
});

export const noteSample: NoteRecord = noteSchema.parse({
  id: 'note_sample0000000000000000',
  contactId: lead.id,
  body: 'Asked about annual billing; call back on Monday.',
  author: { type: 'api_key', id: 'key_sample0000000000000000', name: 'Zapier' },
  createdAt: '2026-01-15T09:30:00.000Z',
});

const closed = fixtureFor('conversation.closed') as {
  assistantId: string;
  assistantName: string;
  data: { conversation: Record<string, unknown>; closedBy: unknown; closedAt: string; messageCount: number };
};

/** Find Conversation's sample: the Conversation Closed fixture's conversation, read by id. */
export const conversationDetailSample: ConversationDetailRecord = conversationDetailSchema.parse({
  ...closed.data.conversation,
  assistantId: closed.assistantId,
  assistantName: closed.assistantName,
  updatedAt: closed.data.closedAt,
  closedAt: closed.data.closedAt,
  closedBy: closed.data.closedBy,
  tags: ['Billing'],
  messageCount: 2,
  recentMessages: [
    {
      id: 'msg_sample0000000000000001',
      conversationId: closed.data.conversation.id,
      body: closed.data.conversation.firstMessage,
      senderType: 'visitor',
      createdAt: closed.data.conversation.startedAt,
    },
    {
      id: 'msg_sample0000000000000002',
      conversationId: closed.data.conversation.id,
      body: 'Yes: annual plans save two months. Shall I send the details?',
      senderType: 'assistant',
      createdAt: closed.data.closedAt,
    },
  ],
});

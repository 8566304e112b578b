/**
 * The records that the actions and the search return and that no event carries: a contact (Create or
 * Update Contact, Find Contact) and a message (Send Message to Conversation). Tickets, conversations and
 * the rest are in events.ts, because events carry them too. The partner API's answers have these types,
 * the Zapier app's output samples parse against them, and test/api/records.test.ts checks the API's real
 * answers against them strictly.
 */
import { z } from 'zod';

import { isoDateTime, LEAD_SOURCES, prefixedId as id } from './events';

export const contactSchema = z.object({
  id: id('con'),
  email: z.string(),
  name: z.string().nullable(),
  phone: z.string().nullable(),
  company: z.string().nullable(),
  notes: z.string().nullable(),
  /** How the contact first came in. */
  source: z.enum(LEAD_SOURCES),
  assistantId: z.string().nullable(),
  createdAt: isoDateTime,
  updatedAt: isoDateTime,
});

export const MESSAGE_SENDER_TYPES = ['visitor', 'assistant', 'agent', 'integration'] as const;

export const messageSchema = z.object({
  id: id('msg'),
  conversationId: id('cnv'),
  body: z.string(),
  /** `integration` for messages a Zap sent. */
  senderType: z.enum(MESSAGE_SENDER_TYPES),
  createdAt: isoDateTime,
});

export type ContactRecord = z.infer<typeof contactSchema>;
export type MessageRecord = z.infer<typeof messageSchema>;

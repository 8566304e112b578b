/**
 * The records that the actions, the search and the instant triggers' subscribe return and that no event
 * carries: a contact (Create or Update Contact, Find Contact), a message (Send Message to Conversation) and
 * a REST-hook subscription (what subscribe answers, which Zapier keeps as `bundle.subscribeData`). Tickets,
 * conversations and the rest are in events.ts, because events carry them too. The partner API's answers have these types,
 * the Zapier app's output samples parse against them, and test/api/records.test.ts checks the API's real
 * answers against them strictly.
 */
import { z } from 'zod';

import {
  attributeValuesSchema,
  closerSchema,
  conversationSchema,
  eventTypeSchema,
  isoDateTime,
  LEAD_SOURCES,
  prefixedId,
} from './events';

export const contactSchema = z.object({
  id: prefixedId('con'),
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
  /** Its tags, in alphabetical order of their matching form (docs/api.md, "Tags"). */
  tags: z.array(z.string()),
  /** Its values of the workspace's custom attributes, by attribute key; an attribute without a value is absent. */
  attributes: attributeValuesSchema,
  /** How many notes agents and Zaps have added (Add Note to Contact); `notes` is the contact's own free text. */
  notesCount: z.number().int().nonnegative(),
});

export const ATTRIBUTE_TYPES = ['text', 'number', 'boolean', 'date'] as const;

/** A custom contact attribute the workspace defined (GET /v1/contact-attributes). */
export const attributeDefinitionSchema = z.object({
  key: z.string(),
  label: z.string(),
  type: z.enum(ATTRIBUTE_TYPES),
  createdAt: isoDateTime,
});

/** A note on a contact (Add Note to Contact). */
export const noteSchema = z.object({
  id: prefixedId('note'),
  contactId: prefixedId('con'),
  body: z.string(),
  /** An agent (agt_…) or an API key (key_…, a Zap; `name` is the key's name). */
  author: z.object({ type: z.enum(['agent', 'api_key']), id: z.string(), name: z.string() }),
  createdAt: isoDateTime,
});

/**
 * The form two tags are compared in, by the API (one tag per form on a record) and by Tag Added's filter:
 * trimmed, Unicode NFC (a precomposed and a decomposed "é" are one), then upper- and lower-cased, which is
 * full case folding for every script JavaScript folds ("ß" matches "SS", "Σ" matches "σ").
 */
export function tagKey(tag: string): string {
  return tag.trim().normalize('NFC').toUpperCase().toLowerCase();
}

/** What tagging or untagging answers: the record's kind and id and all its tags now. */
export const tagsResultSchema = z.object({
  recordType: z.enum(['contact', 'conversation']),
  recordId: z.string(),
  /** The tag as the request gave it (trimmed). */
  tag: z.string(),
  /** false when the record already had the tag (added) or did not have it (removed): nothing changed. */
  changed: z.boolean(),
  tags: z.array(z.string()),
});

export const MESSAGE_SENDER_TYPES = ['visitor', 'assistant', 'agent', 'integration'] as const;

export const messageSchema = z.object({
  id: prefixedId('msg'),
  conversationId: prefixedId('cnv'),
  body: z.string(),
  /** `integration` for messages a Zap sent. */
  senderType: z.enum(MESSAGE_SENDER_TYPES),
  createdAt: isoDateTime,
});

/**
 * A conversation read by id (GET /v1/conversations/{id}, Find Conversation) or just closed: the event record,
 * where it belongs, who closed it, its tags, how many messages it has and the latest of them, oldest first.
 */
export const conversationDetailSchema = conversationSchema.extend({
  assistantId: z.string(),
  assistantName: z.string(),
  updatedAt: isoDateTime,
  closedAt: isoDateTime.nullable(),
  closedBy: closerSchema.nullable(),
  tags: z.array(z.string()),
  messageCount: z.number().int().nonnegative(),
  /** At most the 20 latest messages, oldest first. */
  recentMessages: z.array(messageSchema),
});

/**
 * A REST-hook subscription as the API reports it (POST /v1/subscriptions, GET /v1/subscriptions). The
 * optional `assistantId` filter travels with it, so IllumiChat filters events, not the Zap.
 */
export const subscriptionSchema = z.object({
  id: prefixedId('sub'),
  eventType: eventTypeSchema,
  /** The hook URL Zapier handed over; deliveries are POSTed here. */
  targetUrl: z.string(),
  assistantId: z.string().nullable(),
  active: z.boolean(),
  createdAt: isoDateTime,
});

/**
 * What subscribe answers (201, or 200 for the same subscribe again): the subscription with the secret its
 * deliveries are signed with (Standard Webhooks, `whsec_…`), shown only here. The Zapier app keeps it as
 * `bundle.subscribeData` and checks each delivery's signature with the secret.
 */
export const subscribedSchema = subscriptionSchema.extend({ secret: z.string().startsWith('whsec_') });

/** Why a subscription stopped: unsubscribed (by id or URL), key_revoked, gone (410), failing (disabled), replaced (a newer subscribe to its URL). */
export const DEACTIVATION_REASONS = ['unsubscribed', 'key_revoked', 'gone', 'failing', 'replaced'] as const;

/** A subscription in GET /v1/subscriptions: its state and why it stopped, never its secret. */
export const subscriptionStatusSchema = subscriptionSchema.extend({
  /** Null while active. */
  deactivatedReason: z.enum(DEACTIVATION_REASONS).nullable(),
  deactivatedAt: isoDateTime.nullable(),
  /** The latest failed attempt's error while deliveries are failing (or when they made it stop); else null. */
  lastDeliveryError: z.string().nullable(),
});

export type ContactRecord = z.infer<typeof contactSchema>;
export type AttributeType = (typeof ATTRIBUTE_TYPES)[number];
export type AttributeDefinitionRecord = z.infer<typeof attributeDefinitionSchema>;
export type NoteRecord = z.infer<typeof noteSchema>;
export type TagsResultRecord = z.infer<typeof tagsResultSchema>;
export type MessageRecord = z.infer<typeof messageSchema>;
export type ConversationDetailRecord = z.infer<typeof conversationDetailSchema>;
export type SubscriptionRecord = z.infer<typeof subscriptionSchema>;
export type SubscribedRecord = z.infer<typeof subscribedSchema>;
export type SubscriptionStatusRecord = z.infer<typeof subscriptionStatusSchema>;
export type DeactivationReason = (typeof DEACTIVATION_REASONS)[number];

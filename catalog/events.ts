/**
 * The one catalog of IllumiChat's Zapier events: every event type, its label, when it fires, and the exact
 * shape of the record a Zap receives for it. The partner API validates what it delivers against these
 * schemas, the Zapier app derives its dropdown and output fields from them, fixtures/ holds one sample per
 * type that must parse here, and docs/events.md is generated from this file.
 */
import { z } from 'zod';

export const isoDateTime = z.iso.datetime({ offset: true });
/** An id with its type's prefix (`con_…`), as every record in the catalog has. */
export const prefixedId = (prefix: string) => z.string().startsWith(`${prefix}_`);

export const agentSchema = z.object({
  id: prefixedId('agt'),
  name: z.string(),
  email: z.string(),
});

/** A conversation as every conversation and live-chat event reports it. */
export const conversationSchema = z.object({
  id: prefixedId('cnv'),
  channel: z.enum(['widget', 'in_app']),
  /** `assistant` while the AI answers; `human` while an agent holds it (live-chat takeover). */
  mode: z.enum(['assistant', 'human']),
  status: z.enum(['open', 'closed']),
  startedAt: isoDateTime,
  visitorId: z.string().nullable(),
  visitorName: z.string().nullable(),
  visitorEmail: z.string().nullable(),
  pageUrl: z.string().nullable(),
  contactId: z.string().nullable(),
  firstMessage: z.string().nullable(),
});

export const liveChatSessionSchema = z.object({
  id: prefixedId('lcs'),
  status: z.enum(['queued', 'active', 'ended']),
  queuedAt: isoDateTime,
  assignedAt: isoDateTime.nullable(),
  endedAt: isoDateTime.nullable(),
  agentId: z.string().nullable(),
  agentName: z.string().nullable(),
  agentEmail: z.string().nullable(),
});

export const TICKET_STATUSES = ['new', 'open', 'pending', 'resolved', 'closed'] as const;
export const TICKET_PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;
export const TICKET_SOURCES = ['api', 'agent', 'chat'] as const;

export const ticketSchema = z.object({
  id: prefixedId('tkt'),
  number: z.number().int().positive(),
  subject: z.string(),
  description: z.string().nullable(),
  status: z.enum(TICKET_STATUSES),
  priority: z.enum(TICKET_PRIORITIES),
  source: z.enum(TICKET_SOURCES),
  assigneeId: z.string().nullable(),
  assigneeName: z.string().nullable(),
  assigneeEmail: z.string().nullable(),
  contactId: z.string().nullable(),
  contactName: z.string().nullable(),
  contactEmail: z.string().nullable(),
  conversationId: z.string().nullable(),
  createdAt: isoDateTime,
  updatedAt: isoDateTime,
  resolvedAt: isoDateTime.nullable(),
  closedAt: isoDateTime.nullable(),
});

export const LEAD_SOURCES = ['widget_form', 'crm', 'api'] as const;

/**
 * A contact's values of the workspace's custom attributes, by key: text and date (`YYYY-MM-DD`) as strings,
 * number, boolean. The keys are the workspace's own, so Zapier's fields for them are listed live.
 */
export const attributeValuesSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

/** Lead Captured delivers this flat record: the spec's nine output fields, and the contact's custom attributes. */
export const leadSchema = z.object({
  id: prefixedId('con'),
  name: z.string().nullable(),
  email: z.string(),
  phone: z.string().nullable(),
  source: z.enum(LEAD_SOURCES),
  /** false when a lead form matched a contact the CRM already had. */
  isNew: z.boolean(),
  createdAt: isoDateTime,
  assistantId: z.string().nullable(),
  assistantName: z.string().nullable(),
  /** The contact's custom attribute values (issue 14); a key Zaps see as `attributes__<key>`. */
  attributes: attributeValuesSchema,
});

/** Every conversation event, and tag.added, is this envelope; only `data` differs by type. */
function eventEnvelope<T extends z.ZodRawShape>(type: string, data: T) {
  return z.object({
    id: prefixedId('evt'),
    type: z.literal(type),
    createdAt: isoDateTime,
    workspaceId: prefixedId('ws'),
    assistantId: z.string().nullable(),
    assistantName: z.string().nullable(),
    data: z.object(data),
  });
}

const ticketData = { ticket: ticketSchema };

/** Who closed a conversation: an agent (agt_…) or the conversation's assistant (ast_…). */
export const closerSchema = z.object({
  type: z.enum(['agent', 'assistant']),
  id: z.string(),
  name: z.string(),
});

export const TAGGED_RECORD_TYPES = ['contact', 'conversation'] as const;

/** Who added a tag: an agent in the console, or an API key (a Zap; `name` is the key's name). */
export const taggerSchema = z.object({
  type: z.enum(['agent', 'api_key']),
  id: z.string(),
  name: z.string(),
});
const liveChatData = { session: liveChatSessionSchema, conversation: conversationSchema };

export const CONVERSATION_EVENTS = {
  'ticket.created': {
    label: 'Ticket Created',
    firesWhen: 'A support ticket is opened',
    schema: eventEnvelope('ticket.created', ticketData),
  },
  'ticket.assigned': {
    label: 'Ticket Assigned',
    firesWhen: 'A ticket is assigned to an agent',
    schema: eventEnvelope('ticket.assigned', { ...ticketData, previousAssigneeId: z.string().nullable() }),
  },
  'ticket.status_changed': {
    label: 'Ticket Status Changed',
    firesWhen: 'A ticket’s status changes',
    schema: eventEnvelope('ticket.status_changed', { ...ticketData, previousStatus: z.enum(TICKET_STATUSES) }),
  },
  'live_chat.session_queued': {
    label: 'Live Chat Queued for an Agent',
    firesWhen: 'A conversation is queued for a human agent',
    schema: eventEnvelope('live_chat.session_queued', { ...liveChatData, reason: z.string().nullable() }),
  },
  'live_chat.agent_assigned': {
    label: 'Live Chat Picked Up by an Agent',
    firesWhen: 'A human agent picks up a live chat',
    schema: eventEnvelope('live_chat.agent_assigned', { ...liveChatData, agent: agentSchema }),
  },
  'live_chat.session_transferred': {
    label: 'Live Chat Transferred',
    firesWhen: 'A live chat is handed to another agent',
    schema: eventEnvelope('live_chat.session_transferred', {
      ...liveChatData,
      fromAgent: agentSchema,
      toAgent: agentSchema,
      note: z.string().nullable(),
    }),
  },
  'live_chat.session_ended': {
    label: 'Live Chat Ended',
    firesWhen: 'A live chat session ends',
    schema: eventEnvelope('live_chat.session_ended', {
      ...liveChatData,
      endedBy: z.enum(['agent', 'visitor', 'system']),
      durationSeconds: z.number().int().nonnegative(),
    }),
  },
  'chat.conversation_started': {
    label: 'In-App Conversation Started',
    firesWhen: 'A new in-app conversation begins',
    schema: eventEnvelope('chat.conversation_started', { conversation: conversationSchema }),
  },
  'widget.conversation_started': {
    label: 'Widget Conversation Started',
    firesWhen: 'A website visitor starts a widget conversation',
    schema: eventEnvelope('widget.conversation_started', { conversation: conversationSchema }),
  },
  'conversation.closed': {
    label: 'Conversation Closed',
    firesWhen: 'An agent or the assistant closes a conversation',
    schema: eventEnvelope('conversation.closed', {
      conversation: conversationSchema,
      closedBy: closerSchema,
      closedAt: isoDateTime,
      /** Every message of the conversation: the visitor's, the assistant's, agents' and Zaps'. */
      messageCount: z.number().int().nonnegative(),
      /** From the conversation's start to its closing, in whole seconds. */
      durationSeconds: z.number().int().nonnegative(),
    }),
  },
} as const;

export type ConversationEventType = keyof typeof CONVERSATION_EVENTS;
export const CONVERSATION_EVENT_TYPES = Object.keys(CONVERSATION_EVENTS) as ConversationEventType[];

export const LEAD_CAPTURED = 'lead.captured' as const;
export const LEAD_EVENT = {
  label: 'Lead Captured',
  firesWhen: 'A new contact is created: a widget lead form is submitted, or a contact is added to the CRM',
  schema: leadSchema,
} as const;

export const TAG_ADDED = 'tag.added' as const;
export const TAG_ADDED_EVENT = {
  label: 'Tag Added',
  firesWhen: 'A tag is added to a contact or a conversation (adding a tag the record already has fires nothing)',
  schema: eventEnvelope(TAG_ADDED, {
    /** As given when it was first added to the record (trimmed); matching is case-insensitive. */
    tag: z.string(),
    recordType: z.enum(TAGGED_RECORD_TYPES),
    /** The contact's (con_…) or the conversation's (cnv_…) id. */
    recordId: z.string(),
    /** The contact tagged, or the tagged conversation's contact when the visitor left an email. */
    contactId: z.string().nullable(),
    contactEmail: z.string().nullable(),
    contactName: z.string().nullable(),
    /** The tagged conversation; null for a contact's tag. */
    conversationId: z.string().nullable(),
    addedBy: taggerSchema,
  }),
} as const;

export type EventType = ConversationEventType | typeof LEAD_CAPTURED | typeof TAG_ADDED;
export const EVENT_TYPES: readonly EventType[] = [LEAD_CAPTURED, ...CONVERSATION_EVENT_TYPES, TAG_ADDED];

export const eventTypeSchema = z.enum(EVENT_TYPES as [EventType, ...EventType[]]);

/** The schema of the record a subscription to `type` receives (and that Test trigger shows). */
export function payloadSchema(type: EventType): z.ZodObject {
  return eventEntry(type).schema;
}

export function eventLabel(type: EventType): string {
  return eventEntry(type).label;
}

function eventEntry(type: EventType): { label: string; firesWhen: string; schema: z.ZodObject } {
  if (type === LEAD_CAPTURED) return LEAD_EVENT;
  if (type === TAG_ADDED) return TAG_ADDED_EVENT;
  return CONVERSATION_EVENTS[type];
}

export type LeadRecord = z.infer<typeof leadSchema>;
export type AttributeValues = z.infer<typeof attributeValuesSchema>;
export type TicketRecord = z.infer<typeof ticketSchema>;
export type ConversationRecord = z.infer<typeof conversationSchema>;
export type LiveChatSessionRecord = z.infer<typeof liveChatSessionSchema>;
export type AgentRecord = z.infer<typeof agentSchema>;
export type CloserRecord = z.infer<typeof closerSchema>;
export type TaggerRecord = z.infer<typeof taggerSchema>;
export type TaggedRecordType = (typeof TAGGED_RECORD_TYPES)[number];

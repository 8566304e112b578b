/**
 * Rows as stored → records as the API and its events show them. Event records are exactly the catalog's
 * shapes (catalog/events.ts), and so is the contact record (catalog/records.ts).
 */
import type {
  AgentRecord,
  ConversationRecord,
  LeadRecord,
  LiveChatSessionRecord,
  TicketRecord,
} from '../../catalog/events';
import type { ContactRecord } from '../../catalog/records';
import { parseAttributeValues } from './attributes';

export type { ContactRecord };

export interface ContactRow {
  id: string;
  workspace_id: string;
  email: string;
  name: string | null;
  phone: string | null;
  company: string | null;
  notes: string | null;
  source: LeadRecord['source'];
  assistant_id: string | null;
  /** JSON: the custom attribute values (domain/attributes.ts). */
  attributes: string;
  created_at: string;
  updated_at: string;
}

/** The contact record; its tags and notes count live in their own tables, so the caller reads them (domain/contacts.ts). */
export function contactRecord(r: ContactRow, related: { tags: string[]; notesCount: number }): ContactRecord {
  return {
    id: r.id,
    email: r.email,
    name: r.name,
    phone: r.phone,
    company: r.company,
    notes: r.notes,
    source: r.source,
    assistantId: r.assistant_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    tags: related.tags,
    attributes: parseAttributeValues(r.attributes),
    notesCount: related.notesCount,
  };
}

/**
 * Lead Captured's flat record. `source` is how this capture happened (a lead form can match a contact the
 * CRM already had: then isNew is false); id and createdAt are the contact's.
 */
export function leadRecord(
  contact: ContactRow,
  capture: { source: LeadRecord['source']; isNew: boolean; assistant: { id: string; name: string } | null },
): LeadRecord {
  return {
    id: contact.id,
    name: contact.name,
    email: contact.email,
    phone: contact.phone,
    source: capture.source,
    isNew: capture.isNew,
    createdAt: contact.created_at,
    assistantId: capture.assistant?.id ?? null,
    assistantName: capture.assistant?.name ?? null,
    attributes: parseAttributeValues(contact.attributes),
  };
}

/** A ticket row joined with its assignee and contact (see TICKET_SELECT). */
export interface TicketRow {
  id: string;
  workspace_id: string;
  number: number;
  subject: string;
  description: string | null;
  status: TicketRecord['status'];
  priority: TicketRecord['priority'];
  source: TicketRecord['source'];
  assignee_id: string | null;
  assignee_name: string | null;
  assignee_email: string | null;
  contact_id: string | null;
  contact_name: string | null;
  contact_email: string | null;
  conversation_id: string | null;
  created_at: string;
  updated_at: string;
  resolved_at: string | null;
  closed_at: string | null;
}

// Names come from scalar subqueries rather than joins: on this SQLite build a two-table join cost 15-30 us
// per row where a subquery on the primary key costs under 5 (measured; it is on every hot path).
export const TICKET_SELECT = `
  SELECT t.*,
         (SELECT name FROM agents WHERE id = t.assignee_id) AS assignee_name,
         (SELECT email FROM agents WHERE id = t.assignee_id) AS assignee_email,
         (SELECT name FROM contacts WHERE id = t.contact_id) AS contact_name,
         (SELECT email FROM contacts WHERE id = t.contact_id) AS contact_email
    FROM tickets t`;

export function ticketRecord(r: TicketRow): TicketRecord {
  return {
    id: r.id,
    number: r.number,
    subject: r.subject,
    description: r.description,
    status: r.status,
    priority: r.priority,
    source: r.source,
    assigneeId: r.assignee_id,
    assigneeName: r.assignee_name,
    assigneeEmail: r.assignee_email,
    contactId: r.contact_id,
    contactName: r.contact_name,
    contactEmail: r.contact_email,
    conversationId: r.conversation_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    resolvedAt: r.resolved_at,
    closedAt: r.closed_at,
  };
}

export interface ConversationRow {
  id: string;
  workspace_id: string;
  assistant_id: string;
  assistant_name: string;
  channel: ConversationRecord['channel'];
  mode: ConversationRecord['mode'];
  status: ConversationRecord['status'];
  visitor_id: string | null;
  visitor_name: string | null;
  visitor_email: string | null;
  page_url: string | null;
  contact_id: string | null;
  first_message: string | null;
  started_at: string;
  updated_at: string;
  closed_at: string | null;
  closed_by_type: 'agent' | 'assistant' | null;
  closed_by_id: string | null;
}

export const CONVERSATION_SELECT = `
  SELECT v.*, (SELECT name FROM assistants WHERE id = v.assistant_id) AS assistant_name
    FROM conversations v`;

export function conversationRecord(r: ConversationRow): ConversationRecord {
  return {
    id: r.id,
    channel: r.channel,
    mode: r.mode,
    status: r.status,
    startedAt: r.started_at,
    visitorId: r.visitor_id,
    visitorName: r.visitor_name,
    visitorEmail: r.visitor_email,
    pageUrl: r.page_url,
    contactId: r.contact_id,
    firstMessage: r.first_message,
  };
}

/** What the API answers about a conversation: the event record plus where it belongs. */
export function conversationResource(r: ConversationRow) {
  return {
    ...conversationRecord(r),
    assistantId: r.assistant_id,
    assistantName: r.assistant_name,
    updatedAt: r.updated_at,
  };
}

export interface SessionRow {
  id: string;
  workspace_id: string;
  conversation_id: string;
  status: LiveChatSessionRecord['status'];
  reason: string | null;
  agent_id: string | null;
  agent_name: string | null;
  agent_email: string | null;
  queued_at: string;
  assigned_at: string | null;
  ended_at: string | null;
}

export const SESSION_SELECT = `
  SELECT l.*,
         (SELECT name FROM agents WHERE id = l.agent_id) AS agent_name,
         (SELECT email FROM agents WHERE id = l.agent_id) AS agent_email
    FROM live_chat_sessions l`;

export function sessionRecord(r: SessionRow): LiveChatSessionRecord {
  return {
    id: r.id,
    status: r.status,
    queuedAt: r.queued_at,
    assignedAt: r.assigned_at,
    endedAt: r.ended_at,
    agentId: r.agent_id,
    agentName: r.agent_name,
    agentEmail: r.agent_email,
  };
}

export function agentRecord(a: { id: string; name: string; email: string }): AgentRecord {
  return { id: a.id, name: a.name, email: a.email };
}

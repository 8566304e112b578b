/**
 * Support tickets. Opening one fires ticket.created, assigning ticket.assigned, a status change
 * ticket.status_changed; each in the transaction of its change. Resolved and closed stamp their times; a
 * ticket moved back to new, open or pending is no longer resolved or closed, so both stamps are cleared.
 */
import { z } from 'zod';

import type { TicketRecord } from '../../catalog/events';
import type { AppContext } from '../context';
import { inTransaction } from '../context';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
import { findContactRow } from './contacts';
import { requireConversation } from './conversations';
import { ApiError } from './errors';
import { type AssistantRef, emitConversationEvent } from './events';
import { decodeCursor, type Page, toPage } from './pagination';
import { TICKET_SELECT, ticketRecord, type TicketRow } from './records';
import { requireAgent } from './workspaces';

export type TicketStatus = TicketRecord['status'];
export type TicketPriority = TicketRecord['priority'];

export interface NewTicket {
  subject: string;
  description?: string | undefined;
  priority?: TicketPriority | undefined;
  contactEmail?: string | undefined;
  conversationId?: string | undefined;
}

/**
 * The 422 contact_not_found error (returned, not thrown): states what is missing and no more; what to do next depends on who asked, so each
 * route adds its own advice (http/tickets.ts) and the Zapier app has its own words for the code.
 */
export function contactNotFound(email: string): ApiError {
  return new ApiError(422, 'contact_not_found', `No contact in this workspace has the email ${email}.`);
}

async function ticketRow(ctx: AppContext, workspaceId: string, id: string): Promise<TicketRow | null> {
  return await ctx.db.one<TicketRow>(`${TICKET_SELECT} WHERE t.id = ? AND t.workspace_id = ?`, id, workspaceId);
}

/** Find Ticket by id (GET /v1/tickets/{id}); throws 404 not_found when it is not the workspace's. */
export async function getTicket(ctx: AppContext, workspaceId: string, id: string): Promise<TicketRecord> {
  return ticketRecord(await requireTicket(ctx, workspaceId, id));
}

/** Find Ticket by number (GET /v1/tickets?number=…): the workspace's ticket with it, or null. */
export async function ticketByNumber(
  ctx: AppContext,
  workspaceId: string,
  number: number,
): Promise<TicketRecord | null> {
  const row = await ctx.db.one<TicketRow>(
    `${TICKET_SELECT} WHERE t.workspace_id = ? AND t.number = CAST(? AS BIGINT)`,
    workspaceId,
    number,
  );
  return row ? ticketRecord(row) : null;
}

async function requireTicket(ctx: AppContext, workspaceId: string, id: string): Promise<TicketRow> {
  const row = await ticketRow(ctx, workspaceId, id);
  if (!row) throw new ApiError(404, 'not_found', `No ticket ${id} in this workspace.`);
  return row;
}

/** The assistant of the ticket's conversation, which ticket events report (null for tickets outside chat). */
async function ticketAssistant(ctx: AppContext, ticket: TicketRow): Promise<AssistantRef | null> {
  if (!ticket.conversation_id) return null;
  const row = await ctx.db.one(
    'SELECT a.id, a.name FROM conversations v JOIN assistants a ON a.id = v.assistant_id WHERE v.id = ?',
    ticket.conversation_id,
  );
  return (row as AssistantRef | undefined) ?? null;
}

async function emitTicketEvent(
  ctx: AppContext,
  ticket: TicketRow,
  type: 'ticket.created' | 'ticket.assigned' | 'ticket.status_changed',
  extra = {},
): Promise<void> {
  await emitConversationEvent(ctx, {
    workspaceId: ticket.workspace_id,
    type,
    assistant: await ticketAssistant(ctx, ticket),
    data: { ticket: ticketRecord(ticket), ...extra },
  });
}

/**
 * Opens a ticket (status new, priority normal unless given, the next number of the workspace) and fires
 * ticket.created. Throws 422 contact_not_found when contactEmail matches no contact of the workspace, 404
 * not_found when conversationId is not the workspace's.
 */
export async function createTicket(
  ctx: AppContext,
  workspaceId: string,
  input: NewTicket,
  source: 'api' | 'agent',
): Promise<TicketRecord> {
  return await inTransaction(ctx, async (ctx) => {
    const contact = input.contactEmail ? await findContactRow(ctx, workspaceId, input.contactEmail) : null;
    if (input.contactEmail && !contact) throw contactNotFound(input.contactEmail);
    if (input.conversationId) await requireConversation(ctx, workspaceId, input.conversationId);
    // The workspace's counter row (migration 011), taken and advanced in one statement: two writers on
    // PostgreSQL wait on the row and get distinct numbers, where MAX(number) + 1 gave both the same.
    const number = (await ctx.db.value<number>(
      `INSERT INTO ticket_counters (workspace_id, last_number) VALUES (?, 1)
       ON CONFLICT (workspace_id) DO UPDATE SET last_number = ticket_counters.last_number + 1
       RETURNING last_number`,
      workspaceId,
    ))!;
    const now = isoAt(ctx.clock.now());
    const id = newId('tkt');
    await ctx.db.run(
      `INSERT INTO tickets (id, workspace_id, number, subject, description, status, priority, source, contact_id, conversation_id, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, 'new', ?, ?, ?, ?, ?, ?)`,
      id,
      workspaceId,
      number,
      input.subject,
      input.description ?? null,
      input.priority ?? 'normal',
      source,
      contact?.id ?? null,
      input.conversationId ?? null,
      now,
      now,
    );
    const ticket = await requireTicket(ctx, workspaceId, id);
    await emitTicketEvent(ctx, ticket, 'ticket.created');
    return ticketRecord(ticket);
  });
}

export interface TicketChanges {
  status?: TicketStatus | undefined;
  priority?: TicketPriority | undefined;
  subject?: string | undefined;
  description?: string | undefined;
}

/** Update Ticket: any of the four fields; ticket.status_changed fires only when the status really changes.
 * Throws 404 not_found when the ticket is not the workspace's. */
export async function updateTicket(
  ctx: AppContext,
  workspaceId: string,
  id: string,
  changes: TicketChanges,
): Promise<TicketRecord> {
  return await inTransaction(ctx, async (ctx) => {
    const before = await requireTicket(ctx, workspaceId, id);
    const status = changes.status ?? before.status;
    const now = isoAt(ctx.clock.now());
    const stamps = statusStamps(before, status, now);
    await ctx.db.run(
      `UPDATE tickets SET subject = ?, description = ?, priority = ?, status = ?, resolved_at = ?, closed_at = ?, updated_at = ? WHERE id = ?`,
      changes.subject ?? before.subject,
      changes.description ?? before.description,
      changes.priority ?? before.priority,
      status,
      stamps.resolvedAt,
      stamps.closedAt,
      now,
      id,
    );
    const after = await requireTicket(ctx, workspaceId, id);
    if (status !== before.status)
      await emitTicketEvent(ctx, after, 'ticket.status_changed', { previousStatus: before.status });
    return ticketRecord(after);
  });
}

function statusStamps(
  before: TicketRow,
  status: TicketStatus,
  now: string,
): { resolvedAt: string | null; closedAt: string | null } {
  if (status === before.status) return { resolvedAt: before.resolved_at, closedAt: before.closed_at };
  if (status === 'resolved') return { resolvedAt: now, closedAt: null };
  if (status === 'closed') return { resolvedAt: before.resolved_at, closedAt: now };
  return { resolvedAt: null, closedAt: null };
}

/** The agent console's status change: updateTicket with the status alone (404 not_found likewise). */
export async function setTicketStatus(
  ctx: AppContext,
  workspaceId: string,
  id: string,
  status: TicketStatus,
): Promise<TicketRecord> {
  return await updateTicket(ctx, workspaceId, id, { status });
}

/** Assigns to an agent of the workspace; assigning the current assignee again changes nothing and fires nothing.
 * Throws 404 not_found when the ticket or the agent is not the workspace's. */
export async function assignTicket(
  ctx: AppContext,
  workspaceId: string,
  id: string,
  agentId: string,
): Promise<TicketRecord> {
  return await inTransaction(ctx, async (ctx) => {
    const before = await requireTicket(ctx, workspaceId, id);
    const agent = await requireAgent(ctx, workspaceId, agentId);
    if (before.assignee_id === agent.id) return ticketRecord(before);
    await ctx.db.run(
      'UPDATE tickets SET assignee_id = ?, updated_at = ? WHERE id = ?',
      agent.id,
      isoAt(ctx.clock.now()),
      id,
    );
    const after = await requireTicket(ctx, workspaceId, id);
    await emitTicketEvent(ctx, after, 'ticket.assigned', { previousAssigneeId: before.assignee_id });
    return ticketRecord(after);
  });
}

const ticketCursor = z.tuple([z.number().int().positive()]);

/** Newest first: ticket numbers grow with every ticket, so they order exactly even within one millisecond.
 * `limit` records per page. Throws 422 validation_failed for a cursor this API did not return.
 * Numbers are bound as BIGINT: PostgreSQL's `number` is INTEGER, and a 32-bit parameter would overflow on the
 * first page's bound (MAX_SAFE_INTEGER) or a large `?number=` (a 500 instead of SQLite's answer). */
export async function listTickets(
  ctx: AppContext,
  workspaceId: string,
  query: { limit: number; cursor?: string | undefined },
): Promise<Page<TicketRecord>> {
  const before = query.cursor ? decodeCursor(query.cursor, ticketCursor)[0] : null;
  const rows = await ctx.db.all<TicketRow>(
    `${TICKET_SELECT} WHERE t.workspace_id = ? AND t.number < CAST(? AS BIGINT) ORDER BY t.number DESC LIMIT ?`,
    workspaceId,
    before ?? Number.MAX_SAFE_INTEGER,
    query.limit + 1,
  );
  return toPage(rows, query.limit, ticketRecord, (r) => [r.number]);
}

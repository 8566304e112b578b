/**
 * The CRM's contacts, matched by email case-insensitively. Creating a contact captures a lead (the
 * `lead.captured` event, in the same transaction); updating one does not, except through the widget's lead
 * form, which always reports the capture (with isNew false when the email was already known).
 */
import type { AppContext } from '../context';
import { inTransaction } from '../context';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
import { checkAttributeValues, mergeAttributeValues, parseAttributeValues } from './attributes';
import { ApiError } from './errors';
import { type AssistantRef, emitLeadCaptured } from './events';
import { type ContactRecord, contactRecord, type ContactRow, leadRecord } from './records';
import { tagsOf, type TagTarget } from './tags';

/** The form contacts are matched by: trimmed and lower-cased (the whole address, as RFC 5321 leaves the local
 * part's case to the receiving host, and people expect Ava@ and ava@ to be one contact). */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export interface ContactFields {
  name?: string | undefined;
  phone?: string | undefined;
  company?: string | undefined;
  notes?: string | undefined;
  /** Custom attribute values to set (null removes one); checked against the workspace's definitions. */
  attributes?: Record<string, unknown> | undefined;
}

/** The contact as the API answers it: the row with its tags and how many notes it has. */
export async function contactResource(ctx: AppContext, row: ContactRow): Promise<ContactRecord> {
  const notesCount = (await ctx.db.value<number>('SELECT COUNT(*) FROM contact_notes WHERE contact_id = ?', row.id))!;
  return contactRecord(row, { tags: await tagsOf(ctx, row.id), notesCount });
}

/** The record of a contact created in this very transaction: it has no tags or notes yet, so nothing to read. */
function createdContactResource(row: ContactRow): ContactRecord {
  return contactRecord(row, { tags: [], notesCount: 0 });
}

/** The workspace's contact `id`; throws 404 not_found when there is none or it is another workspace's. */
export async function requireContact(ctx: AppContext, workspaceId: string, id: string): Promise<ContactRow> {
  const row = await ctx.db.one<ContactRow>('SELECT * FROM contacts WHERE id = ? AND workspace_id = ?', id, workspaceId);
  if (!row) throw new ApiError(404, 'not_found', `No contact ${id} in this workspace.`);
  return row;
}

/** The workspace's contact with this email (case-insensitive), as stored; null when there is none. */
export async function findContactRow(ctx: AppContext, workspaceId: string, email: string): Promise<ContactRow | null> {
  return await ctx.db.one<ContactRow>(
    'SELECT * FROM contacts WHERE workspace_id = ? AND email_normalized = ?',
    workspaceId,
    normalizeEmail(email),
  );
}

/** Find Contact: the workspace's contact with this email as a record, or null (the search answers []). */
export async function findContact(ctx: AppContext, workspaceId: string, email: string): Promise<ContactRecord | null> {
  const row = await findContactRow(ctx, workspaceId, email);
  return row ? await contactResource(ctx, row) : null;
}

const UPSERT = `INSERT INTO contacts (id, workspace_id, email, email_normalized, name, phone, company, notes, source, assistant_id, attributes, created_at, updated_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (workspace_id, email_normalized) DO UPDATE`;
/** The fields a create-or-update merges; one absent from the request is NULL in `excluded`. */
const MERGED_FIELDS = ['name', 'phone', 'company', 'notes'] as const;
/**
 * The upsert whose DO UPDATE takes each merged field from `first` when it is not NULL, else from `second`:
 * `excluded` is the row proposed (the given fields), `contacts` the one stored. RETURNING *: the row as
 * stored now (the new one, or the one updated), with no read after the write.
 */
const upsertPreferring = (first: 'excluded' | 'contacts', second: 'excluded' | 'contacts') => `${UPSERT}
  SET ${MERGED_FIELDS.map((field) => `${field} = COALESCE(${first}.${field}, ${second}.${field})`).join(', ')},
      updated_at = excluded.updated_at
  RETURNING *`;
/** An upsert whose given fields replace the stored ones. */
const UPSERT_REPLACING = upsertPreferring('excluded', 'contacts');
/** An upsert whose given fields only fill the stored ones that are blank. */
const UPSERT_FILLING_BLANKS = upsertPreferring('contacts', 'excluded');

/**
 * The workspace's contact with this email: inserted with `fields` when there is none (`created` true), else
 * updated with them in the same statement: a given field replaces the stored one, or with `fillBlanksOnly`
 * only fills a blank one (a visitor's form must not overwrite what the CRM has). Given attribute values are
 * merged into the stored ones. One write in the common case (no attributes): an insert-or-lock followed by
 * an UPDATE wrote the row twice and ran updates at 0.86× the pre-async build's requests/s.
 *
 * Safe with many writers on either engine: the unique (workspace_id, email_normalized) decides which of two
 * concurrent inserts creates the contact, and the other's DO UPDATE merges into the row as committed (on
 * PostgreSQL it waits for that row's lock, and then holds it), so neither update is lost; the attribute
 * merge reads the row the DO UPDATE returned, under that lock.
 */
async function insertOrUpdateContact(
  ctx: AppContext,
  workspaceId: string,
  email: string,
  fields: ContactFields,
  origin: { source: ContactRow['source']; assistant: AssistantRef | null; fillBlanksOnly: boolean },
): Promise<{ row: ContactRow; created: boolean }> {
  const now = isoAt(ctx.clock.now());
  const id = newId('con');
  // Checked before anything is written (422 for an attribute the workspace has not defined).
  const changes = fields.attributes ? await checkAttributeValues(ctx, workspaceId, fields.attributes) : new Map();
  const attributes = mergeAttributeValues({}, changes);
  const row = (await ctx.db.one<ContactRow>(
    origin.fillBlanksOnly ? UPSERT_FILLING_BLANKS : UPSERT_REPLACING,
    id,
    workspaceId,
    email.trim(),
    normalizeEmail(email),
    fields.name ?? null,
    fields.phone ?? null,
    fields.company ?? null,
    fields.notes ?? null,
    origin.source,
    origin.assistant?.id ?? null,
    JSON.stringify(attributes),
    now,
    now,
  ))!;
  const created = row.id === id;
  if (created || changes.size === 0) return { row, created };
  const values = mergeAttributeValues(parseAttributeValues(row.attributes), changes);
  const updated = (await ctx.db.one<ContactRow>(
    'UPDATE contacts SET attributes = ? WHERE id = ? RETURNING *',
    JSON.stringify(values),
    row.id,
  ))!; // the row is there: the statement above wrote it in this transaction
  return { row: updated, created };
}

/**
 * Create or update by email. A new contact fires lead.captured with `source` (api for the Zapier action,
 * crm for the agent console) and isNew true; an update fires nothing. Given fields replace stored ones; absent
 * fields keep theirs; given attribute values are merged into the stored ones. `created` tells the caller whether
 * to answer 201 or 200. Throws 422 validation_failed for an attribute the workspace has not defined or a value
 * not of its type (domain/attributes.ts).
 */
export async function upsertContact(
  ctx: AppContext,
  workspaceId: string,
  input: { email: string } & ContactFields,
  source: 'api' | 'crm',
): Promise<{ contact: ContactRecord; created: boolean }> {
  return await inTransaction(ctx, async (ctx) => {
    const { email, ...fields } = input;
    const { row, created } = await insertOrUpdateContact(ctx, workspaceId, email, fields, {
      source,
      assistant: null,
      fillBlanksOnly: false,
    });
    if (!created) return { contact: await contactResource(ctx, row), created: false };
    await emitLeadCaptured(ctx, workspaceId, leadRecord(row, { source, isNew: true, assistant: null }));
    return { contact: createdContactResource(row), created: true };
  });
}

/**
 * The widget's lead form: always a capture (lead.captured, source widget_form). A known email keeps its
 * contact (isNew false) and only gains the fields it lacked. The conversation is linked to the contact.
 * The caller has found the conversation (a public endpoint keys on its id); raises no ApiError of its own.
 */
export async function captureWidgetLead(
  ctx: AppContext,
  conversation: { id: string; workspaceId: string; assistant: AssistantRef },
  input: { email: string; name?: string | undefined; phone?: string | undefined },
): Promise<{ contact: ContactRecord; isNew: boolean }> {
  return await inTransaction(ctx, async (ctx) => {
    const { email, ...fields } = input;
    const { row, created } = await insertOrUpdateContact(ctx, conversation.workspaceId, email, fields, {
      source: 'widget_form',
      assistant: conversation.assistant,
      fillBlanksOnly: true,
    });
    await ctx.db.run(
      `UPDATE conversations
          SET contact_id = ?, visitor_email = COALESCE(visitor_email, ?),
              visitor_email_normalized = COALESCE(visitor_email_normalized, ?),
              visitor_name = COALESCE(visitor_name, ?), updated_at = ?
        WHERE id = ?`,
      row.id,
      row.email,
      normalizeEmail(row.email),
      row.name,
      isoAt(ctx.clock.now()),
      conversation.id,
    );
    const isNew = created;
    await emitLeadCaptured(
      ctx,
      conversation.workspaceId,
      leadRecord(row, { source: 'widget_form', isNew, assistant: conversation.assistant }),
    );
    return { contact: isNew ? createdContactResource(row) : await contactResource(ctx, row), isNew };
  });
}

/** The workspace's contact `id` as a tag's target; throws 404 not_found as requireContact does. */
export async function contactTagTarget(ctx: AppContext, workspaceId: string, id: string): Promise<TagTarget> {
  const row = await requireContact(ctx, workspaceId, id);
  return {
    workspaceId,
    recordType: 'contact',
    recordId: row.id,
    assistant: null,
    contact: { id: row.id, email: row.email, name: row.name },
    conversationId: null,
  };
}

/**
 * Notes on a contact: what an agent or a Zap wants the team to know, kept as a list with its author and time
 * (the contact's own `notes` field stays one free text that Create or Update Contact may overwrite). A note
 * fires no event: no trigger in the issue asks for one.
 */
import type { NoteRecord } from '../../catalog/records';
import type { AppContext } from '../context';
import { inTransaction } from '../context';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
import type { Actor } from './actors';
import { requireContact } from './contacts';

/** Characters a note may have, as the contact's own notes field. */
export const NOTE_MAX_LENGTH = 10_000;

/**
 * Adds the note (trimmed, non-blank, checked by the route) to the workspace's contact `contactId` by `author`.
 * Throws 404 not_found when the contact is not the workspace's.
 */
export async function addNote(
  ctx: AppContext,
  workspaceId: string,
  contactId: string,
  body: string,
  author: Actor,
): Promise<NoteRecord> {
  return await inTransaction(ctx, async (ctx) => {
    await requireContact(ctx, workspaceId, contactId);
    const note: NoteRecord = { id: newId('note'), contactId, body, author, createdAt: isoAt(ctx.clock.now()) };
    await ctx.db.run(
      `INSERT INTO contact_notes (id, workspace_id, contact_id, body, author_type, author_id, author_name, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      note.id,
      workspaceId,
      contactId,
      body,
      author.type,
      author.id,
      author.name,
      note.createdAt,
    );
    await ctx.db.run('UPDATE contacts SET updated_at = ? WHERE id = ?', note.createdAt, contactId);
    return note;
  });
}

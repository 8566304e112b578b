/**
 * Tags on contacts and conversations. A tag is one line of 1 to TAG_MAX_LENGTH characters, trimmed, in any
 * script; two tags are the same when their matching forms are (catalog/records.ts tagKey: NFC, case folding),
 * so "VIP", "vip" and " Vip " are one tag and "Straße" matches "STRASSE". A record keeps the spelling its tag
 * was first added with, and holds at most TAGS_PER_RECORD tags. Adding a tag fires tag.added in the same
 * transaction; adding one the record already has, or removing one it lacks, changes nothing and fires nothing.
 */
import type { TaggedRecordType } from '../../catalog/events';
import { tagKey, type TagsResultRecord } from '../../catalog/records';
import type { AppContext } from '../context';
import { inTransaction } from '../context';
import { isoAt } from '../lib/clock';
import type { Actor } from './actors';
import { ApiError } from './errors';
import { type AssistantRef, emitTagAdded } from './events';
import { lockTaggedRecord } from './locks';

/** Characters (code points) a tag may have, after trimming. Intercom allows 190; one line of a chip is enough. */
export const TAG_MAX_LENGTH = 50;
/** Tags one contact or conversation may hold; the next add is 409 tag_limit_reached. */
export const TAGS_PER_RECORD = 100;

/** The record a tag goes on, found and checked by the caller inside the same transaction. */
export interface TagTarget {
  workspaceId: string;
  recordType: TaggedRecordType;
  recordId: string;
  /** The conversation's assistant, which tag.added reports (null for a contact). */
  assistant: AssistantRef | null;
  contact: { id: string; email: string; name: string | null } | null;
  conversationId: string | null;
}

/** The record's tags in the order of their matching form (the primary key's order: no sort). */
export async function tagsOf(ctx: AppContext, recordId: string): Promise<string[]> {
  return await ctx.db.values<string>('SELECT tag FROM record_tags WHERE record_id = ? ORDER BY tag_key', recordId);
}

/**
 * Adds `tag` (trimmed and checked by the route) to the target; fires tag.added when the record did not have it,
 * and otherwise answers with the spelling already stored.
 * Call inside the write's transaction. Throws 409 tag_limit_reached when the record already has TAGS_PER_RECORD.
 */
export async function addTag(ctx: AppContext, target: TagTarget, tag: string, by: Actor): Promise<TagsResultRecord> {
  return await inTransaction(ctx, async (ctx) => {
    const key = tagKey(tag);
    // The record's row lock makes the count below exact with many writers; the primary key (record_id,
    // tag_key) decides between two adds of one tag.
    await lockTaggedRecord(ctx, target.recordType === 'contact' ? 'contacts' : 'conversations', target.recordId);
    const storedSpelling = async () =>
      await ctx.db.value<string>(
        'SELECT tag FROM record_tags WHERE record_id = ? AND tag_key = ?',
        target.recordId,
        key,
      );
    const stored = await storedSpelling();
    if (stored !== null) return await result(ctx, target, stored, false);
    const count = (await ctx.db.value<number>(
      'SELECT COUNT(*) FROM record_tags WHERE record_id = ?',
      target.recordId,
    ))!;
    if (count >= TAGS_PER_RECORD) {
      throw new ApiError(
        409,
        'tag_limit_reached',
        `This ${target.recordType} already has ${TAGS_PER_RECORD} tags, the most one may have. Remove one first.`,
        { fields: { limit: TAGS_PER_RECORD } },
      );
    }
    const inserted = (
      await ctx.db.run(
        `INSERT INTO record_tags (record_id, tag_key, workspace_id, record_type, tag, added_by_type, added_by_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (record_id, tag_key) DO NOTHING`,
        target.recordId,
        key,
        target.workspaceId,
        target.recordType,
        tag,
        by.type,
        by.id,
        isoAt(ctx.clock.now()),
      )
    ).changes;
    // Another add of the same tag committed first (possible only without the lock above): its spelling stands.
    if (inserted === 0) return await result(ctx, target, (await storedSpelling())!, false);
    await emitTagAdded(ctx, {
      workspaceId: target.workspaceId,
      assistant: target.assistant,
      data: {
        tag,
        recordType: target.recordType,
        recordId: target.recordId,
        contactId: target.contact?.id ?? null,
        contactEmail: target.contact?.email ?? null,
        contactName: target.contact?.name ?? null,
        conversationId: target.conversationId,
        addedBy: by,
      },
    });
    return await result(ctx, target, tag, true);
  });
}

/**
 * Removes the tag (matched case-insensitively) if the record has it; fires no event. Raises no ApiError. The
 * answer's `tag` is the spelling that was stored (as an add answers), or `tag` as given when there was none.
 */
export async function removeTag(ctx: AppContext, target: TagTarget, tag: string): Promise<TagsResultRecord> {
  return await inTransaction(ctx, async (ctx) => {
    const removed = await ctx.db.value<string>(
      'DELETE FROM record_tags WHERE record_id = ? AND tag_key = ? RETURNING tag',
      target.recordId,
      tagKey(tag),
    );
    return await result(ctx, target, removed ?? tag, removed !== null);
  });
}

async function result(ctx: AppContext, target: TagTarget, tag: string, changed: boolean): Promise<TagsResultRecord> {
  return {
    recordType: target.recordType,
    recordId: target.recordId,
    tag,
    changed,
    tags: await tagsOf(ctx, target.recordId),
  };
}

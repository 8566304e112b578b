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
import { isoAt } from '../lib/clock';
import { sql, writeTransaction } from '../lib/statements';
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
export function tagsOf(ctx: AppContext, recordId: string): string[] {
  return sql(ctx.db, 'SELECT tag FROM record_tags WHERE record_id = ? ORDER BY tag_key')
    .pluck()
    .all(recordId) as string[];
}

/**
 * Adds `tag` (trimmed and checked by the route) to the target; fires tag.added when the record did not have it,
 * and otherwise answers with the spelling already stored.
 * Call inside the write's transaction. Throws 409 tag_limit_reached when the record already has TAGS_PER_RECORD.
 */
export function addTag(ctx: AppContext, target: TagTarget, tag: string, by: Actor): TagsResultRecord {
  return writeTransaction(ctx.db, () => {
    const key = tagKey(tag);
    // The record's row lock makes the count below exact with many writers; the primary key (record_id,
    // tag_key) decides between two adds of one tag.
    lockTaggedRecord(ctx, target.recordType === 'contact' ? 'contacts' : 'conversations', target.recordId);
    const storedSpelling = () =>
      sql(ctx.db, 'SELECT tag FROM record_tags WHERE record_id = ? AND tag_key = ?')
        .pluck()
        .get(target.recordId, key) as string | undefined;
    const stored = storedSpelling();
    if (stored !== undefined) return result(ctx, target, stored, false);
    const count = sql(ctx.db, 'SELECT COUNT(*) FROM record_tags WHERE record_id = ?')
      .pluck()
      .get(target.recordId) as number;
    if (count >= TAGS_PER_RECORD) {
      throw new ApiError(
        409,
        'tag_limit_reached',
        `This ${target.recordType} already has ${TAGS_PER_RECORD} tags, the most one may have. Remove one first.`,
        { fields: { limit: TAGS_PER_RECORD } },
      );
    }
    const inserted = sql(
      ctx.db,
      `INSERT INTO record_tags (record_id, tag_key, workspace_id, record_type, tag, added_by_type, added_by_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (record_id, tag_key) DO NOTHING`,
    ).run(
      target.recordId,
      key,
      target.workspaceId,
      target.recordType,
      tag,
      by.type,
      by.id,
      isoAt(ctx.clock.now()),
    ).changes;
    // Another add of the same tag committed first (possible only without the lock above): its spelling stands.
    if (inserted === 0) return result(ctx, target, storedSpelling()!, false);
    emitTagAdded(ctx, {
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
    return result(ctx, target, tag, true);
  });
}

/**
 * Removes the tag (matched case-insensitively) if the record has it; fires no event. Raises no ApiError. The
 * answer's `tag` is the spelling that was stored (as an add answers), or `tag` as given when there was none.
 */
export function removeTag(ctx: AppContext, target: TagTarget, tag: string): TagsResultRecord {
  return writeTransaction(ctx.db, () => {
    const removed = sql(ctx.db, 'DELETE FROM record_tags WHERE record_id = ? AND tag_key = ? RETURNING tag')
      .pluck()
      .get(target.recordId, tagKey(tag)) as string | undefined;
    return result(ctx, target, removed ?? tag, removed !== undefined);
  });
}

function result(ctx: AppContext, target: TagTarget, tag: string, changed: boolean): TagsResultRecord {
  return { recordType: target.recordType, recordId: target.recordId, tag, changed, tags: tagsOf(ctx, target.recordId) };
}

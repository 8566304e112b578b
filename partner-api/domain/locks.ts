/**
 * Row locks that mean the same on SQLite and PostgreSQL, for the read-then-write paths no unique constraint
 * can guard (a count against a limit, a key that must still be live at commit).
 *
 * Each is an UPDATE that changes nothing: on PostgreSQL it takes the row's lock until the transaction ends,
 * so a second transaction taking the same lock waits, and under READ COMMITTED its later statements see what
 * the first committed (SELECT … FOR UPDATE, which SQLite does not parse). On SQLite the write transaction
 * already holds the one write lock; the update only rewrites the row in place.
 */
import type { AppContext } from '../context';

/** Serialises writers that count the workspace's rows against a plan limit (subscriptions, attributes). Call
 * inside a write transaction, before counting. Returns false when there is no such workspace. */
export async function lockWorkspace(ctx: AppContext, workspaceId: string): Promise<boolean> {
  return (await ctx.db.run('UPDATE workspaces SET plan = plan WHERE id = ?', workspaceId)).changes === 1;
}

/** Locks the API key while it is live; false when it is revoked (or unknown). Revocation updates the same row,
 * so a subscription made under the lock is seen, and turned off, by a revocation that commits later. */
export async function lockLiveApiKey(ctx: AppContext, keyId: string): Promise<boolean> {
  return (
    (await ctx.db.run('UPDATE api_keys SET revoked_at = revoked_at WHERE id = ? AND revoked_at IS NULL', keyId))
      .changes === 1
  );
}

/** Locks the conversation while it is open; false when it is closed (or unknown). Closing and asking for a
 * human both take it first, so a close cannot miss a live chat queued at the same moment. */
export async function lockOpenConversation(ctx: AppContext, conversationId: string): Promise<boolean> {
  return (
    (await ctx.db.run(`UPDATE conversations SET status = status WHERE id = ? AND status = 'open'`, conversationId))
      .changes === 1
  );
}

/** Serialises tag writers of one record (the per-record limit is a count). `recordId` is a contact's or a
 * conversation's id, as `table` says. */
export async function lockTaggedRecord(
  ctx: AppContext,
  table: 'contacts' | 'conversations',
  recordId: string,
): Promise<void> {
  await ctx.db.run(`UPDATE ${table} SET updated_at = updated_at WHERE id = ?`, recordId);
}

/** Locks the subscription's row (the delivery worker's recording takes subscription rows first, in ascending
 * id order, so that instances recording at once never deadlock: delivery/recording.ts). */
export async function lockSubscription(ctx: AppContext, subscriptionId: string): Promise<void> {
  await ctx.db.run('UPDATE subscriptions SET active = active WHERE id = ?', subscriptionId);
}

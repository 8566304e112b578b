/**
 * REST-hook subscriptions made by Zapier when a Zap is turned on, and removed when it is turned off; and
 * every other way one stops (a revoked key, a 410, deliveries failing for too long, a newer subscribe to its
 * URL), with the deliveries it still owed. Checking the target URL (DNS) is asynchronous and happens before
 * the write; the write itself is one synchronous transaction.
 */
import { z } from 'zod';

import type { EventType } from '../../catalog/events';
import type { DeactivationReason, SubscribedRecord, SubscriptionStatusRecord } from '../../catalog/records';
import type { AppContext } from '../context';
import { inTransaction } from '../context';
import { generateWebhookSecret } from '../delivery/signing';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
import { ApiError, apiKeyRevoked, invalidState, validationFailed } from './errors';
import { lockLiveApiKey, lockWorkspace } from './locks';
import { decodeCursor, type Page, toPage } from './pagination';

export interface NewSubscription {
  workspaceId: string;
  apiKeyId: string;
  eventType: EventType;
  targetUrl: string;
  assistantId?: string | undefined;
}

/** What a subscribe did: made a new subscription, found the same one already active, or replaced another at its URL. */
export type SubscribeOutcome = 'created' | 'existing' | 'replaced';

/**
 * Subscribes, keeping at most one active subscription per workspace and target URL (a hook URL is one Zap's;
 * Zapier retries a subscribe whose answer was lost and does not de-duplicate instant triggers):
 * - the URL's active subscription has the same event type, assistant filter and key: it is returned as it
 *   is (outcome `existing`: same id and secret);
 * - it differs in any of them: it is deactivated (`replaced`) and a new one made in its place;
 * - none is active there: a new one, unless the workspace already holds config.maxSubscriptionsPerWorkspace
 *   active ones: ApiError 409 subscription_limit_reached.
 * Throws 422 validation_failed when assistantId is not this workspace's. Returns the subscription with its
 * signing secret, which is shown only here. One write transaction (a savepoint inside the caller's), so
 * concurrent subscribes see each other; the partial unique index of migration 003 backs the rule.
 */
export async function createSubscription(
  ctx: AppContext,
  input: NewSubscription,
): Promise<{ subscription: SubscribedRecord; outcome: SubscribeOutcome }> {
  return await inTransaction(ctx, async (ctx) => {
    if (input.assistantId) {
      const owned = await ctx.db.one(
        'SELECT 1 FROM assistants WHERE id = ? AND workspace_id = ?',
        input.assistantId,
        input.workspaceId,
      );
      if (!owned)
        throw validationFailed([{ path: 'assistant_id', message: 'No assistant with this id in this workspace.' }]);
    }
    const assistantId = input.assistantId ?? null;
    // The key must still be live when this commits: its row lock orders this against a revocation (which
    // then turns this subscription off too). The workspace's row lock orders concurrent subscribes, so the
    // count below cannot be read alike by two of them on PostgreSQL.
    if (!(await lockLiveApiKey(ctx, input.apiKeyId))) throw apiKeyRevoked();
    await lockWorkspace(ctx, input.workspaceId);
    // The partial unique index of migration 003 decides between two inserts at one URL: the one that finds
    // the URL taken reads the winner and answers as if it had come second. Bounded: each round either
    // answers or saw another writer commit.
    for (let round = 0; round < 3; round++) {
      const current = await activeAt(ctx, input.workspaceId, input.targetUrl);
      if (
        current &&
        current.event_type === input.eventType &&
        current.assistant_id === assistantId &&
        current.api_key_id === input.apiKeyId
      ) {
        const { id, event_type, target_url, assistant_id, secret, created_at } = current;
        return {
          subscription: {
            id,
            eventType: event_type,
            targetUrl: target_url,
            assistantId: assistant_id,
            secret,
            active: true,
            createdAt: created_at,
          },
          outcome: 'existing',
        };
      }
      if (current) {
        await deactivateSubscriptions(ctx, { subscriptionId: current.id }, 'replaced');
      } else {
        const active = (await ctx.db.value<number>(
          'SELECT COUNT(*) FROM subscriptions WHERE workspace_id = ? AND active = 1',
          input.workspaceId,
        ))!;
        const max = ctx.config.maxSubscriptionsPerWorkspace;
        if (active >= max) {
          throw new ApiError(
            409,
            'subscription_limit_reached',
            `This workspace already has ${max} active subscriptions, the most it may have. Turn off Zaps you no longer use, then try again.`,
            { fields: { limit: max } },
          );
        }
      }
      const record = {
        id: newId('sub'),
        eventType: input.eventType,
        targetUrl: input.targetUrl,
        assistantId,
        secret: generateWebhookSecret(),
        active: true,
        createdAt: isoAt(ctx.clock.now()),
      };
      const inserted = (
        await ctx.db.run(
          `INSERT INTO subscriptions (id, workspace_id, api_key_id, event_type, target_url, assistant_id, secret, active, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)
         ON CONFLICT (workspace_id, target_url) WHERE active = 1 DO NOTHING`,
          record.id,
          input.workspaceId,
          input.apiKeyId,
          record.eventType,
          record.targetUrl,
          record.assistantId,
          record.secret,
          record.createdAt,
        )
      ).changes;
      if (inserted === 1) return { subscription: record, outcome: current ? 'replaced' : 'created' };
    }
    // Unreachable while the workspace lock holds; a clear answer rather than a 500 if it ever does not.
    throw invalidState('Other subscribes to this target URL changed it while this one ran. Try again.');
  });
}

/**
 * Turns subscriptions off and cancels what they still had pending (retries included): nothing more goes
 * out for them. For a key, the pending deliveries of its subscriptions already inactive are cancelled too,
 * so a repeat revocation repairs whatever an earlier one left behind. Returns how many were active.
 */
export async function deactivateSubscriptions(
  ctx: AppContext,
  where: { subscriptionId: string } | { apiKeyId: string },
  reason: DeactivationReason,
): Promise<number> {
  const [column, value] = 'subscriptionId' in where ? ['id', where.subscriptionId] : ['api_key_id', where.apiKeyId];
  const at = isoAt(ctx.clock.now());
  return await inTransaction(ctx, async (ctx) => {
    const deactivated = (
      await ctx.db.run(
        `UPDATE subscriptions SET active = 0, deactivated_at = ?, deactivated_reason = ? WHERE ${column} = ? AND active = 1`,
        at,
        reason,
        value,
      )
    ).changes;
    // Every inactive subscription matched, not only those just turned off: a repeat revoke repairs deliveries
    // left pending by an earlier one. One seek per subscription on the partial pending index.
    const ended = await ctx.db.values<string>(`SELECT id FROM subscriptions WHERE ${column} = ? AND active = 0`, value);
    for (const id of ended) await cancelPending(ctx, id, at, `subscription deactivated: ${reason}`);
    return deactivated;
  });
}

async function cancelPending(ctx: AppContext, subscriptionId: string, at: string, why: string): Promise<number> {
  return (
    await ctx.db.run(
      `UPDATE deliveries SET status = 'cancelled', finished_at = ?, last_error = ?, claim_token = NULL
      WHERE subscription_id = ? AND status = 'pending'`,
      at,
      why,
      subscriptionId,
    )
  ).changes;
}

/** Cancels every delivery still pending for the workspace's subscriptions (its plan fell below Pro). */
export async function cancelPendingDeliveries(
  ctx: AppContext,
  where: { workspaceId: string },
  why: string,
): Promise<number> {
  const at = isoAt(ctx.clock.now());
  const ids = await ctx.db.values<string>('SELECT id FROM subscriptions WHERE workspace_id = ?', where.workspaceId);
  let cancelled = 0;
  for (const id of ids) cancelled += await cancelPending(ctx, id, at, why);
  return cancelled;
}

interface ActiveSubscriptionRow {
  id: string;
  api_key_id: string;
  event_type: EventType;
  target_url: string;
  assistant_id: string | null;
  secret: string;
  created_at: string;
}

async function activeAt(
  ctx: AppContext,
  workspaceId: string,
  targetUrl: string,
): Promise<ActiveSubscriptionRow | null> {
  return await ctx.db.one<ActiveSubscriptionRow>(
    `SELECT id, api_key_id, event_type, target_url, assistant_id, secret, created_at
       FROM subscriptions WHERE workspace_id = ? AND target_url = ? AND active = 1`,
    workspaceId,
    targetUrl,
  );
}

/**
 * Unsubscribe is idempotent: a repeat, an unknown id, or another workspace's id all answer the same and
 * change nothing that is not this workspace's own. Raises no ApiError.
 */
export async function unsubscribe(
  ctx: AppContext,
  workspaceId: string,
  id: string,
): Promise<{ id: string; active: false }> {
  await inTransaction(ctx, async (ctx) => {
    const owned = await ctx.db.one('SELECT 1 FROM subscriptions WHERE id = ? AND workspace_id = ?', id, workspaceId);
    if (owned) await deactivateSubscriptions(ctx, { subscriptionId: id }, 'unsubscribed');
  });
  return { id, active: false };
}

/**
 * Unsubscribes the workspace's active subscription at exactly `targetUrl` (for a Zapier unsubscribe that
 * hands over no subscription id) and answers as `unsubscribe` does. Throws 404 not_found when none is
 * active there (so a caller can tell "nothing was listening" from "stopped").
 */
export async function unsubscribeByTarget(
  ctx: AppContext,
  workspaceId: string,
  targetUrl: string,
): Promise<{ id: string; active: false }> {
  return await inTransaction(ctx, async (ctx) => {
    const current = await activeAt(ctx, workspaceId, targetUrl);
    if (!current) throw new ApiError(404, 'not_found', 'No active subscription of this workspace has this target URL.');
    await deactivateSubscriptions(ctx, { subscriptionId: current.id }, 'unsubscribed');
    return { id: current.id, active: false as const };
  });
}

interface SubscriptionRow {
  id: string;
  api_key_id: string;
  event_type: EventType;
  target_url: string;
  assistant_id: string | null;
  active: number;
  created_at: string;
  deactivated_at: string | null;
  deactivated_reason: DeactivationReason | null;
  last_error: string | null;
}

const SUBSCRIPTION_COLUMNS =
  'id, api_key_id, event_type, target_url, assistant_id, active, created_at, deactivated_at, deactivated_reason, last_error';

const subscriptionCursor = z.tuple([z.string(), z.string()]);

/** Every subscription of the workspace, active or not, newest first, `limit` records per page: its state and
 * why, never its secret. Throws 422 validation_failed for a cursor this API did not return. */
export async function listSubscriptions(
  ctx: AppContext,
  workspaceId: string,
  query: { limit: number; cursor?: string | undefined },
): Promise<Page<SubscriptionStatusRecord>> {
  return await pageOfSubscriptions(ctx, workspaceId, query, toStatus);
}

/** The workspace's subscription `id` as Connected Zaps shows it, or null (unknown, or another workspace's). */
export async function findConnectedZap(ctx: AppContext, workspaceId: string, id: string): Promise<ConnectedZap | null> {
  const row = await ctx.db.one<SubscriptionRow>(
    `SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ? AND workspace_id = ?`,
    id,
    workspaceId,
  );
  return row ? { ...toStatus(row), apiKeyId: row.api_key_id } : null;
}

async function pageOfSubscriptions<T>(
  ctx: AppContext,
  workspaceId: string,
  query: { limit: number; cursor?: string | undefined },
  map: (row: SubscriptionRow) => T,
): Promise<Page<T>> {
  const after = query.cursor ? decodeCursor(query.cursor, subscriptionCursor) : null;
  // Newest first by (created_at, id), on subscriptions_by_workspace (migration 011); a later page is its own
  // statement so that each seeks on the index.
  const rows = after
    ? await ctx.db.all<SubscriptionRow>(
        `SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions
          WHERE workspace_id = ? AND (created_at, id) < (?, ?)
          ORDER BY created_at DESC, id DESC LIMIT ?`,
        workspaceId,
        after[0],
        after[1],
        query.limit + 1,
      )
    : await ctx.db.all<SubscriptionRow>(
        `SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE workspace_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`,
        workspaceId,
        query.limit + 1,
      );
  return toPage(rows, query.limit, map, (r) => [r.created_at, r.id]);
}

function toStatus(r: SubscriptionRow): SubscriptionStatusRecord {
  return {
    id: r.id,
    eventType: r.event_type,
    targetUrl: r.target_url,
    assistantId: r.assistant_id,
    active: r.active === 1,
    deactivatedReason: r.deactivated_reason,
    deactivatedAt: r.deactivated_at,
    lastDeliveryError: r.last_error,
    createdAt: r.created_at,
  };
}

/** A subscription as Settings → Connected Zaps shows it: its status record and the key that made it. */
export interface ConnectedZap extends SubscriptionStatusRecord {
  apiKeyId: string;
}

/** Every subscription of the workspace with the key that made it, newest first, `limit` per page (as
 * listSubscriptions). Throws 422 validation_failed for a cursor this API did not return. */
export async function listConnectedZaps(
  ctx: AppContext,
  workspaceId: string,
  query: { limit: number; cursor?: string | undefined },
): Promise<Page<ConnectedZap>> {
  return await pageOfSubscriptions(ctx, workspaceId, query, (r) => ({ ...toStatus(r), apiKeyId: r.api_key_id }));
}

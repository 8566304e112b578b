/**
 * REST-hook subscriptions made by Zapier when a Zap is turned on, and removed when it is turned off.
 * Checking the target URL (DNS) is asynchronous and happens before the write; the write itself is one
 * synchronous transaction.
 */
import { z } from 'zod';
import type { AppContext } from '../context';
import type { EventType } from '../../catalog/events';
import { deactivateSubscriptions } from '../delivery/outbox';
import { generateWebhookSecret } from '../delivery/signing';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
import { sql, writeTransaction } from '../lib/statements';
import { validationFailed } from './errors';
import { decodeCursor, toPage, type Page } from './pagination';

export interface SubscriptionRecord {
  id: string;
  eventType: EventType;
  targetUrl: string;
  assistantId: string | null;
  active: boolean;
  createdAt: string;
}

export interface NewSubscription {
  workspaceId: string;
  apiKeyId: string;
  eventType: EventType;
  targetUrl: string;
  assistantId?: string;
}

/** Returns the subscription with its signing secret, which is shown only here. */
export function createSubscription(ctx: AppContext, input: NewSubscription): SubscriptionRecord & { secret: string } {
  return writeTransaction(ctx.db, () => {
    if (input.assistantId) {
      const owned = sql(ctx.db, 'SELECT 1 FROM assistants WHERE id = ? AND workspace_id = ?').get(input.assistantId, input.workspaceId);
      if (!owned) throw validationFailed([{ path: 'assistant_id', message: 'No assistant with this id in this workspace.' }]);
    }
    const record = {
      id: newId('sub'),
      eventType: input.eventType,
      targetUrl: input.targetUrl,
      assistantId: input.assistantId ?? null,
      secret: generateWebhookSecret(),
      active: true,
      createdAt: isoAt(ctx.clock.now()),
    };
    sql(
      ctx.db,
      `INSERT INTO subscriptions (id, workspace_id, api_key_id, event_type, target_url, assistant_id, secret, active, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)`,
    ).run(record.id, input.workspaceId, input.apiKeyId, record.eventType, record.targetUrl, record.assistantId, record.secret, record.createdAt);
    return record;
  });
}

/**
 * Unsubscribe is idempotent: a repeat, an unknown id, or another workspace's id all answer the same and
 * change nothing that is not this workspace's own.
 */
export function unsubscribe(ctx: AppContext, workspaceId: string, id: string): { id: string; active: false } {
  writeTransaction(ctx.db, () => {
    const owned = sql(ctx.db, 'SELECT 1 FROM subscriptions WHERE id = ? AND workspace_id = ?').get(id, workspaceId);
    if (owned) deactivateSubscriptions(ctx, { subscriptionId: id }, 'unsubscribed');
  });
  return { id, active: false };
}

/** A subscription as its workspace sees it in GET /v1/subscriptions: its state and why, never its secret. */
export interface SubscriptionStatus extends SubscriptionRecord {
  /** unsubscribed | key_revoked | gone | failing; null while active. */
  deactivatedReason: string | null;
  deactivatedAt: string | null;
  /** The latest failed attempt's error while deliveries are failing (or when they made it stop); else null. */
  lastDeliveryError: string | null;
}

interface SubscriptionRow {
  seq: number;
  id: string;
  event_type: EventType;
  target_url: string;
  assistant_id: string | null;
  active: number;
  created_at: string;
  deactivated_at: string | null;
  deactivated_reason: string | null;
  last_error: string | null;
}

const subscriptionCursor = z.tuple([z.string(), z.number().int()]);

/** Every subscription of the workspace, active or not, newest first. */
export function listSubscriptions(ctx: AppContext, workspaceId: string, query: { limit: number; cursor?: string }): Page<SubscriptionStatus> {
  const after = query.cursor ? decodeCursor(query.cursor, subscriptionCursor) : null;
  const rows = sql(
    ctx.db,
    `SELECT rowid AS seq, id, event_type, target_url, assistant_id, active, created_at, deactivated_at, deactivated_reason, last_error
       FROM subscriptions
      WHERE workspace_id = ? AND (? IS NULL OR (created_at, rowid) < (?, ?))
      ORDER BY created_at DESC, rowid DESC
      LIMIT ?`,
  ).all(workspaceId, after ? 1 : null, after?.[0] ?? null, after?.[1] ?? null, query.limit + 1) as SubscriptionRow[];
  return toPage(rows, query.limit, toStatus, (r) => [r.created_at, r.seq]);
}

function toStatus(r: SubscriptionRow): SubscriptionStatus {
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

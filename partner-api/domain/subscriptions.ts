/**
 * REST-hook subscriptions made by Zapier when a Zap is turned on, and removed when it is turned off.
 * Checking the target URL (DNS) is asynchronous and happens before the write; the write itself is one
 * synchronous transaction.
 */
import type { AppContext } from '../context';
import type { EventType } from '../../catalog/events';
import { deactivateSubscriptions } from '../delivery/outbox';
import { generateWebhookSecret } from '../delivery/signing';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
import { sql, writeTransaction } from '../lib/statements';
import { validationFailed } from './errors';

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

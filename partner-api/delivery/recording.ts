/**
 * What the worker writes once a batch of attempts has finished or been refused (worker.ts, one transaction
 * per batch): each attempt and its delivery's new state, the subscription's run of failures, and the
 * subscriptions that must be turned off (410 Gone, failing too long, key revoked).
 *
 * **Lock order.** On PostgreSQL several instances record at once, and their batches touch the same
 * subscription rows (every failure and the success after it update `failing_since_ms`). Written in the order
 * the attempts finished, two batches took the same rows in opposite orders and deadlocked: under load in the
 * multi-instance proof a batch lost the deadlock five times running, its attempts went unrecorded, and their
 * deliveries were sent again after the lease (issue 13). Every batch therefore takes its row locks in one
 * order: first the subscription rows, by ascending id; then the delivery rows, by ascending id; last the
 * deactivations, which lock the subscriptions' pending deliveries, again by ascending subscription id. A
 * subscription that may be turned off is locked in the first step, so the last step never waits for a
 * subscription row another batch holds. (Revoking a key still locks its subscriptions in its own order; the
 * store runs such a rare loser again, db/pg-store.ts.) On SQLite the one write lock makes order moot, and the
 * result is the same.
 */
import type { DeactivationReason } from '../../catalog/records';
import type { Config } from '../config';
import type { AppContext } from '../context';
import { lockSubscription } from '../domain/locks';
import { deactivateSubscriptions } from '../domain/subscriptions';
import { compareIds } from '../lib/ids';
import type { Refusal } from './authority';
import { createPgBatchStore } from './pg-recording';
import { judge, type Verdict } from './policy';
import { RESPONSE_BODY_LIMIT, type SendResult } from './send';
import { type ClaimedDelivery, type DeliveryStore, deliveryStore } from './store';

/** An attempt that has finished: what was sent, when it started (unix ms) and what came back. */
export interface Completion {
  delivery: ClaimedDelivery;
  startedAtMs: number;
  result: SendResult;
}

/** A claimed delivery the authority check stopped before sending (authority.ts). */
export interface Refused {
  delivery: ClaimedDelivery;
  refusal: Refusal;
}

export interface RecordingOptions {
  settings: Config['delivery'];
  /** The retry jitter's random source, in [0, 1). */
  random: () => number;
  /** Now, unix ms: the time every write of the batch is stamped with. */
  now: number;
}

interface Judged extends Completion {
  verdict: Verdict;
}

/** One subscription's share of a batch, in the order the attempts finished. */
interface Share {
  judged: Judged[];
  refused: Refused[];
  /** Why it is turned off at the end of the batch: the first reason the batch gave, or none. */
  deactivation: DeactivationReason | null;
  /** When its current run of failures started (unix ms), as the last failure noted it; null if none. */
  failingSinceMs: number | null;
}

/**
 * Records `batch` and `refused` in `tx` (a write transaction; `store` is bound to it), in the lock order
 * above. Throws whatever the store throws (the caller's transaction then rolls back and the attempts go
 * unrecorded: their leases run out and they are sent again).
 */
export async function recordBatch(
  tx: AppContext,
  store: DeliveryStore,
  batch: Completion[],
  refused: Refused[],
  opts: RecordingOptions,
): Promise<void> {
  const { settings, now } = opts;
  // Judged in the order the attempts finished, so the jitter draws its random numbers as it always did.
  const judged = batch.map((c): Judged => ({
    ...c,
    verdict: judge(c.result, c.delivery.attempt, settings, now, opts.random),
  }));
  const shares = sharesBySubscription(judged, refused);

  // 1. Subscription rows, ascending id: the run of failures, in the order the attempts finished.
  for (const [subscriptionId, share] of shares) {
    for (const { verdict } of share.judged) {
      const status = verdict.next.status;
      if (status === 'succeeded') {
        await store.noteSuccess(subscriptionId);
      } else if (status === 'gone' || verdict.failure) {
        const since = await store.noteFailure(subscriptionId, now, verdict.error); // so the workspace sees a 410 too
        share.failingSinceMs = since;
        if (status === 'gone') share.deactivation ??= 'gone';
        else if (since !== null && now - since >= settings.disableAfterFailingMs) share.deactivation ??= 'failing';
      }
    }
    if (share.refused.some(({ refusal }) => refusal.kind === 'key_revoked')) {
      share.deactivation ??= 'key_revoked';
      await lockSubscription(tx, subscriptionId);
    }
  }

  // 2. Delivery rows, ascending id: each attempt and where its delivery stands now.
  for (const completion of [...judged].sort((a, b) => compareIds(a.delivery.id, b.delivery.id))) {
    await writeAttempt(store, completion, now);
  }
  for (const { delivery, refusal } of [...refused].sort((a, b) => compareIds(a.delivery.id, b.delivery.id))) {
    await store.cancel(delivery, now, refusal.message);
  }

  // 3. Deactivations, ascending subscription id (each cancels what else the subscription had pending).
  for (const [subscriptionId, share] of shares) {
    if (share.deactivation === null) continue;
    await deactivateSubscriptions(tx, { subscriptionId }, share.deactivation);
  }

  logBatch(tx, judged, refused, shares);
}

/**
 * Records `batch` and `refused` in `tx` as the worker does on tx's engine: on PostgreSQL a batch without
 * refusals goes through the set-based store (pg-recording.ts: a few statements, not three round trips an
 * attempt); otherwise row by row (store.ts). Throws as recordBatch.
 */
export async function recordWorkerBatch(
  tx: AppContext,
  batch: Completion[],
  refused: Refused[],
  opts: RecordingOptions,
): Promise<void> {
  if (tx.store.engine !== 'postgres' || refused.length > 0) {
    return await recordBatch(tx, deliveryStore(tx.db), batch, refused, opts);
  }
  const store = createPgBatchStore(tx.db);
  await recordBatch(tx, store, batch, refused, opts);
  await store.flush();
}

/** The batch per subscription, ascending subscription id (the lock order). */
function sharesBySubscription(judged: Judged[], refused: Refused[]): Map<string, Share> {
  const unsorted = new Map<string, Share>();
  const shareOf = (subscriptionId: string) => {
    let share = unsorted.get(subscriptionId);
    if (!share)
      unsorted.set(subscriptionId, (share = { judged: [], refused: [], deactivation: null, failingSinceMs: null }));
    return share;
  };
  for (const j of judged) shareOf(j.delivery.subscriptionId).judged.push(j);
  for (const r of refused) shareOf(r.delivery.subscriptionId).refused.push(r);
  return new Map([...unsorted].sort(([a], [b]) => compareIds(a, b)));
}

/** The attempt's row, and its delivery's new state: done, failed for good, or due again. */
async function writeAttempt(store: DeliveryStore, { delivery, startedAtMs, result, verdict }: Judged, now: number) {
  await store.recordAttempt({
    delivery,
    startedAtMs,
    durationMs: result.durationMs,
    statusCode: result.kind === 'response' ? result.status : null,
    outcome: verdict.outcome,
    error: verdict.error,
    responseBody: result.kind === 'response' ? result.body.slice(0, RESPONSE_BODY_LIMIT) : null,
  });
  const next = verdict.next;
  switch (next.status) {
    case 'succeeded':
      return await store.succeed(delivery, now);
    case 'gone':
      return await store.fail(delivery, now, verdict.error ?? 'gone');
    case 'failed':
      return await store.fail(delivery, now, verdict.error ?? 'failed');
    case 'pending':
      return await store.reschedule(delivery, next.atMs, verdict.error ?? '');
  }
}

function logBatch(ctx: AppContext, judged: Judged[], refused: Refused[], shares: Map<string, Share>): void {
  for (const { delivery, verdict } of judged) {
    if (verdict.outcome === 'succeeded') continue;
    ctx.log.info('webhook attempt failed', {
      deliveryId: delivery.id,
      subscriptionId: delivery.subscriptionId,
      attempt: delivery.attempt,
      outcome: verdict.outcome,
      error: verdict.error,
      // The path of a Zapier hook URL works as a credential: log only where it went.
      origin: originOf(delivery.targetUrl),
    });
  }
  for (const { delivery, refusal } of refused) {
    ctx.log.info('webhook delivery not sent', {
      deliveryId: delivery.id,
      subscriptionId: delivery.subscriptionId,
      reason: refusal.kind,
    });
  }
  for (const [subscriptionId, share] of shares) {
    if (share.deactivation === 'gone') {
      ctx.log.info('webhook subscription deactivated', { subscriptionId, reason: 'gone' });
    } else if (share.deactivation === 'failing') {
      ctx.log.info('webhook subscription deactivated', {
        subscriptionId,
        reason: 'failing',
        failingSinceMs: share.failingSinceMs,
        lastError: share.judged.findLast((j) => j.verdict.failure)?.verdict.error ?? null,
      });
    }
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'invalid URL';
  }
}

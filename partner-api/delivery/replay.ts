/**
 * Replay (issue 11 §2): sends a finished delivery again, now, as a manual attempt. It goes out exactly as
 * the worker's attempts do: the same sender (send.ts: the target policy's SSRF guard, the timeout, the
 * response excerpt), the same Standard Webhooks signature with the subscription's secret, and the same
 * `webhook-id` (the event id), so a receiver that already processed the event can tell it is a repeat.
 * The authority check (authority.ts) and the start of the request are one synchronous step inside a write
 * transaction, as in the worker: nothing is sent for a subscription turned off, a revoked key or a plan
 * below Pro. A manual attempt schedules no retry and does not count toward disabling a failing subscription;
 * a 2xx marks the delivery succeeded, and a 410 ends the subscription as it would from the worker.
 *
 * Shaped as writes are (http/write-handler.ts): the returned promise sends and records the attempt, and
 * resolves to the commit that answers with the delivery as it then is (synchronous, in the caller's
 * transaction, with the caller's Idempotency-Key record).
 */
import type { AppContext } from '../context';
import { inTransaction } from '../context';
import { type DeliveryRecord, findDelivery } from '../domain/deliveries';
import { ApiError } from '../domain/errors';
import { deactivateSubscriptions } from '../domain/subscriptions';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
import { createAuthorityCheck } from './authority';
import { judge } from './policy';
import { createSender, RESPONSE_BODY_LIMIT, type SendResult } from './send';
import { signingKey } from './signing';

/** What a replay leaves for the request's own transaction: reads what it answers, given that transaction's context. */
export type Commit<T> = (ctx: AppContext) => Promise<T>;

/** At most this many deliveries per bulk replay request (each may take up to the delivery timeout). */
export const BULK_REPLAY_MAX = 25;
/** Bulk replays in flight at once. */
const BULK_REPLAY_CONCURRENCY = 5;
/**
 * Replays one delivery may have; one more is refused (409 replay_refused). With the automatic attempts (the
 * retry schedule's length + 1) this bounds a delivery's attempts, which its page and GET /v1/deliveries/{id}
 * show with their excerpts (up to 4 KiB each): without it every replay added one, 2,000 replays ≈ 8 MB a view.
 */
export const MANUAL_ATTEMPTS_MAX = 20;

/** The delivery's manual attempts: one seek, skipping only its automatic ones (a handful). */
async function manualAttemptsOf(ctx: AppContext, deliveryId: string): Promise<number> {
  return (await ctx.db.value<number>(
    'SELECT COUNT(*) FROM delivery_attempts WHERE delivery_id = ? AND manual = 1',
    deliveryId,
  ))!;
}

interface ReplayRow {
  id: string;
  status: string;
  next_attempt_ms: number;
  event_id: string;
  event_type: string;
  payload: string;
  subscription_id: string;
  target_url: string;
  secret: string;
}

function refused(message: string): ApiError {
  return new ApiError(409, 'replay_refused', message);
}

/**
 * Sends the workspace's delivery `deliveryId` again, records the manual attempt, and resolves to the commit
 * that returns the delivery as it then is. Throws 404 not_found for another workspace's or an unknown delivery,
 * 409 replay_refused while it is still pending (the worker owns it), when it was already replayed
 * MANUAL_ATTEMPTS_MAX times, or when its subscription may not receive (turned off, key revoked, plan below
 * Pro). A failed HTTP exchange is not an error: it is the attempt's
 * outcome.
 */
export async function replayDelivery(
  ctx: AppContext,
  workspaceId: string,
  deliveryId: string,
): Promise<Commit<DeliveryRecord>> {
  const commit = await replayUnlessBusy(ctx, workspaceId, deliveryId, 'finished');
  if (!commit) {
    throw refused(
      'This delivery is being replayed right now: its attempt will be in the log when the receiver answers. Replay it again after that.',
    );
  }
  return commit;
}

/**
 * As replayDelivery, but resolves to null, sending nothing, while another replay of the delivery is in flight,
 * or, for `'failed'`, once it is no longer failed (another bulk replay got it through since this one chose it)
 * or has been replayed MANUAL_ATTEMPTS_MAX times meanwhile.
 */
async function replayUnlessBusy(
  ctx: AppContext,
  workspaceId: string,
  deliveryId: string,
  when: 'finished' | 'failed',
): Promise<Commit<DeliveryRecord> | null> {
  const row = await ctx.db.one<ReplayRow>(
    `SELECT d.id, d.status, d.next_attempt_ms, d.event_id, s.event_type, e.payload, d.subscription_id, s.target_url, s.secret
       FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id JOIN events e ON e.id = d.event_id
      WHERE d.id = ? AND s.workspace_id = ?`,
    deliveryId,
    workspaceId,
  );
  if (!row) throw new ApiError(404, 'not_found', `No delivery ${deliveryId} in this workspace.`);
  if (row.status === 'pending') {
    throw refused(
      `This delivery is still pending: it is sent automatically at ${isoAt(row.next_attempt_ms)}. Replay it once it has finished.`,
    );
  }
  const sender = createSender({
    timeoutMs: ctx.config.delivery.timeoutMs,
    allowPrivate: ctx.config.allowPrivateTargets,
  });
  const startedAtMs = ctx.clock.now();
  const claim = newId('rpl');
  let result: SendResult | undefined;
  try {
    // Wrapped: a transaction function may not return a promise (the request starts inside it all the same).
    const { sending } = await inTransaction(ctx, async (ctx) => {
      const refusal = await createAuthorityCheck(ctx.db).refusal(row.subscription_id);
      if (refusal) throw refused(`Not replayed: ${refusal.message.replace(/^not sent: /, '')}.`);
      // In the write transaction: a replay in flight holds the claim below until its attempt is recorded.
      if ((await manualAttemptsOf(ctx, row.id)) >= MANUAL_ATTEMPTS_MAX) {
        if (when === 'failed') return { sending: null };
        throw refused(
          `Not replayed: this delivery was already replayed ${MANUAL_ATTEMPTS_MAX} times, the most one delivery may be. Fix what the receiving Zap or endpoint answers (see its attempts), then replay a newer delivery or let new events through.`,
        );
      }
      if (!(await claimForReplay(ctx, row.id, claim, startedAtMs, when))) return { sending: null };
      const started = sender.send({
        url: row.target_url,
        eventId: row.event_id,
        eventType: row.event_type,
        body: Buffer.from(row.payload, 'utf8'),
        key: signingKey(row.secret),
        timestampSec: Math.floor(startedAtMs / 1000),
      });
      return { sending: started };
    });
    if (!sending) return null;
    result = await sending;
  } finally {
    sender.close();
    // The sender answers every failure as a result; should it throw all the same, the claim is let go.
    if (!result) await releaseClaim(ctx, row.id, claim);
  }
  // Recorded at once, in its own transaction: what was sent is in the log even if the caller's commit is then
  // refused (a key revoked while the request was in flight).
  await recordManualAttempt(ctx, row, startedAtMs, result, claim);
  return async (tx) => await findDelivery(tx, workspaceId, row.id);
}

/**
 * Takes the finished delivery for one replay (its claim_token, as the worker claims a pending one), so two
 * replays at once (a double click, two bulk replays of one Zap) send it once: Zapier does not de-duplicate
 * instant triggers, so each send would be another Zap run. False when another replay holds it. A claim whose
 * process died is taken over after the delivery timeout and the worker's claim margin, as the worker's are.
 * Runs inside the caller's write transaction.
 */
async function claimForReplay(
  ctx: AppContext,
  deliveryId: string,
  claim: string,
  nowMs: number,
  when: 'finished' | 'failed',
): Promise<boolean> {
  const { timeoutMs, claimMarginMs } = ctx.config.delivery;
  const status = when === 'failed' ? `status = 'failed'` : `status != 'pending'`;
  return (
    (
      await ctx.db.run(
        `UPDATE deliveries SET claim_token = ?, claimed_at_ms = ?
        WHERE id = ? AND ${status} AND (claim_token IS NULL OR claimed_at_ms < ?)`,
        claim,
        nowMs,
        deliveryId,
        nowMs - timeoutMs - claimMarginMs,
      )
    ).changes === 1
  );
}

async function releaseClaim(ctx: AppContext, deliveryId: string, claim: string): Promise<void> {
  await ctx.db.run(
    'UPDATE deliveries SET claim_token = NULL, claimed_at_ms = NULL WHERE id = ? AND claim_token = ?',
    deliveryId,
    claim,
  );
}

async function recordManualAttempt(
  ctx: AppContext,
  row: ReplayRow,
  startedAtMs: number,
  result: SendResult,
  claim: string,
): Promise<void> {
  const now = ctx.clock.now();
  const settings = ctx.config.delivery;
  // An attempt number past the retry schedule: the verdict is final (no retry is scheduled for a replay).
  const verdict = judge(result, settings.retryScheduleMs.length + 1, settings, now);
  await inTransaction(ctx, async (ctx) => {
    await releaseClaim(ctx, row.id, claim);
    const attempt =
      (await ctx.db.value<number>('SELECT MAX(attempt) FROM delivery_attempts WHERE delivery_id = ?', row.id)) ?? 0;
    await ctx.db.run(
      `INSERT INTO delivery_attempts (id, delivery_id, attempt, started_at, duration_ms, status_code, outcome, error, response_body, manual)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
      newId('att'),
      row.id,
      attempt + 1,
      isoAt(startedAtMs),
      result.durationMs,
      result.kind === 'response' ? result.status : null,
      verdict.outcome,
      verdict.error,
      result.kind === 'response' ? result.body.slice(0, RESPONSE_BODY_LIMIT) : null,
    );
    if (verdict.outcome === 'succeeded') {
      await ctx.db.run(
        `UPDATE deliveries SET status = 'succeeded', finished_at = ?, last_error = NULL WHERE id = ? AND status != 'pending'`,
        isoAt(now),
        row.id,
      );
      await ctx.db.run(
        'UPDATE subscriptions SET failing_since_ms = NULL, last_error = NULL WHERE id = ? AND failing_since_ms IS NOT NULL',
        row.subscription_id,
      );
      return;
    }
    await ctx.db.run(
      `UPDATE deliveries SET last_error = ? WHERE id = ? AND status != 'pending'`,
      verdict.error,
      row.id,
    );
    if (verdict.outcome === 'gone') await deactivateSubscriptions(ctx, { subscriptionId: row.subscription_id }, 'gone');
  });
}

export interface BulkReplay {
  subscriptionId: string;
  /** Deliveries replayed by this request. */
  replayed: number;
  succeeded: number;
  failed: number;
  /** True when more failed deliveries since `since` are left: send the request again. */
  more: boolean;
}

/**
 * Replays the subscription's failed deliveries created at or after `since` (ISO-8601), oldest first, at
 * most BULK_REPLAY_MAX per call, skipping those already replayed MANUAL_ATTEMPTS_MAX times (each recorded as it completes), and resolves to the commit that sums them up. Throws 404 not_found for
 * another workspace's or an unknown subscription and 409 replay_refused when it may not receive.
 */
export async function replayFailedSince(
  ctx: AppContext,
  workspaceId: string,
  subscriptionId: string,
  since: string,
): Promise<Commit<BulkReplay>> {
  const owned = await ctx.db.one(
    'SELECT 1 FROM subscriptions WHERE id = ? AND workspace_id = ?',
    subscriptionId,
    workspaceId,
  );
  if (!owned) throw new ApiError(404, 'not_found', `No subscription ${subscriptionId} in this workspace.`);
  const rows = await ctx.db.all<{ id: string }>(
    `SELECT id FROM deliveries d WHERE subscription_id = ? AND status = 'failed' AND created_at >= ?
        AND (SELECT COUNT(*) FROM delivery_attempts a WHERE a.delivery_id = d.id AND a.manual = 1) < ?
      ORDER BY created_at LIMIT ?`,
    subscriptionId,
    since,
    MANUAL_ATTEMPTS_MAX,
    BULK_REPLAY_MAX + 1,
  );
  const ids = rows.map((r) => r.id);
  const chosen = ids.slice(0, BULK_REPLAY_MAX);
  const commits: Commit<DeliveryRecord>[] = [];
  for (let i = 0; i < chosen.length; i += BULK_REPLAY_CONCURRENCY) {
    const batch = chosen.slice(i, i + BULK_REPLAY_CONCURRENCY);
    // One another replay is sending right now, or has got through since, is left: not sent twice, not counted.
    for (const commit of await Promise.all(batch.map((id) => replayUnlessBusy(ctx, workspaceId, id, 'failed'))))
      if (commit) commits.push(commit);
  }
  return async (tx) => {
    const records: DeliveryRecord[] = [];
    for (const commit of commits) records.push(await commit(tx));
    const succeeded = records.filter((r) => r.status === 'succeeded').length;
    return {
      subscriptionId,
      replayed: records.length,
      succeeded,
      failed: records.length - succeeded,
      more: ids.length > BULK_REPLAY_MAX,
    };
  };
}

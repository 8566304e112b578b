/**
 * Finds due deliveries and claims them, at a cost that does not grow with the backlog.
 *
 * A plain "oldest due rows, skipping busy subscriptions" query walks past every row of a subscription that
 * is at its concurrency limit, on every claim: with one slow endpoint's backlog in front, each claim would
 * read the whole backlog. Instead, each due row is looked at once: new rows are found by rowid (the outbox
 * only appends), rows that came due since the last look by a next_attempt_ms window. Rows that cannot be
 * sent yet (their subscription is busy, or no slot is free) are parked in memory, per subscription, oldest
 * first, and claimed by id when there is room. A full rescan (at start, from runOnce, when a subscription
 * whose park queue overflowed has worked it down, and now and then as a safety net for rows written by
 * other processes) rebuilds the picture.
 *
 * A claim is a lease: it sets claim_token and moves next_attempt_ms to the lease's end (timeout + margin),
 * so a row held by a worker that died comes due again by itself; every later write is guarded by the
 * token. SQLite has no SKIP LOCKED: the claim runs in BEGIN IMMEDIATE and re-checks each row there.
 */
import crypto from 'node:crypto';
import type { Db } from '../db/open';
import { isoAt } from '../lib/clock';
import type { ClaimedDelivery } from './store';

/** Rows parked per subscription. Past this the rest is left in the table, and a rescan is due once the
 * subscription has worked its queue down to half: a full read of the backlog every thousand sends. */
const PARK_LIMIT_PER_SUBSCRIPTION = 2000;

export interface ClaimRequest {
  nowMs: number;
  leaseMs: number;
  /** Free slots overall. */
  limit: number;
  /** How many more may start for this subscription now. */
  capacityLeft(subscriptionId: string): number;
  /** Deliveries this worker is sending right now: never claimed twice. */
  inFlight: ReadonlySet<string>;
}

export interface ClaimResult {
  claimed: ClaimedDelivery[];
  /** Rows found with an inactive subscription, cancelled. */
  cancelled: number;
  /** Parked rows that were no longer claimable (done, cancelled, or taken by another worker). */
  dropped: number;
}

export interface Claimer {
  claim(request: ClaimRequest): ClaimResult;
  /** Forget what was seen; the next claim looks at every due row again. */
  rescan(): void;
}

interface SeenRow {
  rowid: number;
  id: string;
  subscriptionId: string;
  status: string;
  dueMs: number;
}

export function createClaimer(db: Db): Claimer {
  const newRows = db.prepare<[number], SeenRow>(`
    SELECT rowid, id, subscription_id AS subscriptionId, status, next_attempt_ms AS dueMs
      FROM deliveries WHERE rowid > ? ORDER BY rowid`);
  const cameDue = db.prepare<[number, number, number], SeenRow>(`
    SELECT rowid, id, subscription_id AS subscriptionId, status, next_attempt_ms AS dueMs
      FROM deliveries
     WHERE status = 'pending' AND next_attempt_ms > ? AND next_attempt_ms <= ? AND rowid <= ?
     ORDER BY next_attempt_ms, rowid`);
  const allDue = db.prepare<[number, number], SeenRow>(`
    SELECT rowid, id, subscription_id AS subscriptionId, status, next_attempt_ms AS dueMs
      FROM deliveries
     WHERE status = 'pending' AND next_attempt_ms <= ? AND rowid <= ?
     ORDER BY next_attempt_ms, rowid`);
  const maxRowid = db.prepare<[], number>(`SELECT coalesce(max(rowid), 0) FROM deliveries`).pluck();
  const take = db.prepare<[string, number, number, string, number], { attempts: number; eventId: string; subscriptionId: string }>(`
    UPDATE deliveries SET claim_token = ?, claimed_at_ms = ?, next_attempt_ms = ?, attempts = attempts + 1
     WHERE id = ? AND status = 'pending' AND next_attempt_ms <= ?
    RETURNING attempts, event_id AS eventId, subscription_id AS subscriptionId`);
  // Two primary-key lookups rather than a join, which cost several times as much per claim here.
  const eventOf = db.prepare<[string], { eventType: string; payload: string }>(
    `SELECT type AS eventType, payload FROM events WHERE id = ?`,
  );
  const subscriptionOf = db.prepare<[string], { targetUrl: string; secret: string; active: number }>(
    `SELECT target_url AS targetUrl, secret, active FROM subscriptions WHERE id = ?`,
  );
  const cancel = db.prepare(`
    UPDATE deliveries SET status = 'cancelled', finished_at = ?, claim_token = NULL,
           last_error = 'subscription is no longer active'
     WHERE id = ? AND status = 'pending'`);

  /** Per subscription, ids of due rows not yet claimed, oldest first. Map order is the round-robin order. */
  const parked = new Map<string, string[]>();
  let seenRowid = 0;
  let checkedUpToMs = 0;
  let needsRescan = true;
  /** Subscriptions with due rows that did not fit in their park queue. */
  const overflowed = new Set<string>();

  function park(row: SeenRow, inFlight: ReadonlySet<string>): void {
    if (inFlight.has(row.id)) return;
    let queue = parked.get(row.subscriptionId);
    if (!queue) parked.set(row.subscriptionId, (queue = []));
    if (queue.length >= PARK_LIMIT_PER_SUBSCRIPTION) overflowed.add(row.subscriptionId);
    else queue.push(row.id);
  }

  function look(nowMs: number, inFlight: ReadonlySet<string>): void {
    if (needsRescan) {
      needsRescan = false;
      overflowed.clear();
      parked.clear();
      seenRowid = maxRowid.get() ?? 0;
      for (const row of allDue.all(nowMs, seenRowid)) park(row, inFlight);
    } else {
      // Rows that were already there and whose time came since the last look (retries, expired leases).
      for (const row of cameDue.all(checkedUpToMs, nowMs, seenRowid)) park(row, inFlight);
      // Rows appended since the last look: the outbox's fresh deliveries, due at once.
      for (const row of newRows.all(seenRowid)) {
        seenRowid = row.rowid;
        if (row.status === 'pending' && row.dueMs <= nowMs) park(row, inFlight);
      }
    }
    checkedUpToMs = Math.max(checkedUpToMs, nowMs);
  }

  /** Takes ids from the parked queues, round-robin across subscriptions, within every limit. */
  function pick(request: ClaimRequest): { id: string; subscriptionId: string }[] {
    const picked: { id: string; subscriptionId: string }[] = [];
    const rotate: string[] = [];
    for (const [subscriptionId, queue] of parked) {
      if (picked.length >= request.limit) break;
      const room = Math.min(request.capacityLeft(subscriptionId), request.limit - picked.length);
      if (room <= 0) continue;
      for (const id of queue.splice(0, room)) picked.push({ id, subscriptionId });
      rotate.push(subscriptionId);
    }
    // Subscriptions just served go to the back of the line.
    for (const subscriptionId of rotate) {
      const queue = parked.get(subscriptionId) as string[];
      parked.delete(subscriptionId);
      if (queue.length > 0) parked.set(subscriptionId, queue);
      if (overflowed.has(subscriptionId) && queue.length < PARK_LIMIT_PER_SUBSCRIPTION / 2) needsRescan = true;
    }
    return picked;
  }

  const takeAll = db.transaction((picked: { id: string; subscriptionId: string }[], nowMs: number, leaseMs: number): ClaimResult => {
    const token = crypto.randomBytes(12).toString('base64url');
    const result: ClaimResult = { claimed: [], cancelled: 0, dropped: 0 };
    for (const { id } of picked) {
      const taken = take.get(token, nowMs, nowMs + leaseMs, id, nowMs);
      if (!taken) {
        result.dropped += 1;
        continue;
      }
      const subscription = subscriptionOf.get(taken.subscriptionId);
      const event = eventOf.get(taken.eventId);
      if (!subscription?.active || !event) {
        result.cancelled += cancel.run(isoAt(nowMs), id).changes;
        continue;
      }
      result.claimed.push({
        id,
        subscriptionId: taken.subscriptionId,
        eventId: taken.eventId,
        eventType: event.eventType,
        payload: event.payload,
        targetUrl: subscription.targetUrl,
        secret: subscription.secret,
        attempt: taken.attempts,
        claimToken: token,
      });
    }
    return result;
  });

  return {
    claim(request) {
      look(request.nowMs, request.inFlight);
      const picked = pick(request);
      if (picked.length === 0) return { claimed: [], cancelled: 0, dropped: 0 };
      return takeAll.immediate(picked, request.nowMs, request.leaseMs);
    },
    rescan() {
      needsRescan = true;
    },
  };
}

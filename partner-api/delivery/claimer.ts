/**
 * Finds due deliveries and claims them, at a cost that does not grow with the backlog.
 *
 * A plain "oldest due rows, skipping busy subscriptions" query walks past every row of a subscription that
 * is at its concurrency limit, on every claim: with one slow endpoint's backlog in front, each claim would
 * read the whole backlog. Instead, each due row is looked at once: new rows are found by rowid (the outbox
 * only appends), rows that came due since the last look by a next_attempt_ms window. Rows that cannot be
 * sent yet (their share of the slots is taken, see slots.ts) are parked in memory, per workspace and
 * subscription, oldest first, and claimed by id when there is room: round-robin across workspaces, and
 * within each across its subscriptions, so a workspace with many subscriptions gets no more turns than one
 * with a single Zap. A full rescan (at start, from runOnce, when a subscription
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
import { hostKey, type SlotHolder, type Slots } from './slots';
import type { ClaimedDelivery } from './store';

/** Rows parked per subscription. Past this the rest is left in the table, and a rescan is due once the
 * subscription has worked its queue down to half: a full read of the backlog every thousand sends. */
const PARK_LIMIT_PER_SUBSCRIPTION = 2000;

export interface ClaimRequest {
  nowMs: number;
  leaseMs: number;
  /** The worker's slots: each claimed row takes one (and keeps it until the worker releases it). */
  slots: Slots;
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

interface Picked {
  id: string;
  holder: SlotHolder;
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
    SELECT rowid, id, subscription_id AS "subscriptionId", status, next_attempt_ms AS "dueMs"
      FROM deliveries WHERE rowid > ? ORDER BY rowid`);
  const cameDue = db.prepare<[number, number, number], SeenRow>(`
    SELECT rowid, id, subscription_id AS "subscriptionId", status, next_attempt_ms AS "dueMs"
      FROM deliveries
     WHERE status = 'pending' AND next_attempt_ms > ? AND next_attempt_ms <= ? AND rowid <= ?
     ORDER BY next_attempt_ms, rowid`);
  const allDue = db.prepare<[number, number], SeenRow>(`
    SELECT rowid, id, subscription_id AS "subscriptionId", status, next_attempt_ms AS "dueMs"
      FROM deliveries
     WHERE status = 'pending' AND next_attempt_ms <= ? AND rowid <= ?
     ORDER BY next_attempt_ms, rowid`);
  const maxRowid = db.prepare<[], number>(`SELECT coalesce(max(rowid), 0) FROM deliveries`).pluck();
  const take = db.prepare<
    [string, number, number, string, number],
    { attempts: number; eventId: string; subscriptionId: string }
  >(`
    UPDATE deliveries SET claim_token = ?, claimed_at_ms = ?, next_attempt_ms = ?, attempts = attempts + 1
     WHERE id = ? AND status = 'pending' AND next_attempt_ms <= ?
    RETURNING attempts, event_id AS "eventId", subscription_id AS "subscriptionId"`);
  // Two primary-key lookups rather than a join, which cost several times as much per claim here.
  const eventOf = db.prepare<[string], { eventType: string; payload: string }>(
    `SELECT type AS "eventType", payload FROM events WHERE id = ?`,
  );
  const subscriptionOf = db.prepare<[string], { targetUrl: string; secret: string; active: number }>(
    `SELECT target_url AS "targetUrl", secret, active FROM subscriptions WHERE id = ?`,
  );
  const holderRow = db.prepare<[string], { workspaceId: string; targetUrl: string }>(
    `SELECT workspace_id AS "workspaceId", target_url AS "targetUrl" FROM subscriptions WHERE id = ?`,
  );
  const cancel = db.prepare(`
    UPDATE deliveries SET status = 'cancelled', finished_at = ?, claim_token = NULL,
           last_error = 'subscription is no longer active'
     WHERE id = ? AND status = 'pending'`);

  /** Per workspace, per subscription, ids of due rows not yet claimed, oldest first. Map order is the
   * round-robin order, at both levels. */
  const parked = new Map<string, Map<string, string[]>>();
  /** Whose shares a subscription's attempts count against; a subscription's workspace and URL never change. */
  const holders = new Map<string, SlotHolder>();
  let seenRowid = 0;
  let checkedUpToMs = 0;
  let needsRescan = true;
  /** Subscriptions with due rows that did not fit in their park queue. */
  const overflowed = new Set<string>();

  function holderOf(subscriptionId: string): SlotHolder {
    let holder = holders.get(subscriptionId);
    if (!holder) {
      if (holders.size >= 10_000) holders.clear(); // a cache, not a registry of every subscription ever seen
      const row = holderRow.get(subscriptionId);
      // A row without its subscription is cancelled when taken; until then it counts on its own.
      holder = { subscriptionId, workspaceId: row?.workspaceId ?? '', host: row ? hostKey(row.targetUrl) : '' };
      holders.set(subscriptionId, holder);
    }
    return holder;
  }

  function park(row: SeenRow, inFlight: ReadonlySet<string>): void {
    if (inFlight.has(row.id)) return;
    const { workspaceId } = holderOf(row.subscriptionId);
    let subscriptions = parked.get(workspaceId);
    if (!subscriptions) parked.set(workspaceId, (subscriptions = new Map<string, string[]>()));
    let queue = subscriptions.get(row.subscriptionId);
    if (!queue) subscriptions.set(row.subscriptionId, (queue = []));
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

  /**
   * Takes ids from the parked queues, round-robin across workspaces and, within each, across its
   * subscriptions, taking a slot for each (slots.ts says how many each may hold).
   */
  function pick(slots: Slots): Picked[] {
    const picked: Picked[] = [];
    const servedWorkspaces: string[] = [];
    for (const [workspaceId, subscriptions] of parked) {
      if (slots.free <= 0) break;
      const served: string[] = [];
      for (const [subscriptionId, queue] of subscriptions) {
        const holder = holderOf(subscriptionId);
        const room = slots.room(holder);
        if (room <= 0) continue;
        for (const id of queue.splice(0, room)) {
          slots.take(holder);
          picked.push({ id, holder });
        }
        served.push(subscriptionId);
      }
      if (served.length === 0) continue;
      servedWorkspaces.push(workspaceId);
      // Subscriptions just served go to the back of their workspace's line…
      for (const subscriptionId of served) {
        const queue = subscriptions.get(subscriptionId) as string[];
        subscriptions.delete(subscriptionId);
        if (queue.length > 0) subscriptions.set(subscriptionId, queue);
        if (overflowed.has(subscriptionId) && queue.length < PARK_LIMIT_PER_SUBSCRIPTION / 2) needsRescan = true;
      }
    }
    // …and workspaces just served to the back of the line of workspaces.
    for (const workspaceId of servedWorkspaces) {
      const subscriptions = parked.get(workspaceId) as Map<string, string[]>;
      parked.delete(workspaceId);
      if (subscriptions.size > 0) parked.set(workspaceId, subscriptions);
    }
    return picked;
  }

  /** Claims the picked rows; `unused` are the slots of rows that turned out not to be claimable. */
  const takeAll = db.transaction((picked: Picked[], nowMs: number, leaseMs: number) => {
    const token = crypto.randomBytes(12).toString('base64url');
    const result: ClaimResult = { claimed: [], cancelled: 0, dropped: 0 };
    const unused: SlotHolder[] = [];
    for (const { id, holder } of picked) {
      const taken = take.get(token, nowMs, nowMs + leaseMs, id, nowMs);
      if (!taken) {
        result.dropped += 1;
        unused.push(holder);
        continue;
      }
      const subscription = subscriptionOf.get(taken.subscriptionId);
      const event = eventOf.get(taken.eventId);
      if (!subscription?.active || !event) {
        result.cancelled += cancel.run(isoAt(nowMs), id).changes;
        unused.push(holder);
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
        holder,
      });
    }
    return { result, unused };
  });

  return {
    claim(request) {
      look(request.nowMs, request.inFlight);
      const picked = pick(request.slots);
      if (picked.length === 0) return { claimed: [], cancelled: 0, dropped: 0 };
      let taken: { result: ClaimResult; unused: SlotHolder[] };
      try {
        taken = takeAll.immediate(picked, request.nowMs, request.leaseMs);
      } catch (err) {
        // Rolled back: nothing was claimed, so no slot is held.
        for (const { holder } of picked) request.slots.release(holder);
        throw err;
      }
      for (const holder of taken.unused) request.slots.release(holder);
      return taken.result;
    },
    rescan() {
      needsRescan = true;
    },
  };
}

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

import type { Queryable } from '../db/store';
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
  /** The transaction to claim in, when the caller holds one; else the claim is its own. */
  db?: Queryable | undefined;
}

export interface ClaimResult {
  claimed: ClaimedDelivery[];
  /** Rows found with an inactive subscription, cancelled. */
  cancelled: number;
  /** Parked rows that were no longer claimable (done, cancelled, or taken by another worker). */
  dropped: number;
  /**
   * Whether another claim now may find more. False when this one looked at every claimable row, so the
   * worker's loop (worker.ts claimDue) stops without a last claim that finds nothing, which on PostgreSQL is
   * a transaction and a read of up to SCAN_ROWS + NEWEST_ROWS rows (pg-claimer.ts).
   */
  more: boolean;
}

export interface Claimer {
  claim(request: ClaimRequest): Promise<ClaimResult>;
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

const NEW_ROWS = `
    SELECT rowid, id, subscription_id AS "subscriptionId", status, next_attempt_ms AS "dueMs"
      FROM deliveries WHERE rowid > ? ORDER BY rowid`;
const CAME_DUE = `
    SELECT rowid, id, subscription_id AS "subscriptionId", status, next_attempt_ms AS "dueMs"
      FROM deliveries
     WHERE status = 'pending' AND next_attempt_ms > ? AND next_attempt_ms <= ? AND rowid <= ?
     ORDER BY next_attempt_ms, rowid`;
const ALL_DUE = `
    SELECT rowid, id, subscription_id AS "subscriptionId", status, next_attempt_ms AS "dueMs"
      FROM deliveries
     WHERE status = 'pending' AND next_attempt_ms <= ? AND rowid <= ?
     ORDER BY next_attempt_ms, rowid`;
const MAX_ROWID = `SELECT coalesce(max(rowid), 0) FROM deliveries`;
const TAKE = `
    UPDATE deliveries SET claim_token = ?, claimed_at_ms = ?, next_attempt_ms = ?, attempts = attempts + 1
     WHERE id = ? AND status = 'pending' AND next_attempt_ms <= ?
    RETURNING attempts, event_id AS "eventId", subscription_id AS "subscriptionId"`;
// Two primary-key lookups rather than a join, which cost several times as much per claim here.
const EVENT_OF = `SELECT type AS "eventType", payload FROM events WHERE id = ?`;
const SUBSCRIPTION_OF = `SELECT target_url AS "targetUrl", secret, active FROM subscriptions WHERE id = ?`;
const HOLDER_ROW = `SELECT workspace_id AS "workspaceId", target_url AS "targetUrl" FROM subscriptions WHERE id = ?`;
const CANCEL = `
    UPDATE deliveries SET status = 'cancelled', finished_at = ?, claim_token = NULL,
           last_error = 'subscription is no longer active'
     WHERE id = ? AND status = 'pending'`;

/** The claimer of the SQLite engine, on its store (one process writes: see the module comment). */
export function createClaimer(store: Queryable): Claimer {
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

  async function holderOf(db: Queryable, subscriptionId: string): Promise<SlotHolder> {
    let holder = holders.get(subscriptionId);
    if (!holder) {
      if (holders.size >= 10_000) holders.clear(); // a cache, not a registry of every subscription ever seen
      const row = await db.one<{ workspaceId: string; targetUrl: string }>(HOLDER_ROW, subscriptionId);
      // A row without its subscription is cancelled when taken; until then it counts on its own.
      holder = { subscriptionId, workspaceId: row?.workspaceId ?? '', host: row ? hostKey(row.targetUrl) : '' };
      holders.set(subscriptionId, holder);
    }
    return holder;
  }

  async function park(db: Queryable, row: SeenRow, inFlight: ReadonlySet<string>): Promise<void> {
    if (inFlight.has(row.id)) return;
    const { workspaceId } = await holderOf(db, row.subscriptionId);
    let subscriptions = parked.get(workspaceId);
    if (!subscriptions) parked.set(workspaceId, (subscriptions = new Map<string, string[]>()));
    let queue = subscriptions.get(row.subscriptionId);
    if (!queue) subscriptions.set(row.subscriptionId, (queue = []));
    if (queue.length >= PARK_LIMIT_PER_SUBSCRIPTION) overflowed.add(row.subscriptionId);
    else queue.push(row.id);
  }

  async function look(db: Queryable, nowMs: number, inFlight: ReadonlySet<string>): Promise<void> {
    if (needsRescan) {
      needsRescan = false;
      overflowed.clear();
      parked.clear();
      seenRowid = (await db.value<number>(MAX_ROWID)) ?? 0;
      for (const row of await db.all<SeenRow>(ALL_DUE, nowMs, seenRowid)) await park(db, row, inFlight);
    } else {
      // Rows that were already there and whose time came since the last look (retries, expired leases).
      for (const row of await db.all<SeenRow>(CAME_DUE, checkedUpToMs, nowMs, seenRowid)) await park(db, row, inFlight);
      // Rows appended since the last look: the outbox's fresh deliveries, due at once.
      for (const row of await db.all<SeenRow>(NEW_ROWS, seenRowid)) {
        seenRowid = row.rowid;
        if (row.status === 'pending' && row.dueMs <= nowMs) await park(db, row, inFlight);
      }
    }
    checkedUpToMs = Math.max(checkedUpToMs, nowMs);
  }

  /**
   * Takes ids from the parked queues, round-robin across workspaces and, within each, across its
   * subscriptions, taking a slot for each (slots.ts says how many each may hold).
   */
  async function pick(db: Queryable, slots: Slots): Promise<Picked[]> {
    const picked: Picked[] = [];
    const servedWorkspaces: string[] = [];
    for (const [workspaceId, subscriptions] of parked) {
      if (slots.free <= 0) break;
      const served: string[] = [];
      for (const [subscriptionId, queue] of subscriptions) {
        const holder = await holderOf(db, subscriptionId);
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

  /**
   * Claims the picked rows, in a write of its own (committed at once: worker.ts URGENT) or the caller's;
   * `unused` are the slots of rows that turned out not to be claimable.
   */
  const takeAll = (db: Queryable, picked: Picked[], nowMs: number, leaseMs: number) =>
    db.write((tx) => takeIn(tx, picked, nowMs, leaseMs), { urgent: true });

  async function takeIn(
    tx: Queryable,
    picked: Picked[],
    nowMs: number,
    leaseMs: number,
  ): Promise<{ result: ClaimResult; unused: SlotHolder[] }> {
    const token = crypto.randomBytes(12).toString('base64url');
    // What the next claim may find is what look() has not seen yet: cheap to ask on SQLite, so always asked.
    const result: ClaimResult = { claimed: [], cancelled: 0, dropped: 0, more: true };
    const unused: SlotHolder[] = [];
    for (const { id, holder } of picked) {
      const taken = await tx.one<{ attempts: number; eventId: string; subscriptionId: string }>(
        TAKE,
        token,
        nowMs,
        nowMs + leaseMs,
        id,
        nowMs,
      );
      if (!taken) {
        result.dropped += 1;
        unused.push(holder);
        continue;
      }
      const subscription = await tx.one<{ targetUrl: string; secret: string; active: number }>(
        SUBSCRIPTION_OF,
        taken.subscriptionId,
      );
      const event = await tx.one<{ eventType: string; payload: string }>(EVENT_OF, taken.eventId);
      if (!subscription?.active || !event) {
        result.cancelled += (await tx.run(CANCEL, isoAt(nowMs), id)).changes;
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
  }

  return {
    async claim(request) {
      const db = request.db ?? store;
      await look(db, request.nowMs, request.inFlight);
      const picked = await pick(db, request.slots);
      if (picked.length === 0) return { claimed: [], cancelled: 0, dropped: 0, more: false };
      let taken: { result: ClaimResult; unused: SlotHolder[] };
      try {
        taken = await takeAll(db, picked, request.nowMs, request.leaseMs);
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

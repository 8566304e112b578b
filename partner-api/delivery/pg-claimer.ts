/**
 * The claimer of the PostgreSQL engine: several instances, each with its worker, claim from one table
 * (issue 13 §3, ADR 0010 §5). Same interface as claimer.ts (SQLite's), different means:
 *
 * - **A claim is one transaction of three statements**: a transaction-level advisory lock (claims take
 *   turns across instances, so two never hand out the same free room: held ~2 round trips), one read of
 *   what is held and what is due, and one UPDATE of the rows picked. Between the read and the UPDATE the
 *   rows are picked here, by the same share rule the SQLite claimer uses (slots.ts `createSlots`, the host
 *   share by slots.ts `hostKey()`), so both engines agree on who may hold a slot, IDN hosts included.
 * - **Shares across instances.** The per-subscription, per-workspace and per-host shares (ADR 0007) are
 *   counted from the rows claimed and not finished (`claim_token IS NOT NULL`, pending, lease not over),
 *   whichever instance holds them. The overall share stays per instance: that process's own capacity.
 * - **Leases on the database's clock.** `now` is `clock_timestamp()` in unix ms, so instances whose clocks
 *   disagree still agree on when a lease ends (unless the worker is handed a clock of its own: tests).
 * - **Picking.** The due rows read are ordered by due time (never by id or rowid: ids and sequences do not
 *   commit in order), rows of a subscription or workspace whose share is full are left out in the read.
 *   Then workspaces take turns, one row each per round, and within a workspace its subscriptions (each
 *   taking what its share allows before the next); the turns go on across claims (who was served last goes
 *   to the back of the line, as in claimer.ts), so a workspace with many Zaps gets no more turns than one
 *   with a single Zap, and one with a backlog no more than one with a fresh event. The line is this
 *   instance's: each instance serves workspaces in turn.
 * - **Bounded cost.** A claim reads at most SCAN_ROWS due rows after a cursor (due time, id), plus the
 *   NEWEST_ROWS that came due last (a fresh event is sent at once, however long a blocked backlog before
 *   it). When the read rows yield less than the room, the next claim reads on after them; at the end of the
 *   due rows it starts over from the oldest, so a row committed late with an earlier due time is found then.
 *   Rows blocked by a full share are filtered in the read, never ranked or sent back.
 */
import crypto from 'node:crypto';

import type { Queryable, Tx } from '../db/store';
import { compareIds } from '../lib/ids';
import type { Claimer, ClaimRequest, ClaimResult } from './claimer';
import { createSlots, type SlotHolder, slotHolder, type SlotLimits } from './slots';
import type { ClaimedDelivery } from './store';

/** Due rows read per claim after the cursor, at most. */
const SCAN_ROWS = 2048;
/** The newest due rows read by every claim besides (fresh events, due just now). */
const NEWEST_ROWS = 128;
/** The key of the advisory lock that makes claims take turns (any constant no other lock of this database uses). */
const CLAIM_LOCK_KEY = 0x696c6c756d; // "illum" in ASCII: fits a JS number exactly
/** Workspaces and subscriptions whose last turn is remembered; past this the line starts afresh. */
const TURNS_REMEMBERED = 20_000;

const READ = `
WITH clock AS (
  -- The caller's time (tests with a clock they move), else the database's own: one clock for every instance.
  SELECT COALESCE(CAST(? AS BIGINT), CAST(floor(extract(epoch FROM clock_timestamp()) * 1000) AS BIGINT)) AS now_ms
),
held AS MATERIALIZED (
  -- Claimed and not finished, by any instance: a lease ends at most leaseMs after now.
  SELECT d.subscription_id, d.workspace_id, count(*) AS n
    FROM deliveries d, clock
   WHERE d.status = 'pending' AND d.claim_token IS NOT NULL
     AND d.next_attempt_ms > clock.now_ms AND d.next_attempt_ms <= clock.now_ms + ?
   GROUP BY d.subscription_id, d.workspace_id
),
held_ws AS (SELECT workspace_id, sum(n) AS n FROM held GROUP BY workspace_id),
scanned AS MATERIALIZED (
  -- After the cursor: the next due rows, oldest first.
  SELECT d.id, d.subscription_id, d.workspace_id, d.next_attempt_ms
    FROM deliveries d, clock
   WHERE d.status = 'pending' AND d.next_attempt_ms <= clock.now_ms
     AND (d.next_attempt_ms, d.id) > (CAST(? AS BIGINT), CAST(? AS TEXT))
   ORDER BY d.next_attempt_ms, d.id
   LIMIT ?
),
newest AS (
  -- The rows that came due last (fresh events): seen at once, however long a blocked backlog before them.
  SELECT d.id, d.subscription_id, d.workspace_id, d.next_attempt_ms
    FROM deliveries d, clock
   WHERE d.status = 'pending' AND d.next_attempt_ms <= clock.now_ms
   ORDER BY d.next_attempt_ms DESC, d.id DESC
   LIMIT ?
),
open AS (
  -- Rows whose workspace has room, ranked within their subscription.
  SELECT w.*, row_number() OVER (PARTITION BY w.subscription_id ORDER BY w.next_attempt_ms, w.id) AS sub_rank
    FROM (SELECT * FROM scanned UNION SELECT * FROM newest) w
    LEFT JOIN held_ws hw ON hw.workspace_id = w.workspace_id
   WHERE NOT (w.id = ANY (CAST(? AS TEXT[]))) AND COALESCE(hw.n, 0) < ?
),
candidates AS (
  -- …and as many of each subscription as its room; an inactive subscription's rows all (they are cancelled).
  SELECT o.id, o.subscription_id AS "subscriptionId", s.workspace_id AS "workspaceId", s.target_url AS "targetUrl",
         s.active, o.next_attempt_ms AS "dueMs"
    FROM open o JOIN subscriptions s ON s.id = o.subscription_id
    LEFT JOIN held h ON h.subscription_id = o.subscription_id
   WHERE s.active <> 1 OR o.sub_rank <= ? - COALESCE(h.n, 0)
)
SELECT clock.now_ms AS "nowMs",
       (SELECT count(*) FROM scanned) AS "scannedRows",
       (SELECT json_build_object('dueMs', next_attempt_ms, 'id', id) FROM scanned
         ORDER BY next_attempt_ms DESC, id DESC LIMIT 1) AS "lastScanned",
       (SELECT COALESCE(json_agg(json_build_object('subscriptionId', h.subscription_id, 'workspaceId', s.workspace_id,
                                                   'targetUrl', s.target_url, 'n', h.n)), '[]'::json)
          FROM held h JOIN subscriptions s ON s.id = h.subscription_id) AS held,
       (SELECT COALESCE(json_agg(c), '[]'::json) FROM candidates c) AS candidates
  FROM clock`;

const TAKE = `
WITH locked AS (
  SELECT d.id FROM deliveries d
   WHERE d.id = ANY (CAST(? AS TEXT[])) AND d.status = 'pending' AND d.next_attempt_ms <= CAST(? AS BIGINT)
     FOR UPDATE OF d SKIP LOCKED
)
UPDATE deliveries d
   SET claim_token = ?, claimed_at_ms = CAST(? AS BIGINT), next_attempt_ms = CAST(? AS BIGINT), attempts = d.attempts + 1
  FROM locked, subscriptions s, events e
 WHERE d.id = locked.id AND s.id = d.subscription_id AND e.id = d.event_id AND s.active = 1
RETURNING d.id, d.attempts AS attempt, d.event_id AS "eventId", d.subscription_id AS "subscriptionId",
          s.workspace_id AS "workspaceId", s.target_url AS "targetUrl", s.secret, e.type AS "eventType", e.payload`;

const CANCEL = `
UPDATE deliveries d
   SET status = 'cancelled', claim_token = NULL, last_error = 'subscription is no longer active',
       finished_at = to_char(to_timestamp(CAST(? AS BIGINT) / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
 WHERE d.id IN (SELECT x.id FROM deliveries x JOIN subscriptions s ON s.id = x.subscription_id
                 WHERE x.id = ANY (CAST(? AS TEXT[])) AND x.status = 'pending' AND s.active <> 1
                   FOR UPDATE OF x SKIP LOCKED)`;

interface Candidate {
  id: string;
  subscriptionId: string;
  workspaceId: string;
  targetUrl: string;
  active: number;
  dueMs: number;
}

interface Held {
  subscriptionId: string;
  workspaceId: string;
  targetUrl: string;
  n: number;
}

/** Where the next read starts: after this (due time, id); the start is before every row. */
interface Cursor {
  dueMs: number;
  id: string;
}
const START: Cursor = { dueMs: -1, id: '' };

interface ReadResult {
  nowMs: number;
  scannedRows: number;
  lastScanned: Cursor | null;
  held: Held[];
  candidates: Candidate[];
}

interface ClaimedRow {
  id: string;
  attempt: number;
  eventId: string;
  subscriptionId: string;
  workspaceId: string;
  targetUrl: string;
  secret: string;
  eventType: string;
  payload: string;
}

export interface PgClaimerOptions {
  /** The shares counted across instances (the worker's slot limits); `overall` stays per instance. */
  limits: SlotLimits;
  /**
   * Whether `now` comes from the database (true in production) or from the request's `nowMs` (tests that
   * drive a clock of their own: their leases and due times must follow that clock to mean anything).
   */
  databaseClock: boolean;
}

/** One subscription's rows in the line, oldest first. */
interface SubscriptionQueue {
  holder: SlotHolder;
  rows: string[];
}

/** The claimer of the PostgreSQL engine, on `store` (see the module comment). */
export function createPgClaimer(store: Queryable, opts: PgClaimerOptions): Claimer {
  const { limits } = opts;
  let cursor = START;
  /** When each workspace and subscription was last served (a counter): lower goes first; never served, 0. */
  const lastTurn = new Map<string, number>();
  let turns = 0;

  const turnOf = (key: string) => lastTurn.get(key) ?? 0;
  function served(key: string): void {
    if (lastTurn.size >= TURNS_REMEMBERED) lastTurn.clear(); // everyone starts afresh, none starves
    lastTurn.set(key, ++turns);
  }

  /**
   * The rows to claim, in order: rounds in which each workspace in line, least recently served first, takes
   * one row of its least recently served subscription with room; `held` are the slots held across instances.
   */
  function pick(candidates: Candidate[], held: Held[], room: number): string[] {
    const shares = createSlots({ ...limits, overall: Number.MAX_SAFE_INTEGER });
    for (const h of held) {
      const holder = slotHolder(h);
      for (let i = 0; i < h.n; i++) shares.take(holder);
    }
    const byWorkspace = new Map<string, Map<string, SubscriptionQueue>>();
    const sorted = [...candidates].sort((a, b) => a.dueMs - b.dueMs || compareIds(a.id, b.id));
    for (const c of sorted) {
      let subscriptions = byWorkspace.get(c.workspaceId);
      if (!subscriptions) byWorkspace.set(c.workspaceId, (subscriptions = new Map<string, SubscriptionQueue>()));
      let queue = subscriptions.get(c.subscriptionId);
      if (!queue) {
        const holder = slotHolder(c);
        subscriptions.set(c.subscriptionId, (queue = { holder, rows: [] }));
      }
      queue.rows.push(c.id);
    }
    // The line: least recently served first; among equals, the one whose oldest row is oldest (Map order).
    const byTurn = <T>(entries: [string, T][], key: (k: string) => string) =>
      entries
        .map((e, i) => ({ e, i }))
        .sort((a, b) => turnOf(key(a.e[0])) - turnOf(key(b.e[0])) || a.i - b.i)
        .map((x) => x.e);
    let line = byTurn([...byWorkspace.entries()], (w) => `w:${w}`).map(([workspaceId, subs]) => ({
      workspaceId,
      subscriptions: byTurn([...subs.entries()], (s) => `s:${s}`).map(([, q]) => q),
    }));
    const ids: string[] = [];
    while (ids.length < room && line.length > 0) {
      const next: typeof line = [];
      for (const ws of line) {
        if (ids.length >= room) break;
        // Its least recently served subscription that still has a row and room, until that one has taken
        // what its share allows (as claimer.ts does); the next claim puts it at the back of the line.
        const queue = ws.subscriptions.find((q) => q.rows.length > 0 && shares.room(q.holder) > 0);
        if (!queue) continue; // nothing more this workspace may take now: out of the line
        ids.push(queue.rows.shift() as string);
        shares.take(queue.holder);
        served(`w:${ws.workspaceId}`);
        served(`s:${queue.holder.subscriptionId}`);
        next.push(ws);
      }
      line = next;
    }
    return ids;
  }

  async function claimIn(
    tx: Tx,
    request: ClaimRequest,
  ): Promise<{ rows: ClaimedRow[]; cancelled: number; token: string; more: boolean }> {
    // Claims take turns across instances, so the shares read below are not handed out twice.
    await tx.run(`SELECT pg_advisory_xact_lock(${CLAIM_LOCK_KEY})`);
    const read = (await tx.one<ReadResult>(
      READ,
      opts.databaseClock ? null : request.nowMs,
      request.leaseMs,
      cursor.dueMs,
      cursor.id,
      SCAN_ROWS,
      NEWEST_ROWS,
      [...request.inFlight],
      limits.perWorkspace,
      limits.perSubscription,
    )) as ReadResult; // one row, always: FROM clock
    const room = request.slots.free;
    const active: Candidate[] = [];
    const inactive: string[] = [];
    for (const c of read.candidates) {
      if (c.active === 1) active.push(c);
      else inactive.push(c.id);
    }
    const ids = pick(active, read.held, room);
    // Read on after these rows next time unless they may hold more than this claim had room for. Only then
    // may a claim now find more: every other row read was taken, or is held back by a full share.
    let more = false;
    if (read.scannedRows < SCAN_ROWS || read.lastScanned === null) cursor = START;
    else if (ids.length < room) {
      cursor = read.lastScanned;
      more = true;
    }
    const token = crypto.randomBytes(12).toString('base64url');
    const rows =
      ids.length === 0
        ? []
        : await tx.all<ClaimedRow>(TAKE, ids, read.nowMs, token, read.nowMs, read.nowMs + request.leaseMs);
    const cancelled = inactive.length === 0 ? 0 : (await tx.run(CANCEL, read.nowMs, inactive)).changes;
    // In the order picked: the order they are sent in.
    const order = new Map(ids.map((id, i) => [id, i]));
    rows.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
    return { rows, cancelled, token, more };
  }

  async function claimNow(request: ClaimRequest): Promise<ClaimResult> {
    if (request.slots.free <= 0) return { claimed: [], cancelled: 0, dropped: 0, more: false };
    const db = request.db ?? store;
    const startCursor = cursor;
    let taken: { rows: ClaimedRow[]; cancelled: number; token: string; more: boolean };
    try {
      taken = await db.write((tx) => claimIn(tx, request));
    } catch (err) {
      cursor = startCursor; // rolled back: nothing was claimed
      throw err;
    }
    const result: ClaimResult = { claimed: [], cancelled: taken.cancelled, dropped: 0, more: taken.more };
    for (const row of taken.rows) {
      const holder = slotHolder(row);
      request.slots.take(holder);
      const delivery: ClaimedDelivery = {
        id: row.id,
        subscriptionId: row.subscriptionId,
        eventId: row.eventId,
        eventType: row.eventType,
        payload: row.payload,
        targetUrl: row.targetUrl,
        secret: row.secret,
        attempt: row.attempt,
        claimToken: taken.token,
        holder,
      };
      result.claimed.push(delivery);
    }
    return result;
  }

  /** This instance's claims, one after another, so each sees the slots the one before took. */
  let turn: Promise<unknown> = Promise.resolve();

  return {
    claim(request) {
      const mine = turn.then(() => claimNow(request));
      turn = mine.catch(() => undefined);
      return mine;
    },
    rescan() {
      cursor = START;
    },
  };
}

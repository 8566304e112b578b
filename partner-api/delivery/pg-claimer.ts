/**
 * The claimer of the PostgreSQL engine: several instances, each with its worker, claim from one table
 * (issue 13 §3, ADR 0010 §5). Same interface as claimer.ts (SQLite's), different means:
 *
 * - **One statement per claim.** A CTE reads a window of due rows (`status = 'pending' AND next_attempt_ms
 *   <= now`, the partial index `deliveries_due`, ordered by due time, never by id or rowid: ids and
 *   sequences do not commit in order), ranks them, locks the chosen ones `FOR UPDATE SKIP LOCKED` (a row
 *   another transaction holds is passed over, never waited for) and UPDATEs them with the claim token, one
 *   more attempt and the lease. A row whose subscription is no longer active is cancelled in the same
 *   statement.
 * - **Leases on the database's clock.** `now` is `clock_timestamp()` in unix ms, so instances whose clocks
 *   disagree still agree on when a lease ends; a dead instance's rows come due again when it does, and
 *   every later write stays guarded by the token (store.ts).
 * - **Slot shares across instances.** The per-subscription, per-workspace and per-host shares (slots.ts,
 *   ADR 0007) are counted in the claim itself from the rows claimed and not finished (`claim_token IS NOT
 *   NULL`, pending, lease not over), whichever instance holds them. Claims take a transaction-level advisory
 *   lock first, so two instances never count the same free room twice (each claim is one short statement:
 *   ~1 ms held). The overall share stays per instance: it is that process's own capacity.
 * - **Fairness.** Within the window, rows are numbered per subscription (oldest first), then per workspace
 *   by that number, and taken in order of the workspace number: one row of every workspace, then a second…
 *   so a workspace with many Zaps gets no more turns than one with a single Zap.
 * - **Bounded cost.** A window is at most WINDOW_ROWS due rows. When a window's rows are blocked (their
 *   shares are full: one slow endpoint's backlog at the head), the next window starts after it (a cursor
 *   on (due time, id)), up to WINDOWS_PER_CLAIM per claim; reaching the end of the due rows starts over
 *   from the oldest. So a backlog behind a blocked head is reached in a few claims, each reading a bounded
 *   number of rows, and a row committed late with an earlier due time is found at the next start-over.
 *   Every claim also reads the NEWEST_ROWS rows that came due last, so a fresh event is sent at once even
 *   while the cursor is still walking a long blocked backlog (the older rows behind it wait for the walk).
 */
import crypto from 'node:crypto';

import type { Queryable, Tx } from '../db/store';
import type { Claimer, ClaimRequest, ClaimResult } from './claimer';
import { hostKey, type SlotLimits } from './slots';
import type { ClaimedDelivery } from './store';

/** Due rows read per statement. */
const WINDOW_ROWS = 512;
/** The newest due rows read by every claim besides the window (fresh events, due just now). */
const NEWEST_ROWS = 128;
/** Windows read per claim at most, when rows are blocked by full shares. */
const WINDOWS_PER_CLAIM = 4;
/** The key of the advisory lock that makes claims take turns (any constant no other lock of this database uses). */
const CLAIM_LOCK_KEY = 0x696c6c756d; // "illum" in ASCII: fits a JS number exactly

/** The share a target URL counts against in SQL, as slots.ts's hostKey: scheme://host[:port], lower-cased,
 * without the scheme's default port (the stored URL is https or, in development, http; never a userinfo). */
const HOST_OF = (url: string) => `
    regexp_replace(lower(substring(${url} from '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*')), '^(https://.*):443$|^(http://.*):80$', '\\1\\2')`;

const CLAIM = `
WITH clock AS (
  -- The caller's time (tests with a clock they move), else the database's own: one clock for every instance.
  SELECT COALESCE(CAST(? AS BIGINT), CAST(floor(extract(epoch FROM clock_timestamp()) * 1000) AS BIGINT)) AS now_ms
),
oldest AS MATERIALIZED (
  -- The cursor's window: the next due rows after the last window looked at.
  SELECT d.id, d.subscription_id, d.next_attempt_ms
    FROM deliveries d, clock
   WHERE d.status = 'pending' AND d.next_attempt_ms <= clock.now_ms
     AND (d.next_attempt_ms, d.id) > (CAST(? AS BIGINT), CAST(? AS TEXT))
     AND NOT (d.id = ANY (CAST(? AS TEXT[])))
   ORDER BY d.next_attempt_ms, d.id
   LIMIT ?
),
newest AS (
  -- The rows that came due last (fresh events): seen at once, however long a blocked backlog before them.
  SELECT d.id, d.subscription_id, d.next_attempt_ms
    FROM deliveries d, clock
   WHERE d.status = 'pending' AND d.next_attempt_ms <= clock.now_ms
     AND NOT (d.id = ANY (CAST(? AS TEXT[])))
   ORDER BY d.next_attempt_ms DESC, d.id DESC
   LIMIT ?
),
win AS MATERIALIZED (SELECT * FROM oldest UNION SELECT * FROM newest),
cand AS (
  SELECT w.id, w.subscription_id, w.next_attempt_ms, s.workspace_id, s.active, ${HOST_OF('s.target_url')} AS host
    FROM win w JOIN subscriptions s ON s.id = w.subscription_id
),
held AS (
  -- Claimed and not finished, by any instance: a lease ends at most leaseMs after now.
  SELECT d.subscription_id, s.workspace_id, ${HOST_OF('s.target_url')} AS host
    FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id, clock
   WHERE d.status = 'pending' AND d.claim_token IS NOT NULL
     AND d.next_attempt_ms > clock.now_ms AND d.next_attempt_ms <= clock.now_ms + ?
),
held_sub AS (SELECT subscription_id, count(*) AS n FROM held GROUP BY subscription_id),
held_ws AS (SELECT workspace_id, count(*) AS n FROM held GROUP BY workspace_id),
held_host AS (SELECT host, count(*) AS n FROM held GROUP BY host),
by_sub AS (
  SELECT c.*, row_number() OVER (PARTITION BY c.subscription_id ORDER BY c.next_attempt_ms, c.id) AS sub_rank
    FROM cand c WHERE c.active = 1
),
roomy AS (
  SELECT b.* FROM by_sub b LEFT JOIN held_sub h ON h.subscription_id = b.subscription_id
   WHERE b.sub_rank <= ? - COALESCE(h.n, 0)
),
by_ws AS (
  SELECT r.*,
         row_number() OVER (PARTITION BY r.workspace_id ORDER BY r.sub_rank, r.next_attempt_ms, r.id) AS ws_rank,
         row_number() OVER (PARTITION BY r.host ORDER BY r.sub_rank, r.next_attempt_ms, r.id) AS host_rank
    FROM roomy r
),
picked AS (
  SELECT b.id FROM by_ws b
    LEFT JOIN held_ws hw ON hw.workspace_id = b.workspace_id
    LEFT JOIN held_host hh ON hh.host = b.host
   WHERE b.ws_rank <= ? - COALESCE(hw.n, 0) AND b.host_rank <= ? - COALESCE(hh.n, 0)
   ORDER BY b.ws_rank, b.next_attempt_ms, b.id
   LIMIT ?
),
locked AS (
  SELECT d.id FROM deliveries d, clock
   WHERE d.id IN (SELECT id FROM picked) AND d.status = 'pending' AND d.next_attempt_ms <= clock.now_ms
     FOR UPDATE OF d SKIP LOCKED
),
claimed AS (
  UPDATE deliveries d
     SET claim_token = ?, claimed_at_ms = clock.now_ms, next_attempt_ms = clock.now_ms + ?, attempts = d.attempts + 1
    FROM locked, clock, subscriptions s, events e
   WHERE d.id = locked.id AND s.id = d.subscription_id AND e.id = d.event_id
  RETURNING d.id, d.attempts AS attempt, d.event_id AS "eventId", d.subscription_id AS "subscriptionId",
            s.workspace_id AS "workspaceId", s.target_url AS "targetUrl", s.secret, e.type AS "eventType", e.payload
),
gone AS (
  UPDATE deliveries d
     SET status = 'cancelled', claim_token = NULL, last_error = 'subscription is no longer active',
         finished_at = to_char(to_timestamp(clock.now_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    FROM clock
   WHERE d.id IN (SELECT x.id FROM deliveries x
                   WHERE x.id IN (SELECT id FROM cand WHERE active <> 1) AND x.status = 'pending'
                     FOR UPDATE OF x SKIP LOCKED)
  RETURNING d.id
)
SELECT (SELECT count(*) FROM oldest) AS "windowRows",
       (SELECT next_attempt_ms FROM oldest ORDER BY next_attempt_ms DESC, id DESC LIMIT 1) AS "lastDueMs",
       (SELECT id FROM oldest ORDER BY next_attempt_ms DESC, id DESC LIMIT 1) AS "lastId",
       (SELECT count(*) FROM gone) AS cancelled,
       (SELECT COALESCE(json_agg(claimed), '[]'::json) FROM claimed) AS claimed`;

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

interface WindowResult {
  windowRows: number;
  lastDueMs: number | null;
  lastId: string | null;
  cancelled: number;
  claimed: ClaimedRow[];
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

/** Where the next window starts: after this (due time, id); the start is before every row. */
interface Cursor {
  dueMs: number;
  id: string;
}
const START: Cursor = { dueMs: -1, id: '' };

/** The claimer of the PostgreSQL engine, on `store` (see the module comment). */
export function createPgClaimer(store: Queryable, opts: PgClaimerOptions): Claimer {
  const { limits } = opts;
  let cursor = START;

  async function claimWindow(tx: Tx, request: ClaimRequest, token: string, room: number): Promise<WindowResult> {
    const inFlight = [...request.inFlight];
    const row = await tx.one<WindowResult>(
      CLAIM,
      opts.databaseClock ? null : request.nowMs,
      cursor.dueMs,
      cursor.id,
      inFlight,
      WINDOW_ROWS,
      inFlight,
      NEWEST_ROWS,
      request.leaseMs,
      limits.perSubscription,
      limits.perWorkspace,
      limits.perHost,
      room,
      token,
      request.leaseMs,
    );
    return row as WindowResult; // one row, always: the SELECT has no FROM
  }

  async function claimIn(
    tx: Tx,
    request: ClaimRequest,
  ): Promise<{ rows: ClaimedRow[]; cancelled: number; token: string }> {
    // Claims take turns across instances, so the shares read below are not handed out twice.
    await tx.run(`SELECT pg_advisory_xact_lock(${CLAIM_LOCK_KEY})`);
    const token = crypto.randomBytes(12).toString('base64url');
    const rows: ClaimedRow[] = [];
    let cancelled = 0;
    for (let windows = 0; windows < WINDOWS_PER_CLAIM; windows++) {
      const room = request.slots.free - rows.length;
      if (room <= 0) break;
      const result = await claimWindow(tx, request, token, room);
      rows.push(...result.claimed);
      cancelled += result.cancelled;
      if (result.windowRows < WINDOW_ROWS || result.lastDueMs === null || result.lastId === null) {
        cursor = START; // the end of the due rows: the next window starts from the oldest again
        break;
      }
      if (rows.length >= request.slots.free) break; // the window may hold more: look at it again next time
      cursor = { dueMs: result.lastDueMs, id: result.lastId }; // blocked rows: look further on
    }
    return { rows, cancelled, token };
  }

  async function claimNow(request: ClaimRequest): Promise<ClaimResult> {
    if (request.slots.free <= 0) return { claimed: [], cancelled: 0, dropped: 0 };
    const db = request.db ?? store;
    const startCursor = cursor;
    let taken: { rows: ClaimedRow[]; cancelled: number; token: string };
    try {
      taken = await db.write((tx) => claimIn(tx, request));
    } catch (err) {
      cursor = startCursor; // rolled back: nothing was claimed
      throw err;
    }
    const result: ClaimResult = { claimed: [], cancelled: taken.cancelled, dropped: 0 };
    for (const row of taken.rows) {
      const holder = { subscriptionId: row.subscriptionId, workspaceId: row.workspaceId, host: hostKey(row.targetUrl) };
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

/**
 * The worker's SQL, prepared once per database. A claim is a lease: claiming sets claim_token and moves
 * next_attempt_ms to the lease's end (timeout + margin), so a row held by a worker that died becomes due
 * again by itself, and every later write is guarded by the token, so a worker that lost its lease changes
 * nothing. SQLite has no SKIP LOCKED; BEGIN IMMEDIATE makes each claim the only writer while it runs.
 */
import crypto from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { Db } from '../db/open';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
import type { AttemptOutcome } from './policy';

export interface ClaimedDelivery {
  id: string;
  subscriptionId: string;
  eventId: string;
  eventType: string;
  /** events.payload, exactly as stored. */
  payload: string;
  targetUrl: string;
  secret: string;
  /** This attempt's number, 1-based: attempts are counted when claimed. */
  attempt: number;
  claimToken: string;
}

export interface ClaimRequest {
  nowMs: number;
  leaseMs: number;
  limit: number;
  /** How many more this worker may start per subscription; subscriptions at 0 are skipped in SQL. */
  capacityLeft: (subscriptionId: string) => number;
  saturated: string[];
}

export interface AttemptRecord {
  delivery: ClaimedDelivery;
  startedAtMs: number;
  durationMs: number;
  statusCode: number | null;
  outcome: AttemptOutcome;
  error: string | null;
  responseBody: string | null;
}

interface CandidateRow {
  id: string;
  subscriptionId: string;
  eventId: string;
  eventType: string;
  payload: string;
  targetUrl: string;
  secret: string;
  active: number;
}

export interface DeliveryStore {
  /** Claims up to `limit` due deliveries in one write transaction; cancels any whose subscription is off. */
  claim(request: ClaimRequest): { claimed: ClaimedDelivery[]; cancelled: number };
  recordAttempt(record: AttemptRecord): void;
  succeed(delivery: ClaimedDelivery, atMs: number): void;
  reschedule(delivery: ClaimedDelivery, atMs: number, error: string): void;
  fail(delivery: ClaimedDelivery, atMs: number, error: string): void;
  /** Marks the start of a run of failures (kept if one is running); returns when it started, or null if off. */
  noteFailure(subscriptionId: string, atMs: number): number | null;
  noteSuccess(subscriptionId: string): void;
  /** Runs `fn` in one write transaction. */
  transaction<T>(fn: () => T): T;
}

const stores = new WeakMap<Db, DeliveryStore>();

export function deliveryStore(db: Db): DeliveryStore {
  let store = stores.get(db);
  if (!store) {
    store = createStore(db);
    stores.set(db, store);
  }
  return store;
}

function createStore(db: Db): DeliveryStore {
  // Walks deliveries_due in next_attempt_ms order and stops at `limit`; saturated subscriptions are skipped
  // here so a backlog of one slow endpoint cannot fill every batch.
  const candidates: Statement<[number, string, number], CandidateRow> = db.prepare(`
    SELECT d.id, d.subscription_id AS subscriptionId, d.event_id AS eventId, e.type AS eventType, e.payload,
           s.target_url AS targetUrl, s.secret, s.active
      FROM deliveries d
      JOIN subscriptions s ON s.id = d.subscription_id
      JOIN events e ON e.id = d.event_id
     WHERE d.status = 'pending' AND d.next_attempt_ms <= ?
       AND d.subscription_id NOT IN (SELECT value FROM json_each(?))
     ORDER BY d.next_attempt_ms
     LIMIT ?`);
  const take = db.prepare<[string, number, number, string], { attempts: number }>(`
    UPDATE deliveries SET claim_token = ?, claimed_at_ms = ?, next_attempt_ms = ?, attempts = attempts + 1
     WHERE id = ? AND status = 'pending'
    RETURNING attempts`);
  const cancel = db.prepare(`
    UPDATE deliveries SET status = 'cancelled', finished_at = ?, claim_token = NULL,
           last_error = 'subscription is no longer active'
     WHERE id = ? AND status = 'pending'`);
  const insertAttempt = db.prepare(`
    INSERT INTO delivery_attempts (id, delivery_id, attempt, started_at, duration_ms, status_code, outcome, error, response_body)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const succeed = db.prepare(`
    UPDATE deliveries SET status = 'succeeded', finished_at = ?, last_error = NULL, claim_token = NULL
     WHERE id = ? AND claim_token = ?`);
  const reschedule = db.prepare(`
    UPDATE deliveries SET next_attempt_ms = ?, last_error = ?, claim_token = NULL, claimed_at_ms = NULL
     WHERE id = ? AND claim_token = ?`);
  const fail = db.prepare(`
    UPDATE deliveries SET status = 'failed', finished_at = ?, last_error = ?, claim_token = NULL
     WHERE id = ? AND claim_token = ?`);
  const noteFailure = db.prepare<[number, string], { since: number }>(`
    UPDATE subscriptions SET failing_since_ms = COALESCE(failing_since_ms, ?)
     WHERE id = ? AND active = 1
    RETURNING failing_since_ms AS since`);
  const noteSuccess = db.prepare(
    `UPDATE subscriptions SET failing_since_ms = NULL WHERE id = ? AND failing_since_ms IS NOT NULL`,
  );

  const claim = db.transaction((request: ClaimRequest) => {
    const rows = candidates.all(request.nowMs, JSON.stringify(request.saturated), request.limit);
    const token = crypto.randomBytes(12).toString('base64url');
    const leaseEnd = request.nowMs + request.leaseMs;
    const taken = new Map<string, number>();
    const claimed: ClaimedDelivery[] = [];
    let cancelled = 0;
    for (const row of rows) {
      if (!row.active) {
        cancelled += cancel.run(isoAt(request.nowMs), row.id).changes;
        continue;
      }
      const already = taken.get(row.subscriptionId) ?? 0;
      if (already >= request.capacityLeft(row.subscriptionId)) continue;
      const updated = take.get(token, request.nowMs, leaseEnd, row.id);
      if (!updated) continue;
      taken.set(row.subscriptionId, already + 1);
      claimed.push({
        id: row.id,
        subscriptionId: row.subscriptionId,
        eventId: row.eventId,
        eventType: row.eventType,
        payload: row.payload,
        targetUrl: row.targetUrl,
        secret: row.secret,
        attempt: updated.attempts,
        claimToken: token,
      });
    }
    return { claimed, cancelled };
  });

  return {
    claim: (request) => claim.immediate(request),
    recordAttempt: (r) => {
      insertAttempt.run(
        newId('att'),
        r.delivery.id,
        r.delivery.attempt,
        isoAt(r.startedAtMs),
        r.durationMs,
        r.statusCode,
        r.outcome,
        r.error,
        r.responseBody,
      );
    },
    succeed: (d, atMs) => void succeed.run(isoAt(atMs), d.id, d.claimToken),
    reschedule: (d, atMs, error) => void reschedule.run(atMs, error, d.id, d.claimToken),
    fail: (d, atMs, error) => void fail.run(isoAt(atMs), error, d.id, d.claimToken),
    noteFailure: (subscriptionId, atMs) => noteFailure.get(atMs, subscriptionId)?.since ?? null,
    noteSuccess: (subscriptionId) => void noteSuccess.run(subscriptionId),
    transaction: (fn) => db.transaction(fn).immediate(),
  };
}

/**
 * What the worker writes after an attempt, prepared once per database. Every write to a delivery is
 * guarded by the claim token it was sent under (see claimer.ts): a worker whose lease ran out, and whose
 * row was claimed again by another, changes nothing.
 */
import type { Db } from '../db/open';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
import { writeTransaction } from '../lib/statements';
import type { AttemptOutcome } from './policy';
import type { SlotHolder } from './slots';

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
  /** The shares of the delivery slots this attempt counts against (slots.ts). */
  holder: SlotHolder;
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

export interface DeliveryStore {
  recordAttempt(record: AttemptRecord): void;
  succeed(delivery: ClaimedDelivery, atMs: number): void;
  reschedule(delivery: ClaimedDelivery, atMs: number, error: string): void;
  fail(delivery: ClaimedDelivery, atMs: number, error: string): void;
  /** Final without an attempt: the claim's count of one more attempt is taken back. */
  cancel(delivery: ClaimedDelivery, atMs: number, reason: string): void;
  /** Marks the start of a run of failures (kept if one is running) and its latest error; returns when it started, or null if off. */
  noteFailure(subscriptionId: string, atMs: number, error: string | null): number | null;
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
  const cancel = db.prepare(`
    UPDATE deliveries SET status = 'cancelled', finished_at = ?, last_error = ?, claim_token = NULL, attempts = attempts - 1
     WHERE id = ? AND claim_token = ?`);
  const noteFailure = db.prepare<[number, string | null, string], { since: number }>(`
    UPDATE subscriptions SET failing_since_ms = COALESCE(failing_since_ms, ?), last_error = ?
     WHERE id = ? AND active = 1
    RETURNING failing_since_ms AS since`);
  const noteSuccess = db.prepare(
    `UPDATE subscriptions SET failing_since_ms = NULL, last_error = NULL WHERE id = ? AND failing_since_ms IS NOT NULL`,
  );

  return {
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
    cancel: (d, atMs, reason) => void cancel.run(isoAt(atMs), reason, d.id, d.claimToken),
    noteFailure: (subscriptionId, atMs, error) => noteFailure.get(atMs, error, subscriptionId)?.since ?? null,
    noteSuccess: (subscriptionId) => void noteSuccess.run(subscriptionId),
    transaction: <T>(fn: () => T) => writeTransaction(db, fn),
  };
}

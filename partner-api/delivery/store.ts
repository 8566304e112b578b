/**
 * What the worker writes after an attempt. Every write to a delivery is
 * guarded by the claim token it was sent under (see claimer.ts): a worker whose lease ran out, and whose
 * row was claimed again by another, changes nothing.
 */
import type { Queryable } from '../db/store';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
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
  recordAttempt(record: AttemptRecord): Promise<void>;
  succeed(delivery: ClaimedDelivery, atMs: number): Promise<void>;
  reschedule(delivery: ClaimedDelivery, atMs: number, error: string): Promise<void>;
  fail(delivery: ClaimedDelivery, atMs: number, error: string): Promise<void>;
  /** Final without an attempt: the claim's count of one more attempt is taken back. */
  cancel(delivery: ClaimedDelivery, atMs: number, reason: string): Promise<void>;
  /** Marks the start of a run of failures (kept if one is running) and its latest error; resolves to when it
   * started (unix ms), or null if the subscription is off. */
  noteFailure(subscriptionId: string, atMs: number, error: string | null): Promise<number | null>;
  noteSuccess(subscriptionId: string): Promise<void>;
}

const INSERT_ATTEMPT = `
    INSERT INTO delivery_attempts (id, delivery_id, attempt, started_at, duration_ms, status_code, outcome, error, response_body)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`;
const SUCCEED = `
    UPDATE deliveries SET status = 'succeeded', finished_at = ?, last_error = NULL, claim_token = NULL
     WHERE id = ? AND claim_token = ?`;
const RESCHEDULE = `
    UPDATE deliveries SET next_attempt_ms = ?, last_error = ?, claim_token = NULL, claimed_at_ms = NULL
     WHERE id = ? AND claim_token = ?`;
const FAIL = `
    UPDATE deliveries SET status = 'failed', finished_at = ?, last_error = ?, claim_token = NULL
     WHERE id = ? AND claim_token = ?`;
const CANCEL = `
    UPDATE deliveries SET status = 'cancelled', finished_at = ?, last_error = ?, claim_token = NULL, attempts = attempts - 1
     WHERE id = ? AND claim_token = ?`;
const NOTE_FAILURE = `
    UPDATE subscriptions SET failing_since_ms = COALESCE(failing_since_ms, ?), last_error = ?
     WHERE id = ? AND active = 1
    RETURNING failing_since_ms AS since`;
const NOTE_SUCCESS = `UPDATE subscriptions SET failing_since_ms = NULL, last_error = NULL WHERE id = ? AND failing_since_ms IS NOT NULL`;

/** The worker's writes on `db` (the store, or a transaction: then each joins it). */
export function deliveryStore(db: Queryable): DeliveryStore {
  return {
    recordAttempt: async (r) => {
      await db.run(
        INSERT_ATTEMPT,
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
    succeed: async (d, atMs) => void (await db.run(SUCCEED, isoAt(atMs), d.id, d.claimToken)),
    reschedule: async (d, atMs, error) => void (await db.run(RESCHEDULE, atMs, error, d.id, d.claimToken)),
    fail: async (d, atMs, error) => void (await db.run(FAIL, isoAt(atMs), error, d.id, d.claimToken)),
    cancel: async (d, atMs, reason) => void (await db.run(CANCEL, isoAt(atMs), reason, d.id, d.claimToken)),
    noteFailure: async (subscriptionId, atMs, error) =>
      (await db.one<{ since: number }>(NOTE_FAILURE, atMs, error, subscriptionId))?.since ?? null,
    noteSuccess: async (subscriptionId) => void (await db.run(NOTE_SUCCESS, subscriptionId)),
  };
}

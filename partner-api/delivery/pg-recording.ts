/**
 * The delivery writes of one recorded batch on PostgreSQL, in a few set-based statements (worker.ts, its
 * PostgreSQL flush). recording.ts writes a batch row by row: for each attempt the subscription's run of
 * failures, the attempt's row and its delivery's state, three statements each. On SQLite a statement is a
 * function call; on PostgreSQL each is a network round trip, and under load (the API's event loop busy
 * answering 1,000 requests/s) a round trip took ~4-10 ms, so recording a batch of ~110 attempts held its
 * transaction, and every delivery slot that batch's rows held, for 1-5 s: the worker delivered ~160-290/s
 * while the receiver answered at once (docs/benchmarks.md).
 *
 * `createPgBatchStore(db)` is a DeliveryStore (store.ts) whose writes on the success path (`noteSuccess`,
 * `recordAttempt`, `succeed`) are queued and written by `flush()` in four statements, whatever the batch's
 * size, in recording.ts's lock order: the subscriptions whose run of failures ends, by ascending id; then
 * the deliveries, locked by ascending id before the attempts' rows (whose foreign key share-locks them) and
 * their new state are written. Any other write (`noteFailure`, `reschedule`, `fail`, `cancel`) first
 * writes what is queued, and from then on every write goes through at once, row by row as store.ts writes
 * it: a batch with a failure may turn a subscription off, which cancels its pending deliveries (recording.ts
 * step 3, outside this store), so nothing of such a batch may still be queued then. A batch of successes
 * alone turns nothing off. The caller must call `flush()` before its transaction commits, and must not hand
 * this store a batch with refusals (recording.ts locks a subscription for a refusal outside the store).
 */
import type { Queryable } from '../db/store';
import { isoAt } from '../lib/clock';
import { compareIds, newId } from '../lib/ids';
import { type AttemptRecord, type ClaimedDelivery, type DeliveryStore, deliveryStore } from './store';

/** The subscriptions whose run of failures ends, locked by ascending id (recording.ts step 1). */
const NOTE_SUCCESSES = `
UPDATE subscriptions SET failing_since_ms = NULL, last_error = NULL
 WHERE id IN (SELECT id FROM subscriptions WHERE id = ANY (CAST(? AS TEXT[])) AND failing_since_ms IS NOT NULL
               ORDER BY id FOR UPDATE)`;
/** The batch's delivery rows, locked by ascending id before anything else touches them (step 2). */
const LOCK_DELIVERIES = `SELECT count(*) FROM (SELECT id FROM deliveries WHERE id = ANY (CAST(? AS TEXT[])) ORDER BY id FOR UPDATE) d`;
const INSERT_ATTEMPTS = `
INSERT INTO delivery_attempts (id, delivery_id, attempt, started_at, duration_ms, status_code, outcome, error, response_body)
SELECT * FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS INTEGER[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]),
                     CAST(? AS INTEGER[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]))`;
/** As store.ts's SUCCEED, for many rows: each guarded by the claim token it was sent under. */
const SUCCEED_ALL = `
UPDATE deliveries d SET status = 'succeeded', finished_at = u.finished_at, last_error = NULL, claim_token = NULL
  FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[])) AS u(id, claim_token, finished_at)
 WHERE d.id = u.id AND d.claim_token = u.claim_token`;

export interface PgBatchStore extends DeliveryStore {
  /** Writes what is queued (in `db`'s transaction). */
  flush(): Promise<void>;
}

/** See the module comment. `db` is the batch's transaction. */
export function createPgBatchStore(db: Queryable): PgBatchStore {
  const direct = deliveryStore(db);
  let queuing = true;
  let successes = new Set<string>();
  let attempts: AttemptRecord[] = [];
  let succeeded: { delivery: ClaimedDelivery; atMs: number }[] = [];

  async function flush(): Promise<void> {
    const subscriptionIds = [...successes].sort(compareIds);
    const [records, finished] = [attempts, succeeded];
    successes = new Set();
    attempts = [];
    succeeded = [];
    if (subscriptionIds.length > 0) await db.run(NOTE_SUCCESSES, subscriptionIds);
    const deliveryIds = [...new Set([...records.map((r) => r.delivery.id), ...finished.map((s) => s.delivery.id)])];
    if (deliveryIds.length === 0) return;
    await db.value(LOCK_DELIVERIES, deliveryIds.sort(compareIds));
    if (records.length > 0) {
      await db.run(
        INSERT_ATTEMPTS,
        records.map(() => newId('att')),
        records.map((r) => r.delivery.id),
        records.map((r) => r.delivery.attempt),
        records.map((r) => isoAt(r.startedAtMs)),
        records.map((r) => r.durationMs),
        records.map((r) => r.statusCode),
        records.map((r) => r.outcome),
        records.map((r) => r.error),
        records.map((r) => r.responseBody),
      );
    }
    if (finished.length > 0) {
      await db.run(
        SUCCEED_ALL,
        finished.map((s) => s.delivery.id),
        finished.map((s) => s.delivery.claimToken),
        finished.map((s) => isoAt(s.atMs)),
      );
    }
  }

  /** `write`, after what is queued, and every write after it at once. */
  const atOnce =
    <A extends unknown[], R>(write: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (queuing) {
        queuing = false;
        await flush();
      }
      return write(...args);
    };

  return {
    flush,
    noteSuccess: async (subscriptionId) => {
      if (queuing) successes.add(subscriptionId);
      else await direct.noteSuccess(subscriptionId);
    },
    recordAttempt: async (record) => {
      if (queuing) attempts.push(record);
      else await direct.recordAttempt(record);
    },
    succeed: async (delivery, atMs) => {
      if (queuing) succeeded.push({ delivery, atMs });
      else await direct.succeed(delivery, atMs);
    },
    noteFailure: atOnce((subscriptionId: string, atMs: number, error: string | null) =>
      direct.noteFailure(subscriptionId, atMs, error),
    ),
    reschedule: atOnce((delivery: ClaimedDelivery, atMs: number, error: string) =>
      direct.reschedule(delivery, atMs, error),
    ),
    fail: atOnce((delivery: ClaimedDelivery, atMs: number, error: string) => direct.fail(delivery, atMs, error)),
    cancel: atOnce((delivery: ClaimedDelivery, atMs: number, reason: string) => direct.cancel(delivery, atMs, reason)),
  };
}

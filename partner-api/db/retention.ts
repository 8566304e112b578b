/**
 * Retention: old events, finished deliveries and their attempts are deleted in small batches, and the pages
 * they held are given back to the filesystem (incremental vacuum), so the database file levels off under a
 * steady load instead of growing by about 1.5 KB per event forever (docs/performance.md, "Retention").
 *
 * Never deleted, whatever their age:
 *   - a delivery still pending or retrying (status 'pending'), and the event it carries;
 *   - a finished delivery a replay holds (delivery/replay.ts), until its claim is older than `claimHeldMs`;
 *   - any event that still has a delivery row (its deliveries go first, after their own retention);
 *   - the SAMPLES_LIMIT_MAX newest events of each (workspace, event type) and of each (workspace, event
 *     type, assistant): what GET /v1/samples shows a Test trigger, unfiltered or filtered to an assistant.
 *
 * Every batch is its own short write transaction of at most `batchSize` rows read and at most
 * `batchBudgetMs` spent on them, found through indexes (the query-plan guard, test/db/query-plans.test.ts,
 * checks them), with the event loop free between batches: requests and deliveries interleave with pruning instead of waiting for it. The walk goes in
 * insertion order from a cursor kept in memory, so rows it must keep are read once per pass, not once per
 * batch. A pass ends at the first row younger than the cut-off; the next starts after `idleMs`.
 */
import type { AppContext } from '../context';
import { inTransaction } from '../context';
import { purgeExpiredIdempotencyKeys } from '../domain/idempotency';
import { SAMPLES_LIMIT_MAX } from '../domain/samples';
import { isoAt } from '../lib/clock';
import type { Logger } from '../lib/log';
import type { Db } from './open';
import { SqliteStore } from './sqlite-store';
import type { Queryable } from './store';

export interface RetentionSettings {
  /** Events are kept at least this long (ms) after they were created. */
  eventsMs: number;
  /** Finished deliveries (succeeded, failed, cancelled) and their attempts: kept this long (ms) after the delivery was created. */
  deliveriesMs: number;
  /** Rows read per batch (one transaction). */
  batchSize: number;
  /**
   * CPU time a batch may spend on its rows, in ms: past it the batch commits what it did and the next one
   * resumes there. Bounds how long a request can wait behind a batch (the event loop is busy meanwhile).
   */
  batchBudgetMs: number;
  /** Pause between batches while a pass has work left, in ms. */
  intervalMs: number;
  /** Pause after a pass reached rows younger than the cut-off, in ms. */
  idleMs: number;
  /** Free pages kept in the file for the next inserts; beyond this they are given back. */
  freePagesKept: number;
  /** Pages given back per batch at most (PRAGMA incremental_vacuum(N)). */
  vacuumPagesPerBatch: number;
  /**
   * How long (ms) a replay's claim on a finished delivery (delivery/replay.ts) keeps retention off it: the
   * delivery timeout and the claim margin, past which the claim belongs to a process that died.
   */
  claimHeldMs: number;
}

export interface BatchResult {
  deliveries: number;
  attempts: number;
  events: number;
  /** Pages given back to the filesystem. */
  pagesFreed: number;
  /** True when both walks reached the cut-off: nothing older is left to look at in this pass. */
  passDone: boolean;
}

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

/**
 * Locks a delivery's row (the no-op UPDATE of domain/locks.ts) while it is still finished and no live replay
 * claim holds it (delivery/replay.ts claims a finished delivery before sending it again, then records the
 * attempt). On PostgreSQL a replay on another connection may claim it between the batch's read and its
 * deletes; from this lock to COMMIT a replay's claim waits, and then finds no row.
 */
const LOCK_FINISHED_UNCLAIMED = `UPDATE deliveries SET status = status
  WHERE rowid = ? AND status IN (${[...FINISHED].map((s) => `'${s}'`).join(', ')})
    AND (claim_token IS NULL OR claimed_at_ms < ?)`;

/** Where each walk stands; kept between batches, lost on restart (a restart walks from the start once). */
export interface RetentionCursor {
  deliveryRowid: number;
  eventSeq: number;
  deliveriesDone: boolean;
  eventsDone: boolean;
}

export function newCursor(): RetentionCursor {
  return { deliveryRowid: 0, eventSeq: 0, deliveriesDone: false, eventsDone: false };
}

/**
 * One batch at `nowMs`: first the deliveries walk, then (once it has reached its cut-off) the events walk,
 * then up to vacuumPagesPerBatch free pages beyond freePagesKept given back. Mutates `cursor`; when a pass
 * is done the cursor is reset for the next one.
 */
export async function pruneBatch(
  db: Queryable,
  nowMs: number,
  settings: RetentionSettings,
  cursor: RetentionCursor,
): Promise<BatchResult> {
  const result: BatchResult = { deliveries: 0, attempts: 0, events: 0, pagesFreed: 0, passDone: false };
  const limits = { batchSize: settings.batchSize, deadline: performance.now() + settings.batchBudgetMs };
  await db.write(async (db) => {
    if (!cursor.deliveriesDone) {
      const cutoffs = {
        createdBefore: isoAt(nowMs - settings.deliveriesMs),
        claimedBeforeMs: nowMs - settings.claimHeldMs,
      };
      await pruneDeliveries(db, cutoffs, limits, cursor, result);
    } else if (!cursor.eventsDone) await pruneEvents(db, isoAt(nowMs - settings.eventsMs), limits, cursor, result);
  });
  // SQLite gives free pages back here; PostgreSQL's autovacuum does its own.
  if (db instanceof SqliteStore) result.pagesFreed = giveBackFreePages(db.handle, settings);
  if (cursor.deliveriesDone && cursor.eventsDone) {
    result.passDone = true;
    Object.assign(cursor, newCursor());
  }
  return result;
}

/** A batch's bounds: rows read, and the performance.now() past which it stops after the row at hand. */
interface BatchLimits {
  batchSize: number;
  deadline: number;
}

/** A delivery created before `createdBefore` (ISO time) goes, unless a replay claimed it at `claimedBeforeMs` or later. */
interface DeliveryCutoffs {
  createdBefore: string;
  claimedBeforeMs: number;
}

async function pruneDeliveries(
  db: Queryable,
  { createdBefore, claimedBeforeMs }: DeliveryCutoffs,
  { batchSize, deadline }: BatchLimits,
  cursor: RetentionCursor,
  result: BatchResult,
): Promise<void> {
  const rows = await db.all<{ rowid: number; id: string; status: string; createdAt: string }>(
    `SELECT rowid, id, status, created_at AS "createdAt" FROM deliveries WHERE rowid > ? ORDER BY rowid LIMIT ?`,
    cursor.deliveryRowid,
    batchSize,
  );
  // The newest row is never deleted: deliveries has no AUTOINCREMENT, so deleting it would let the next
  // insert reuse its rowid, which the claimer (delivery/claimer.ts) has already seen and would skip.
  const newest = await db.value<number>(`SELECT max(rowid) FROM deliveries`);
  for (const row of rows) {
    if (row.createdAt >= createdBefore) {
      cursor.deliveriesDone = true;
      return;
    }
    cursor.deliveryRowid = row.rowid;
    if (!FINISHED.has(row.status) || row.rowid === newest) continue;
    if ((await db.run(LOCK_FINISHED_UNCLAIMED, row.rowid, claimedBeforeMs)).changes === 0) continue;
    result.attempts += (await db.run(`DELETE FROM delivery_attempts WHERE delivery_id = ?`, row.id)).changes;
    result.deliveries += (await db.run(`DELETE FROM deliveries WHERE rowid = ?`, row.rowid)).changes;
    if (performance.now() > deadline) return; // out of time: the next batch resumes after this row
  }
  if (rows.length < batchSize) cursor.deliveriesDone = true;
}

async function pruneEvents(
  db: Queryable,
  cutoff: string,
  { batchSize, deadline }: BatchLimits,
  cursor: RetentionCursor,
  result: BatchResult,
): Promise<void> {
  const rows = await db.all<{
    seq: number;
    id: string;
    workspaceId: string;
    type: string;
    assistantId: string | null;
    createdAt: string;
    awaitingFanOut: number;
  }>(
    `SELECT seq, id, workspace_id AS "workspaceId", type, assistant_id AS "assistantId", created_at AS "createdAt",
            CASE WHEN fanout_upto IS NOT NULL THEN 1 ELSE 0 END AS "awaitingFanOut"
       FROM events WHERE seq > ? ORDER BY seq LIMIT ?`,
    cursor.eventSeq,
    batchSize,
  );
  const sampleFloor = new Map<string, number>();
  for (const row of rows) {
    if (row.createdAt >= cutoff) {
      cursor.eventsDone = true;
      return;
    }
    cursor.eventSeq = row.seq;
    if (row.awaitingFanOut) continue; // its deliveries are still to be written (delivery/fanout.ts)
    if (row.seq >= (await samplesFloor(db, sampleFloor, row.workspaceId, row.type, null))) continue;
    if (
      row.assistantId !== null &&
      row.seq >= (await samplesFloor(db, sampleFloor, row.workspaceId, row.type, row.assistantId))
    )
      continue;
    if (await db.one(`SELECT 1 FROM deliveries WHERE event_id = ? LIMIT 1`, row.id)) continue;
    result.events += (await db.run(`DELETE FROM events WHERE seq = ?`, row.seq)).changes;
    if (performance.now() > deadline) return; // out of time: the next batch resumes after this row
  }
  if (rows.length < batchSize) cursor.eventsDone = true;
}

/**
 * The seq of the oldest event GET /v1/samples can still show for this workspace, type and assistant filter
 * (null: unfiltered): the SAMPLES_LIMIT_MAX-th newest. Events at or above it are kept. Cached per batch.
 */
async function samplesFloor(
  db: Queryable,
  cache: Map<string, number>,
  workspaceId: string,
  type: string,
  assistantId: string | null,
): Promise<number> {
  const key = `${workspaceId}\n${type}\n${assistantId ?? ''}`;
  let floor = cache.get(key);
  if (floor === undefined) {
    const found =
      assistantId === null
        ? await db.value(
            `SELECT seq FROM events WHERE workspace_id = ? AND type = ? ORDER BY seq DESC LIMIT 1 OFFSET ?`,
            workspaceId,
            type,
            SAMPLES_LIMIT_MAX - 1,
          )
        : await db.value(
            `SELECT seq FROM events WHERE workspace_id = ? AND type = ? AND assistant_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?`,
            workspaceId,
            type,
            assistantId,
            SAMPLES_LIMIT_MAX - 1,
          );
    // Fewer than SAMPLES_LIMIT_MAX events: every one of them is a sample.
    floor = (found as number | undefined) ?? 0;
    cache.set(key, floor);
  }
  return floor;
}

/** Gives free pages beyond settings.freePagesKept back to the filesystem; 0 unless auto_vacuum is INCREMENTAL. */
function giveBackFreePages(db: Db, settings: RetentionSettings): number {
  if ((db.pragma('auto_vacuum', { simple: true }) as number) !== AUTO_VACUUM_INCREMENTAL) return 0;
  const excess = (db.pragma('freelist_count', { simple: true }) as number) - settings.freePagesKept;
  if (excess <= 0) return 0;
  const pages = Math.min(excess, settings.vacuumPagesPerBatch);
  db.pragma(`incremental_vacuum(${pages})`);
  return pages;
}

const AUTO_VACUUM_INCREMENTAL = 2;

/**
 * `auto_vacuum = INCREMENTAL` is set by openDatabase before a new file's first table; on a file made before
 * that, it takes effect only after a full VACUUM, which rewrites the whole file (and needs as much free disk
 * again) while holding every other connection off. This does it at start, before the API listens, when the
 * file is at most `maxBytes`; a larger file is left as it is with one log line saying how to convert it
 * offline. Without the conversion retention still bounds the file: freed pages are reused by new rows,
 * they are only not given back. Returns what it did.
 */
export function convertToIncrementalVacuum(
  db: Db,
  log: Logger,
  maxBytes: number,
): 'already' | 'converted' | 'too_large' {
  if ((db.pragma('auto_vacuum', { simple: true }) as number) === AUTO_VACUUM_INCREMENTAL) return 'already';
  const bytes =
    (db.pragma('page_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number);
  if (bytes > maxBytes) {
    log.error('database file not converted to incremental vacuum: too large to rewrite at start', {
      bytes,
      maxBytes,
      howTo: `stop the API, run: sqlite3 FILE "PRAGMA auto_vacuum = INCREMENTAL; VACUUM;" (needs ${bytes} bytes free), or raise ILLUMICHAT_VACUUM_AT_START_MAX_MB`,
    });
    return 'too_large';
  }
  const started = Date.now();
  db.pragma(`auto_vacuum = ${AUTO_VACUUM_INCREMENTAL}`);
  db.exec('VACUUM');
  log.info('database converted to incremental vacuum', { bytes, ms: Date.now() - started });
  return 'converted';
}

export interface RetentionRunner {
  /** Stops the timer. A batch runs in one transaction, so none is ever left half-done. */
  stop(): void;
}

/** The counts one retention pass logs when it ends; a new pass starts from these. */
function emptyPass() {
  return { deliveries: 0, attempts: 0, events: 0, idempotencyKeys: 0, pagesFreed: 0, batches: 0, longestBatchMs: 0 };
}

/**
 * Runs pruneBatch on a timer for the server: a batch every intervalMs while a pass has work, then idleMs of
 * rest. Each batch also purges up to batchSize expired Idempotency-Key records (domain/idempotency.ts). Logs each pass that deleted something, with its longest batch in ms. A batch that throws (disk
 * full, I/O error) is logged and retried at the next pass.
 */
export function startRetention(ctx: AppContext, settings: RetentionSettings): RetentionRunner {
  const cursor = newCursor();
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const pass = emptyPass();
  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => void tick(), ms);
    timer.unref();
  };
  const tick = async () => {
    if (!ctx.store.open) return;
    let result: BatchResult;
    const started = performance.now();
    try {
      const now = ctx.clock.now();
      result = await pruneBatch(ctx.store, now, settings, cursor);
      pass.idempotencyKeys += await inTransaction(
        ctx,
        async (ctx) => await purgeExpiredIdempotencyKeys(ctx, now, settings.batchSize),
      );
    } catch (error) {
      ctx.log.error('retention batch failed', { error: error instanceof Error ? error.message : String(error) });
      Object.assign(cursor, newCursor());
      schedule(settings.idleMs);
      return;
    }
    pass.batches += 1;
    pass.longestBatchMs = Math.max(pass.longestBatchMs, performance.now() - started);
    pass.deliveries += result.deliveries;
    pass.attempts += result.attempts;
    pass.events += result.events;
    pass.pagesFreed += result.pagesFreed;
    if (!result.passDone) return schedule(settings.intervalMs);
    if (pass.deliveries + pass.events + pass.idempotencyKeys + pass.pagesFreed > 0) {
      ctx.log.info('retention pass', { ...pass, longestBatchMs: Math.round(pass.longestBatchMs * 10) / 10 });
    }
    Object.assign(pass, emptyPass());
    schedule(settings.idleMs);
  };
  schedule(settings.intervalMs);
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

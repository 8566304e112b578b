/**
 * Fan-out after commit (issue 12 §3): the request that makes an event only marks it (outbox.ts,
 * recordEvent), and this module writes the event's delivery rows afterwards, in short transactions of its
 * own, so the creating request costs the same whether one Zap listens or a thousand. Measured before: 57 ms
 * p50 at 100 matching subscriptions, 228 ms at 1,000, with every write of its group commit waiting too.
 *
 * The outbox guarantee holds: the mark commits with the change, and it is cleared only in the transaction
 * that writes the last of the event's delivery rows. A process killed in between leaves the mark, and the
 * next start (or any other process's expander) resumes from `fanout_after`; `INSERT OR IGNORE` on
 * UNIQUE(event_id, subscription_id) makes a repeated chunk harmless.
 *
 * Who receives: the subscriptions that matched when the event committed, i.e. active, same workspace and
 * event type, assistant filter empty or equal to the event's, and rowid at most the event's `fanout_upto`
 * (one made after the event does not get it, as when fan-out ran in the request). Checked again at
 * expansion, so one deactivated (unsubscribed, its key revoked, replaced) or a workspace fallen below Pro
 * in the meantime gets nothing, where before it got a row that its deactivation cancelled. A key revoked
 * behind the API's back (its subscriptions still active) is the worker's send-time check's (authority.ts).
 */
import type { AppContext } from '../context';
import type { Db } from '../db/open';
import { hasIntegration, type Plan } from '../domain/plans';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
import { selectOne, sql, writeTransaction } from '../lib/statements';

/** Delivery rows written per transaction: small enough that requests interleave with a large fan-out. */
export const FANOUT_ROWS_PER_TRANSACTION = 256;

/**
 * Whether an event just stored (inside the change's transaction) owes deliveries, and if so marks it for
 * the fan-out: some active subscription matches and the workspace is on Pro or above (below Pro nothing is
 * enqueued: docs/delivery.md, "Plans below Pro"). A constant number of index seeks, however many match.
 * Returns true when marked.
 */
export function markForFanOut(
  db: Db,
  event: { id: string; workspaceId: string; type: string; assistantId: string | null },
): boolean {
  const matches = sql(
    db,
    `SELECT 1 FROM subscriptions
      WHERE workspace_id = ? AND event_type = ? AND active = 1
        AND (assistant_id IS NULL OR assistant_id = ?) LIMIT 1`,
  ).get(event.workspaceId, event.type, event.assistantId);
  if (!matches) return false;
  const plan = sql(db, 'SELECT plan FROM workspaces WHERE id = ?').pluck().get(event.workspaceId) as Plan;
  if (!hasIntegration(plan)) return false;
  sql(db, `UPDATE events SET fanout_upto = (SELECT max(rowid) FROM subscriptions) WHERE id = ?`).run(event.id);
  return true;
}

interface AwaitingEvent {
  seq: number;
  id: string;
  workspaceId: string;
  type: string;
  assistantId: string | null;
  upto: number;
  after: number;
}

/**
 * Writes up to `maxRows` owed delivery rows, oldest marked event first, in one transaction, and clears
 * each event's mark with its last rows. Returns the rows written and whether marked events remain.
 */
export function expandFanOut(ctx: AppContext, maxRows = FANOUT_ROWS_PER_TRANSACTION): { rows: number; more: boolean } {
  const db = ctx.db;
  return writeTransaction(db, () => {
    const now = ctx.clock.now();
    const createdAt = isoAt(now);
    let rows = 0;
    let budget = maxRows;
    while (budget > 0) {
      const event = selectOne<AwaitingEvent>(
        db,
        `SELECT seq, id, workspace_id AS workspaceId, type, assistant_id AS assistantId, fanout_upto AS upto, fanout_after AS after
           FROM events WHERE fanout_upto IS NOT NULL ORDER BY seq LIMIT 1`,
      );
      if (!event) return { rows, more: false };
      const plan = sql(db, 'SELECT plan FROM workspaces WHERE id = ?').pluck().get(event.workspaceId) as Plan;
      const subscriptions = hasIntegration(plan)
        ? (sql(
            db,
            `SELECT rowid, id FROM subscriptions
              WHERE workspace_id = ? AND event_type = ? AND active = 1
                AND (assistant_id IS NULL OR assistant_id = ?)
                AND rowid > ? AND rowid <= ?
              ORDER BY rowid LIMIT ?`,
          ).all(event.workspaceId, event.type, event.assistantId, event.after, event.upto, budget + 1) as {
            rowid: number;
            id: string;
          }[])
        : [];
      const chunk = subscriptions.slice(0, budget);
      const insert = sql(
        db,
        `INSERT OR IGNORE INTO deliveries (id, event_id, subscription_id, status, next_attempt_ms, created_at) VALUES (?, ?, ?, 'pending', ?, ?)`,
      );
      for (const s of chunk) rows += insert.run(newId('dlv'), event.id, s.id, now, createdAt).changes;
      budget -= chunk.length;
      if (subscriptions.length > chunk.length) {
        // More owed than this transaction's share: resume after the last one written.
        sql(db, 'UPDATE events SET fanout_after = ? WHERE seq = ?').run(chunk.at(-1)!.rowid, event.seq);
        return { rows, more: true };
      }
      sql(db, 'UPDATE events SET fanout_upto = NULL, fanout_after = 0 WHERE seq = ?').run(event.seq);
      budget -= 1; // an event that owes nothing still costs its own look-ups
    }
    return { rows, more: true };
  });
}

/** Writes every owed delivery row now, synchronously, in transactions of up to `rowsPerTransaction`. Returns the rows written. */
export function drainFanOut(ctx: AppContext, rowsPerTransaction = FANOUT_ROWS_PER_TRANSACTION): number {
  let rows = 0;
  for (;;) {
    const result = expandFanOut(ctx, rowsPerTransaction);
    rows += result.rows;
    if (!result.more) return rows;
  }
}

export interface FanOutExpander {
  /** Resumes every marked event (also those a killed process left) and follows the signal. */
  start(): void;
  stop(): void;
  /** Writes every owed row now, synchronously (tests, and the worker's runOnce). Returns the rows written. */
  drain(): number;
}

/**
 * Runs expandFanOut after each signal, one transaction per turn of the event loop until no marked event
 * is left, and calls `written` after each transaction that wrote rows (the worker claims them then).
 * `poll()` is the safety net for events marked by another process on the same file.
 */
export function createFanOutExpander(ctx: AppContext, written: () => void): FanOutExpander & { poll(): void } {
  let running = false;
  let scheduled = false;
  let unsubscribe: (() => void) | undefined;

  function step(): void {
    scheduled = false;
    if (!running || !ctx.db.open) return;
    let result: { rows: number; more: boolean };
    try {
      result = expandFanOut(ctx);
    } catch (error) {
      // A storage fault (disk full, I/O): the marks stay, and the next signal or poll tries again.
      ctx.log.error('fan-out failed; will retry', { error: String(error) });
      return;
    }
    if (result.rows > 0) written();
    if (result.more) schedule();
  }

  function schedule(): void {
    if (scheduled || !running) return;
    scheduled = true;
    setImmediate(step);
  }

  return {
    start() {
      if (running) return;
      running = true;
      unsubscribe = ctx.signal.subscribe(schedule);
      schedule();
    },
    stop() {
      running = false;
      unsubscribe?.();
    },
    poll: schedule,
    drain: () => drainFanOut(ctx),
  };
}

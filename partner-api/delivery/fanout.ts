/**
 * Fan-out after commit (issue 12 §3): the request that makes an event writes at most INLINE_FANOUT_LIMIT
 * delivery rows itself (enqueueDeliveries); with more matching subscriptions it only marks the event, and
 * this module writes the event's delivery rows afterwards, in short transactions of its own, so the
 * creating request costs about the same whether one Zap listens or a thousand. Measured before: 57 ms p50
 * at 100 matching subscriptions, 228 ms at 1,000, with every write of its group commit waiting too.
 *
 * The outbox guarantee holds: the mark commits with the change, and it is cleared only in the transaction
 * that writes the last of the event's delivery rows. A process killed in between leaves the mark, and the
 * next start (or any other process's expander) resumes from `fanout_after`; `ON CONFLICT DO NOTHING` on
 * UNIQUE(event_id, subscription_id) makes a repeated chunk harmless. Expanders of several instances on one
 * PostgreSQL database each claim the events they expand (CLAIM), so no two write one event's rows at once.
 *
 * Who receives: the subscriptions that matched when the event committed, i.e. active, same workspace and
 * event type, assistant filter empty or equal to the event's, and rowid at most the event's `fanout_upto`
 * (one made after the event does not get it, as when fan-out ran in the request). Checked again at
 * expansion, so one deactivated (unsubscribed, its key revoked, replaced) or a workspace fallen below Pro
 * in the meantime gets nothing, where before it got a row that its deactivation cancelled. A key revoked
 * behind the API's back (its subscriptions still active) is the worker's send-time check's (authority.ts).
 */
import type { AppContext } from '../context';
import type { Queryable, Store } from '../db/store';
import { hasIntegration, type Plan } from '../domain/plans';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';

/** Delivery rows written per transaction: small enough that requests interleave with a large fan-out. */
export const FANOUT_ROWS_PER_TRANSACTION = 256;

/**
 * Up to this many matching subscriptions, the creating transaction writes the delivery rows itself: a
 * bounded cost (a few index inserts) that spares the typical event, with one to a few Zaps, the fan-out's
 * own transaction after commit. That transaction was 8% of the API's CPU at 500 events/s over one
 * subscription each (docs/performance.md). Past it, the event is only marked and the fan-out writes the rows.
 */
export const INLINE_FANOUT_LIMIT = 8;

/** Also the subscription's workspace and the event's type, for the workspace's delivery log (migration 010). */
const INSERT_DELIVERY = `INSERT INTO deliveries (id, event_id, subscription_id, workspace_id, event_type, status, next_attempt_ms, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (event_id, subscription_id) DO NOTHING`;

/**
 * Queues the deliveries an event just stored (inside the change's transaction) owes: one per active
 * subscription of its workspace and type whose assistant filter is empty or the event's, on Pro or above
 * (below Pro nothing is enqueued: docs/delivery.md, "Plans below Pro"). Up to INLINE_FANOUT_LIMIT of them
 * are written here, in the change's transaction; more, and the event is marked for the fan-out after
 * commit instead. Either way a bounded number of index seeks and inserts, however many match. `nowMs` is
 * when the rows come due. Returns 'none' (nothing owed), 'written' or 'marked'.
 */
export async function enqueueDeliveries(
  db: Queryable,
  event: { id: string; workspaceId: string; type: string; assistantId: string | null; createdAt: string },
  nowMs: number,
): Promise<'none' | 'written' | 'marked'> {
  const matching = await db.all<{ id: string }>(
    `SELECT id FROM subscriptions
      WHERE workspace_id = ? AND event_type = ? AND active = 1
        AND (assistant_id IS NULL OR assistant_id = ?) LIMIT ?`,
    event.workspaceId,
    event.type,
    event.assistantId,
    INLINE_FANOUT_LIMIT + 1,
  );
  if (matching.length === 0) return 'none';
  const plan = (await db.value<Plan>('SELECT plan FROM workspaces WHERE id = ?', event.workspaceId))!;
  if (!hasIntegration(plan)) return 'none';
  if (matching.length > INLINE_FANOUT_LIMIT) {
    await db.run(`UPDATE events SET fanout_upto = (SELECT max(rowid) FROM subscriptions) WHERE id = ?`, event.id);
    return 'marked';
  }
  for (const s of matching)
    await db.run(INSERT_DELIVERY, newId('dlv'), event.id, s.id, event.workspaceId, event.type, nowMs, event.createdAt);
  return 'written';
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

/** Per database, the workspace the fan-out served last: the next transaction starts with the one after it. */
const servedLast = new WeakMap<Store, string>();

const AWAITING = `SELECT seq, id, workspace_id AS "workspaceId", type, assistant_id AS "assistantId", fanout_upto AS upto, fanout_after AS after
  FROM events WHERE fanout_upto IS NOT NULL AND workspace_id > ? ORDER BY workspace_id, seq LIMIT 1`;

/**
 * The claim of a marked event on PostgreSQL (issue 13 §3): its row, locked until the fan-out's transaction
 * ends, and read as last committed (READ COMMITTED re-reads a row it locks). An event another expander holds
 * is skipped: that one writes its rows, and this one takes the next event, or the same event's next rows
 * after that transaction commits. Without it every instance's expander took the same oldest event, each
 * waited on the others' uncommitted rows, crossed waits ended in deadlocks (ten in one run of four
 * instances), and a late one wrote back a `fanout_after` that another had already moved on or cleared.
 * NO KEY: the fan-out changes no key of the row, so inserts that reference the event (a delivery's foreign
 * key check) are not made to wait. SQLite does not parse it and needs none: its one writer already holds
 * the database.
 */
const CLAIM = ' FOR NO KEY UPDATE SKIP LOCKED';

/**
 * The oldest marked event of the first workspace (by id) after `afterWorkspace`, wrapping round to the
 * first workspace; null when no event is marked. One seek in the partial index of marked events. With
 * `claim` (inside the fan-out's transaction), the event is locked for it and events other expanders hold
 * are passed over; null then also when every marked event is held.
 */
async function nextAwaiting(db: Queryable, afterWorkspace: string, claim = false): Promise<AwaitingEvent | null> {
  const sql = claim && db.engine === 'postgres' ? AWAITING + CLAIM : AWAITING;
  const next = async (after: string) => await db.one<AwaitingEvent>(sql, after);
  return (await next(afterWorkspace)) ?? (afterWorkspace === '' ? null : await next(''));
}

/**
 * Writes up to `maxRows` owed delivery rows in one transaction, and clears each event's mark with its last
 * rows. Events are taken round-robin across workspaces, oldest first within each (one event per workspace
 * per round; a long fan-out yields to the next workspace after each transaction), so a workspace's burst
 * of events with many Zaps does not hold back another's first delivery. On PostgreSQL each event is claimed
 * (CLAIM) and those other expanders hold are left to them. Returns the rows written and whether marked
 * events this expander may take remain (`more: false` while another expander still holds one).
 */
export async function expandFanOut(
  ctx: AppContext,
  maxRows = FANOUT_ROWS_PER_TRANSACTION,
): Promise<{ rows: number; more: boolean }> {
  const db = ctx.db;
  // Most signals follow events whose rows were written inline: a read through the partial index spares
  // them an empty write transaction.
  if (!(await nextAwaiting(db, ''))) return { rows: 0, more: false };
  return await db.write(async (db) => {
    const now = ctx.clock.now();
    const createdAt = isoAt(now);
    let rows = 0;
    let budget = maxRows;
    while (budget > 0) {
      const event = await nextAwaiting(db, servedLast.get(ctx.store) ?? '', true);
      if (!event) return { rows, more: false };
      servedLast.set(ctx.store, event.workspaceId);
      const plan = (await db.value<Plan>('SELECT plan FROM workspaces WHERE id = ?', event.workspaceId))!;
      const subscriptions = hasIntegration(plan)
        ? await db.all<{ rowid: number; id: string }>(
            `SELECT rowid, id FROM subscriptions
              WHERE workspace_id = ? AND event_type = ? AND active = 1
                AND (assistant_id IS NULL OR assistant_id = ?)
                AND rowid > ? AND rowid <= ?
              ORDER BY rowid LIMIT ?`,
            event.workspaceId,
            event.type,
            event.assistantId,
            event.after,
            event.upto,
            budget + 1,
          )
        : [];
      const chunk = subscriptions.slice(0, budget);
      for (const s of chunk)
        rows += (
          await db.run(INSERT_DELIVERY, newId('dlv'), event.id, s.id, event.workspaceId, event.type, now, createdAt)
        ).changes;
      budget -= chunk.length;
      if (subscriptions.length > chunk.length) {
        // More owed than this transaction's share: resume after the last one written.
        await db.run('UPDATE events SET fanout_after = ? WHERE seq = ?', chunk.at(-1)!.rowid, event.seq);
        return { rows, more: true };
      }
      await db.run('UPDATE events SET fanout_upto = NULL, fanout_after = 0 WHERE seq = ?', event.seq);
      budget -= 1; // an event that owes nothing still costs its own look-ups
    }
    return { rows, more: true };
  });
}

/** How long a drain waits before looking again at events another expander holds, ms. */
const HELD_EVENT_RECHECK_MS = 5;

/**
 * Writes every owed delivery row now, in transactions of up to `rowsPerTransaction`, and resolves once no
 * event is marked: also those another instance's expander was writing, which it waits for (their
 * transactions are short; one whose process died is rolled back, and this drain takes the event over).
 * Resolves to the rows this drain wrote.
 */
export async function drainFanOut(ctx: AppContext, rowsPerTransaction = FANOUT_ROWS_PER_TRANSACTION): Promise<number> {
  let rows = 0;
  for (;;) {
    const result = await expandFanOut(ctx, rowsPerTransaction);
    rows += result.rows;
    if (result.more) continue;
    if (!(await nextAwaiting(ctx.db, ''))) return rows;
    await new Promise((resolve) => setTimeout(resolve, HELD_EVENT_RECHECK_MS));
  }
}

export interface FanOutExpander {
  /** Resumes every marked event (also those a killed process left) and follows the signal. */
  start(): void;
  stop(): void;
  /** Writes every owed row now (tests, and the worker's runOnce). Resolves to the rows written. */
  drain(): Promise<number>;
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

  async function step(): Promise<void> {
    scheduled = false;
    if (!running || !ctx.store.open) return;
    let result: { rows: number; more: boolean };
    try {
      result = await expandFanOut(ctx);
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
    setImmediate(() => void step());
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
    drain: async () => await drainFanOut(ctx),
  };
}

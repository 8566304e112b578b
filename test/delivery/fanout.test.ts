/**
 * Fan-out after commit (delivery/fanout.ts, issue 12 §3): the request that makes an event writes no
 * delivery rows, only the event and its mark; the fan-out then writes one row per subscription that matched
 * at the commit, in transactions of bounded size, resumes a cut-off fan-out without writing a row twice,
 * and keeps the outbox's rules (below Pro nothing, deactivated nothing, assistant filters). The crash case
 * (SIGKILL with fan-outs owed) is in test/proof/crash.test.ts.
 */
import type { EventType } from '../../catalog/events';
import { fixtureFor } from '../../fixtures';
import { inTransaction } from '../../partner-api/context';
import { newCursor, pruneBatch } from '../../partner-api/db/retention';
import { sqliteHandle } from '../../partner-api/db/sqlite-store';
import {
  createFanOutExpander,
  drainFanOut,
  expandFanOut,
  FANOUT_ROWS_PER_TRANSACTION,
  INLINE_FANOUT_LIMIT,
} from '../../partner-api/delivery/fanout';
import { recordEvent } from '../../partner-api/delivery/outbox';
import { createDeliveryWorker, type DeliveryWorker } from '../../partner-api/delivery/worker';
import { createSubscription, deactivateSubscriptions } from '../../partner-api/domain/subscriptions';
import { isoAt } from '../../partner-api/lib/clock';
import { newId } from '../../partner-api/lib/ids';
import { api, startApiServer, waitUntil } from '../support/api-server';
import { times } from '../support/helpers';
import { type Receiver, startReceiver } from '../support/receiver';
import { makeContext, seedWorkspace, subscribe, type TestContext, type Workspace } from './helpers';

const contexts: TestContext[] = [];
const workers: DeliveryWorker[] = [];
const receivers: Receiver[] = [];
afterEach(async () => {
  for (const rx of receivers.splice(0)) await rx.close();
  for (const w of workers.splice(0)) await w.stop();
  for (const ctx of contexts.splice(0)) if (ctx.store.open) await ctx.store.close();
});

async function context(location?: string): Promise<TestContext> {
  const ctx = await makeContext({ location });
  contexts.push(ctx);
  return ctx;
}

/** Records an event as a domain change does (in its transaction), and nothing more: the fan-out has not run. */
async function record(ctx: TestContext, ws: Workspace, type: EventType = 'ticket.created'): Promise<string> {
  const id = newId('evt');
  const createdAt = isoAt(ctx.clock.now());
  const payload = {
    ...fixtureFor(type),
    id,
    createdAt,
    workspaceId: ws.workspaceId,
    assistantId: null,
    assistantName: null,
  };
  await inTransaction(
    ctx,
    async (ctx) =>
      await recordEvent(ctx, { id, workspaceId: ws.workspaceId, type, assistantId: null, createdAt, payload }),
  );
  return id;
}

const rowsOf = async (ctx: TestContext, eventId: string) =>
  await ctx.db.values<string>(
    'SELECT subscription_id FROM deliveries WHERE event_id = ? ORDER BY subscription_id',
    eventId,
  );
const mark = async (ctx: TestContext, eventId: string) =>
  await ctx.db.value('SELECT fanout_upto FROM events WHERE id = ?', eventId);

describe('the creating request', () => {
  it('writes the event and its mark but no delivery row; the fan-out then writes one per subscription that matches, filters included', async () => {
    const s = await startApiServer({ config: { maxSubscriptionsPerWorkspace: 1000 } }); // no worker: nothing runs the fan-out by itself
    try {
      const { workspace, assistant, keyId } = await s.setup();
      const otherAssistant = await s.createAssistant(workspace.id, 'Other Bot');
      const other = await s.setup();
      const sub = async (
        workspaceId: string,
        apiKeyId: string,
        eventType: EventType,
        n: number,
        assistantId?: string,
      ) =>
        (
          await createSubscription(s.ctx, {
            workspaceId,
            apiKeyId,
            eventType,
            targetUrl: `http://127.0.0.1:9/${newId('hook')}`,
            assistantId,
          })
        ).subscription.id;
      const all = await times(120, async (i) => await sub(workspace.id, keyId, 'widget.conversation_started', i));
      const mine = await times(
        30,
        async (i) => await sub(workspace.id, keyId, 'widget.conversation_started', i, assistant.id),
      );
      for (let i = 0; i < 20; i++) await sub(workspace.id, keyId, 'widget.conversation_started', i, otherAssistant.id);
      for (let i = 0; i < 10; i++) await sub(workspace.id, keyId, 'ticket.created', i);
      const gone = await times(10, async (i) => await sub(workspace.id, keyId, 'widget.conversation_started', i));
      for (const id of gone) await deactivateSubscriptions(s.ctx, { subscriptionId: id }, 'unsubscribed');
      for (let i = 0; i < 10; i++) await sub(other.workspace.id, other.keyId, 'widget.conversation_started', i);

      const res = await api(s.url).post(`/v1/widget/assistants/${assistant.id}/conversations`, { message: 'hello' });
      expect(res.status).toBe(201);
      const eventId = (await s.ctx.db.value<string>(
        `SELECT id FROM events WHERE workspace_id = ? AND type = 'widget.conversation_started'`,
        workspace.id,
      ))!;
      expect(await s.ctx.db.value('SELECT COUNT(*) FROM deliveries')).toBe(0);
      expect(await s.ctx.db.value('SELECT fanout_upto FROM events WHERE id = ?', eventId)).not.toBeNull();

      expect(await s.fanOut()).toBe(150);
      const owed = await s.ctx.db.values<string>('SELECT subscription_id FROM deliveries WHERE event_id = ?', eventId);
      expect(new Set(owed)).toEqual(new Set([...all, ...mine]));
      expect(await s.ctx.db.value('SELECT fanout_upto FROM events WHERE id = ?', eventId)).toBeNull();
      expect(await s.fanOut()).toBe(0);
    } finally {
      await s.close();
    }
  });
});

describe('the fan-out', () => {
  it('writes at most its share per transaction, and a fan-out cut off between transactions resumes after a restart with no row twice', async () => {
    const ctx = await context();
    const ws = await seedWorkspace(ctx);
    const subs = await times(
      2 * FANOUT_ROWS_PER_TRANSACTION + 50,
      async (i) => (await subscribe(ctx, ws, `http://127.0.0.1:9/${i}`)).id,
    );
    const eventId = await record(ctx, ws);
    const first = await expandFanOut(ctx);
    expect(first).toEqual({ rows: FANOUT_ROWS_PER_TRANSACTION, more: true });
    expect(await mark(ctx, eventId)).not.toBeNull();
    await ctx.store.close(); // the process stops here

    const again = await context(ctx.location);
    const sizes: number[] = [];
    for (let r = await expandFanOut(again); ; r = await expandFanOut(again)) {
      sizes.push(r.rows);
      if (!r.more) break;
    }
    expect(Math.max(...sizes)).toBeLessThanOrEqual(FANOUT_ROWS_PER_TRANSACTION);
    expect(await rowsOf(again, eventId)).toEqual([...subs].sort());
    expect(await mark(again, eventId)).toBeNull();
  });

  it('skips a subscription made after the event committed, one deactivated before the fan-out ran, and every one once the plan is below Pro', async () => {
    const ctx = await context();
    const ws = await seedWorkspace(ctx);
    // Enough that the event is marked rather than written inline.
    const kept = await times(
      INLINE_FANOUT_LIMIT,
      async (i) => (await subscribe(ctx, ws, `http://127.0.0.1:9/${i}`)).id,
    );
    const unsubscribed = (await subscribe(ctx, ws, 'http://127.0.0.1:9/unsubscribed')).id;
    const eventId = await record(ctx, ws);
    expect(await mark(ctx, eventId)).not.toBeNull();
    await subscribe(ctx, ws, 'http://127.0.0.1:9/later');
    await deactivateSubscriptions(ctx, { subscriptionId: unsubscribed }, 'unsubscribed');
    expect(await drainFanOut(ctx)).toBe(INLINE_FANOUT_LIMIT);
    expect(await rowsOf(ctx, eventId)).toEqual([...kept].sort());

    const beforeDowngrade = await record(ctx, ws);
    await ctx.db.run(`UPDATE workspaces SET plan = 'free' WHERE id = ?`, ws.workspaceId);
    expect(await drainFanOut(ctx)).toBe(0);
    expect(await rowsOf(ctx, beforeDowngrade)).toEqual([]);
    expect(await mark(ctx, beforeDowngrade)).toBeNull();
  });

  it('queues nothing below Pro or with no subscriber', async () => {
    const ctx = await context();
    const ws = await seedWorkspace(ctx);
    const none = await record(ctx, ws); // no subscriber yet
    expect([await mark(ctx, none), await rowsOf(ctx, none)]).toEqual([null, []]);
    for (let i = 0; i <= INLINE_FANOUT_LIMIT; i++) await subscribe(ctx, ws, `http://127.0.0.1:9/${i}`);
    await ctx.db.run(`UPDATE workspaces SET plan = 'starter' WHERE id = ?`, ws.workspaceId);
    const belowPro = await record(ctx, ws);
    expect([await mark(ctx, belowPro), await rowsOf(ctx, belowPro)]).toEqual([null, []]);
    await ctx.db.run(`UPDATE workspaces SET plan = 'pro' WHERE id = ?`, ws.workspaceId);
    expect(await mark(ctx, await record(ctx, ws))).not.toBeNull();
  });

  it('up to INLINE_FANOUT_LIMIT matching subscriptions, the change writes the rows itself: they commit or roll back with it, no mark, no fan-out transaction', async () => {
    const ctx = await context();
    const ws = await seedWorkspace(ctx);
    const matching = await times(
      INLINE_FANOUT_LIMIT,
      async (i) => (await subscribe(ctx, ws, `http://127.0.0.1:9/${i}`)).id,
    );
    await subscribe(ctx, ws, 'http://127.0.0.1:9/other-type', 'ticket.assigned');
    const eventId = await record(ctx, ws);
    expect(await mark(ctx, eventId)).toBeNull();
    expect(await rowsOf(ctx, eventId)).toEqual([...matching].sort());
    expect(await drainFanOut(ctx)).toBe(0);

    // A change that fails after its event was recorded leaves neither the event nor its rows.
    const failed = newId('evt');
    const createdAt = isoAt(ctx.clock.now());
    const payload = { ...fixtureFor('ticket.created'), id: failed, createdAt, workspaceId: ws.workspaceId };
    await expect(
      inTransaction(ctx, async (ctx) => {
        await recordEvent(ctx, {
          id: failed,
          workspaceId: ws.workspaceId,
          type: 'ticket.created',
          assistantId: null,
          createdAt,
          payload: { ...payload, assistantId: null, assistantName: null },
        });
        throw new Error('the change fails after its event');
      }),
    ).rejects.toThrow('the change fails');
    expect(await rowsOf(ctx, failed)).toEqual([]);
    expect(await ctx.db.value('SELECT COUNT(*) FROM events WHERE id = ?', failed)).toBe(0);
  });

  it("takes marked events round-robin across workspaces: one workspace's burst does not hold back another's first rows", async () => {
    const ctx = await context();
    const busy = await seedWorkspace(ctx);
    const quiet = await seedWorkspace(ctx);
    const zaps = INLINE_FANOUT_LIMIT + 2;
    for (let i = 0; i < zaps; i++) await subscribe(ctx, busy, `http://127.0.0.1:9/busy/${i}`);
    for (let i = 0; i < zaps; i++) await subscribe(ctx, quiet, `http://127.0.0.1:9/quiet/${i}`);
    // The burst owes several transactions' worth of rows, all marked before the quiet workspace's event.
    const burst = await times(
      Math.ceil((3 * FANOUT_ROWS_PER_TRANSACTION) / zaps),
      async (_i) => await record(ctx, busy),
    );
    const quietEvent = await record(ctx, quiet);

    await expandFanOut(ctx);
    expect(await rowsOf(ctx, quietEvent)).toHaveLength(zaps);
    // Within a workspace, oldest first: what the burst got so far is its first events.
    const done = await Promise.all(burst.map(async (id) => (await mark(ctx, id)) === null));
    expect(done.indexOf(false)).toBeGreaterThan(0);
    expect(done.slice(done.indexOf(false)).every((d) => !d)).toBe(true);

    await drainFanOut(ctx);
    for (const id of burst) expect(await rowsOf(ctx, id)).toHaveLength(zaps);
  });

  it('keeps an event still owed deliveries from retention, however old', async () => {
    const ctx = await context();
    const ws = await seedWorkspace(ctx);
    await subscribe(ctx, ws, 'http://127.0.0.1:9/a');
    const events = await times(15, async (_i) => await record(ctx, ws)); // more than the samples any Test trigger keeps
    ctx.clock.advance(365 * 24 * 3600_000);
    const settings = { ...ctx.config.retention, eventsMs: 1, deliveriesMs: 1, batchSize: 100 };
    const cursor = newCursor();
    for (let i = 0; i < 100 && !(await pruneBatch(ctx.db, ctx.clock.now(), settings, cursor)).passDone; i++);
    expect(await ctx.db.value('SELECT COUNT(*) FROM events')).toBe(events.length);
  });
});

describe('several instances on one database', () => {
  /**
   * Issue 13 §3: each instance's worker runs a fan-out expander, and all of them poll the same marked
   * events. Four stores on one database (as four API processes would have), each with its own pool and its
   * own round-robin position, expand forty marked events of 20 to 40 Zaps each, all started in the same tick.
   * Transaction sizes differ per instance and most do not divide an event's Zaps, so events are cut off and
   * resumed by whichever instance comes next.
   */
  it('write each owed delivery row exactly once, finish every mark, and none returns from its drain before every row is committed', async () => {
    const INSTANCES = 4;
    const ROWS_PER_TRANSACTION = [37, 50, 64, FANOUT_ROWS_PER_TRANSACTION];
    const first = await context();
    const owed = new Map<string, string[]>();
    for (let w = 0; w < 5; w++) {
      const ws = await seedWorkspace(first);
      const subs = await times(
        20 + 5 * w,
        async (i) => (await subscribe(first, ws, `http://127.0.0.1:9/${w}/${i}`)).id,
      );
      for (let e = 0; e < 8; e++) owed.set(await record(first, ws), [...subs].sort());
    }
    const total = [...owed.values()].reduce((n, subs) => n + subs.length, 0);
    expect(await first.db.value('SELECT COUNT(*) FROM events WHERE fanout_upto IS NOT NULL')).toBe(owed.size);
    const instances = [first, ...(await times(INSTANCES - 1, async () => await context(first.location)))];

    const written = await Promise.all(
      instances.map(async (ctx, i) => {
        const rows = await drainFanOut(ctx, ROWS_PER_TRANSACTION[i]);
        // A drain returns only once no event is left owed: every row, this instance's or another's, committed.
        return { rows, committedThen: await ctx.db.value<number>('SELECT COUNT(*) FROM deliveries') };
      }),
    );

    expect(written.filter((w) => w.rows > 0).length).toBeGreaterThan(1); // they did run side by side
    for (const w of written) expect(w.committedThen).toBe(total);
    expect(written.reduce((n, w) => n + w.rows, 0)).toBe(total); // no instance counts a row another wrote
    const twice = await first.db.all(
      'SELECT event_id, subscription_id, COUNT(*) AS n FROM deliveries GROUP BY event_id, subscription_id HAVING COUNT(*) > 1',
    );
    expect(twice).toEqual([]);
    for (const [eventId, subs] of owed) expect(await rowsOf(first, eventId)).toEqual(subs);
    expect(await first.db.value('SELECT COUNT(*) FROM events WHERE fanout_upto IS NOT NULL OR fanout_after <> 0')).toBe(
      0,
    );
    if (first.store.engine === 'postgres') {
      // Expanders must not wait on each other's rows: crossed waits end in deadlocks, each a second's stall
      // and a retry, and a write that loses five in a row fails its fan-out. The other instances' sessions
      // end here, and a session's statistics are flushed as it ends.
      for (const ctx of instances.slice(1)) await ctx.store.close();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await first.db.value('SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()')).toBe(0);
    }
  });
});

/**
 * Makes every write fail as a failing disk would, until the returned function is called: on SQLite
 * `query_only` (SQLITE_READONLY), on PostgreSQL a trigger that refuses each new delivery row with SQLSTATE
 * 53100 disk_full (the fan-out's writes; its transaction, with the mark, rolls back).
 */
async function refuseWrites(ctx: TestContext): Promise<() => Promise<void>> {
  if (ctx.store.engine === 'sqlite') {
    sqliteHandle(ctx.store).pragma('query_only = ON');
    return () => Promise.resolve(void sqliteHandle(ctx.store).pragma('query_only = OFF'));
  }
  await ctx.store.run(
    `CREATE FUNCTION test_disk_full() RETURNS trigger LANGUAGE plpgsql AS
       $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$`,
  );
  await ctx.store.run(
    'CREATE TRIGGER test_disk_full BEFORE INSERT ON deliveries FOR EACH ROW EXECUTE FUNCTION test_disk_full()',
  );
  return async () => {
    await ctx.store.run('DROP TRIGGER test_disk_full ON deliveries');
    await ctx.store.run('DROP FUNCTION test_disk_full()');
  };
}

describe('the worker runs the fan-out', () => {
  it('keeps the mark through a storage fault (one log line, no row written) and writes every row once the disk takes writes again', async () => {
    const ctx = await context();
    const ws = await seedWorkspace(ctx);
    const subs = await times(
      INLINE_FANOUT_LIMIT + 1,
      async (i) => (await subscribe(ctx, ws, `http://127.0.0.1:9/${i}`)).id,
    );
    const eventId = await record(ctx, ws);
    const restoreWrites = await refuseWrites(ctx); // every write now fails, as a failing disk would
    let written = 0;
    const expander = createFanOutExpander(ctx, () => (written += 1));
    try {
      expander.start();
      await waitUntil(() => ctx.logs.some((l) => l.message === 'fan-out failed; will retry'));
      expect(await rowsOf(ctx, eventId)).toEqual([]);
      expect(await mark(ctx, eventId)).not.toBeNull();
      expect(written).toBe(0);

      await restoreWrites();
      expander.poll();
      await waitUntil(async () => (await mark(ctx, eventId)) === null);
      expect(await rowsOf(ctx, eventId)).toEqual([...subs].sort());
      expect(written).toBe(1);
    } finally {
      expander.stop();
    }
  });

  it('on the signal after commit, and at start for events left marked; every delivery carries webhook-id = the event id', async () => {
    const rx = await startReceiver();
    receivers.push(rx);
    const ctx = await context(); // its poll is 60 s: only the signal and the start can run the fan-out here
    const ws = await seedWorkspace(ctx);
    const subs = await times(40, async (i) => (await subscribe(ctx, ws, `${rx.url}/${i}`)).id);
    const leftOver = await record(ctx, ws); // as a process that stopped before its fan-out ran would leave it
    const worker = createDeliveryWorker(ctx);
    workers.push(worker);
    worker.start();
    await rx.waitFor(40);
    const fresh = await record(ctx, ws);
    await rx.waitFor(80);
    const seen = new Set(rx.requests.map((r) => `${r.path.split('/').at(-1)} ${String(r.headers['webhook-id'])}`));
    for (const eventId of [leftOver, fresh])
      for (const [i] of subs.entries()) expect(seen.has(`${i} ${eventId}`)).toBe(true);
    expect(rx.requests).toHaveLength(80);
  });
});

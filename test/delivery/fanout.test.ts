/**
 * Fan-out after commit (delivery/fanout.ts, issue 12 §3): the request that makes an event writes no
 * delivery rows, only the event and its mark; the fan-out then writes one row per subscription that matched
 * at the commit, in transactions of bounded size, resumes a cut-off fan-out without writing a row twice,
 * and keeps the outbox's rules (below Pro nothing, deactivated nothing, assistant filters). The crash case
 * (SIGKILL with fan-outs owed) is in test/proof/crash.test.ts.
 */
import type { EventType } from '../../catalog/events';
import { fixtureFor } from '../../fixtures';
import { newCursor, pruneBatch } from '../../partner-api/db/retention';
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
import { type Receiver, startReceiver } from '../support/receiver';
import { makeContext, removeTempDirs, seedWorkspace, subscribe, type TestContext, type Workspace } from './helpers';

const contexts: TestContext[] = [];
const workers: DeliveryWorker[] = [];
const receivers: Receiver[] = [];
afterEach(async () => {
  for (const rx of receivers.splice(0)) await rx.close();
  for (const w of workers.splice(0)) await w.stop();
  for (const ctx of contexts.splice(0)) if (ctx.db.open) ctx.db.close();
  removeTempDirs();
});

function context(file?: string): TestContext {
  const ctx = makeContext({ file });
  contexts.push(ctx);
  return ctx;
}

/** Records an event as a domain change does (in its transaction), and nothing more: the fan-out has not run. */
function record(ctx: TestContext, ws: Workspace, type: EventType = 'ticket.created'): string {
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
  ctx.db.transaction(() =>
    recordEvent(ctx, { id, workspaceId: ws.workspaceId, type, assistantId: null, createdAt, payload }),
  )();
  return id;
}

const rowsOf = (ctx: TestContext, eventId: string) =>
  ctx.db
    .prepare('SELECT subscription_id FROM deliveries WHERE event_id = ? ORDER BY subscription_id')
    .pluck()
    .all(eventId) as string[];
const mark = (ctx: TestContext, eventId: string) =>
  ctx.db.prepare('SELECT fanout_upto FROM events WHERE id = ?').pluck().get(eventId);

describe('the creating request', () => {
  it('writes the event and its mark but no delivery row; the fan-out then writes one per subscription that matches, filters included', async () => {
    const s = await startApiServer({ config: { maxSubscriptionsPerWorkspace: 1000 } }); // no worker: nothing runs the fan-out by itself
    try {
      const { workspace, assistant, keyId } = await s.setup();
      const otherAssistant = s.createAssistant(workspace.id, 'Other Bot');
      const other = await s.setup();
      const sub = (workspaceId: string, apiKeyId: string, eventType: EventType, n: number, assistantId?: string) =>
        createSubscription(s.ctx, {
          workspaceId,
          apiKeyId,
          eventType,
          targetUrl: `http://127.0.0.1:9/${newId('hook')}`,
          assistantId,
        }).subscription.id;
      const all = Array.from({ length: 120 }, (_, i) => sub(workspace.id, keyId, 'widget.conversation_started', i));
      const mine = Array.from({ length: 30 }, (_, i) =>
        sub(workspace.id, keyId, 'widget.conversation_started', i, assistant.id),
      );
      for (let i = 0; i < 20; i++) sub(workspace.id, keyId, 'widget.conversation_started', i, otherAssistant.id);
      for (let i = 0; i < 10; i++) sub(workspace.id, keyId, 'ticket.created', i);
      const gone = Array.from({ length: 10 }, (_, i) => sub(workspace.id, keyId, 'widget.conversation_started', i));
      for (const id of gone) deactivateSubscriptions(s.ctx, { subscriptionId: id }, 'unsubscribed');
      for (let i = 0; i < 10; i++) sub(other.workspace.id, other.keyId, 'widget.conversation_started', i);

      const res = await api(s.url).post(`/v1/widget/assistants/${assistant.id}/conversations`, { message: 'hello' });
      expect(res.status).toBe(201);
      const eventId = s.ctx.db
        .prepare(`SELECT id FROM events WHERE workspace_id = ? AND type = 'widget.conversation_started'`)
        .pluck()
        .get(workspace.id) as string;
      expect(s.ctx.db.prepare('SELECT COUNT(*) FROM deliveries').pluck().get()).toBe(0);
      expect(s.ctx.db.prepare('SELECT fanout_upto FROM events WHERE id = ?').pluck().get(eventId)).not.toBeNull();

      expect(s.fanOut()).toBe(150);
      const owed = s.ctx.db
        .prepare('SELECT subscription_id FROM deliveries WHERE event_id = ?')
        .pluck()
        .all(eventId) as string[];
      expect(new Set(owed)).toEqual(new Set([...all, ...mine]));
      expect(s.ctx.db.prepare('SELECT fanout_upto FROM events WHERE id = ?').pluck().get(eventId)).toBeNull();
      expect(s.fanOut()).toBe(0);
    } finally {
      await s.close();
    }
  });
});

describe('the fan-out', () => {
  it('writes at most its share per transaction, and a fan-out cut off between transactions resumes after a restart with no row twice', () => {
    const ctx = context();
    const ws = seedWorkspace(ctx);
    const subs = Array.from(
      { length: 2 * FANOUT_ROWS_PER_TRANSACTION + 50 },
      (_, i) => subscribe(ctx, ws, `http://127.0.0.1:9/${i}`).id,
    );
    const eventId = record(ctx, ws);
    const first = expandFanOut(ctx);
    expect(first).toEqual({ rows: FANOUT_ROWS_PER_TRANSACTION, more: true });
    expect(mark(ctx, eventId)).not.toBeNull();
    ctx.db.close(); // the process stops here

    const again = context(ctx.file);
    const sizes: number[] = [];
    for (let r = expandFanOut(again); ; r = expandFanOut(again)) {
      sizes.push(r.rows);
      if (!r.more) break;
    }
    expect(Math.max(...sizes)).toBeLessThanOrEqual(FANOUT_ROWS_PER_TRANSACTION);
    expect(rowsOf(again, eventId)).toEqual([...subs].sort());
    expect(mark(again, eventId)).toBeNull();
  });

  it('skips a subscription made after the event committed, one deactivated before the fan-out ran, and every one once the plan is below Pro', () => {
    const ctx = context();
    const ws = seedWorkspace(ctx);
    // Enough that the event is marked rather than written inline.
    const kept = Array.from(
      { length: INLINE_FANOUT_LIMIT },
      (_, i) => subscribe(ctx, ws, `http://127.0.0.1:9/${i}`).id,
    );
    const unsubscribed = subscribe(ctx, ws, 'http://127.0.0.1:9/unsubscribed').id;
    const eventId = record(ctx, ws);
    expect(mark(ctx, eventId)).not.toBeNull();
    subscribe(ctx, ws, 'http://127.0.0.1:9/later');
    deactivateSubscriptions(ctx, { subscriptionId: unsubscribed }, 'unsubscribed');
    expect(drainFanOut(ctx)).toBe(INLINE_FANOUT_LIMIT);
    expect(rowsOf(ctx, eventId)).toEqual([...kept].sort());

    const beforeDowngrade = record(ctx, ws);
    ctx.db.prepare(`UPDATE workspaces SET plan = 'free' WHERE id = ?`).run(ws.workspaceId);
    expect(drainFanOut(ctx)).toBe(0);
    expect(rowsOf(ctx, beforeDowngrade)).toEqual([]);
    expect(mark(ctx, beforeDowngrade)).toBeNull();
  });

  it('queues nothing below Pro or with no subscriber', () => {
    const ctx = context();
    const ws = seedWorkspace(ctx);
    const none = record(ctx, ws); // no subscriber yet
    expect([mark(ctx, none), rowsOf(ctx, none)]).toEqual([null, []]);
    for (let i = 0; i <= INLINE_FANOUT_LIMIT; i++) subscribe(ctx, ws, `http://127.0.0.1:9/${i}`);
    ctx.db.prepare(`UPDATE workspaces SET plan = 'starter' WHERE id = ?`).run(ws.workspaceId);
    const belowPro = record(ctx, ws);
    expect([mark(ctx, belowPro), rowsOf(ctx, belowPro)]).toEqual([null, []]);
    ctx.db.prepare(`UPDATE workspaces SET plan = 'pro' WHERE id = ?`).run(ws.workspaceId);
    expect(mark(ctx, record(ctx, ws))).not.toBeNull();
  });

  it('up to INLINE_FANOUT_LIMIT matching subscriptions, the change writes the rows itself: they commit or roll back with it, no mark, no fan-out transaction', () => {
    const ctx = context();
    const ws = seedWorkspace(ctx);
    const matching = Array.from(
      { length: INLINE_FANOUT_LIMIT },
      (_, i) => subscribe(ctx, ws, `http://127.0.0.1:9/${i}`).id,
    );
    subscribe(ctx, ws, 'http://127.0.0.1:9/other-type', 'ticket.assigned');
    const eventId = record(ctx, ws);
    expect(mark(ctx, eventId)).toBeNull();
    expect(rowsOf(ctx, eventId)).toEqual([...matching].sort());
    expect(drainFanOut(ctx)).toBe(0);

    // A change that fails after its event was recorded leaves neither the event nor its rows.
    const failed = newId('evt');
    const createdAt = isoAt(ctx.clock.now());
    const payload = { ...fixtureFor('ticket.created'), id: failed, createdAt, workspaceId: ws.workspaceId };
    expect(() =>
      ctx.db.transaction(() => {
        recordEvent(ctx, {
          id: failed,
          workspaceId: ws.workspaceId,
          type: 'ticket.created',
          assistantId: null,
          createdAt,
          payload: { ...payload, assistantId: null, assistantName: null },
        });
        throw new Error('the change fails after its event');
      })(),
    ).toThrow('the change fails');
    expect(rowsOf(ctx, failed)).toEqual([]);
    expect(ctx.db.prepare('SELECT COUNT(*) FROM events WHERE id = ?').pluck().get(failed)).toBe(0);
  });

  it("takes marked events round-robin across workspaces: one workspace's burst does not hold back another's first rows", () => {
    const ctx = context();
    const busy = seedWorkspace(ctx);
    const quiet = seedWorkspace(ctx);
    const zaps = INLINE_FANOUT_LIMIT + 2;
    for (let i = 0; i < zaps; i++) subscribe(ctx, busy, `http://127.0.0.1:9/busy/${i}`);
    for (let i = 0; i < zaps; i++) subscribe(ctx, quiet, `http://127.0.0.1:9/quiet/${i}`);
    // The burst owes several transactions' worth of rows, all marked before the quiet workspace's event.
    const burst = Array.from({ length: Math.ceil((3 * FANOUT_ROWS_PER_TRANSACTION) / zaps) }, () => record(ctx, busy));
    const quietEvent = record(ctx, quiet);

    expandFanOut(ctx);
    expect(rowsOf(ctx, quietEvent)).toHaveLength(zaps);
    // Within a workspace, oldest first: what the burst got so far is its first events.
    const done = burst.map((id) => mark(ctx, id) === null);
    expect(done.indexOf(false)).toBeGreaterThan(0);
    expect(done.slice(done.indexOf(false)).every((d) => !d)).toBe(true);

    drainFanOut(ctx);
    for (const id of burst) expect(rowsOf(ctx, id)).toHaveLength(zaps);
  });

  it('keeps an event still owed deliveries from retention, however old', () => {
    const ctx = context();
    const ws = seedWorkspace(ctx);
    subscribe(ctx, ws, 'http://127.0.0.1:9/a');
    const events = Array.from({ length: 15 }, () => record(ctx, ws)); // more than the samples any Test trigger keeps
    ctx.clock.advance(365 * 24 * 3600_000);
    const settings = { ...ctx.config.retention, eventsMs: 1, deliveriesMs: 1, batchSize: 100 };
    const cursor = newCursor();
    for (let i = 0; i < 100 && !pruneBatch(ctx.db, ctx.clock.now(), settings, cursor).passDone; i++);
    expect(ctx.db.prepare('SELECT COUNT(*) FROM events').pluck().get()).toBe(events.length);
  });
});

describe('the worker runs the fan-out', () => {
  it('keeps the mark through a storage fault (one log line, no row written) and writes every row once the disk takes writes again', async () => {
    const ctx = context();
    const ws = seedWorkspace(ctx);
    const subs = Array.from(
      { length: INLINE_FANOUT_LIMIT + 1 },
      (_, i) => subscribe(ctx, ws, `http://127.0.0.1:9/${i}`).id,
    );
    const eventId = record(ctx, ws);
    ctx.db.pragma('query_only = ON'); // every write now fails with SQLITE_READONLY, as a failing disk would
    let written = 0;
    const expander = createFanOutExpander(ctx, () => (written += 1));
    try {
      expander.start();
      await waitUntil(() => ctx.logs.some((l) => l.message === 'fan-out failed; will retry'));
      expect(rowsOf(ctx, eventId)).toEqual([]);
      expect(mark(ctx, eventId)).not.toBeNull();
      expect(written).toBe(0);

      ctx.db.pragma('query_only = OFF');
      expander.poll();
      await waitUntil(() => mark(ctx, eventId) === null);
      expect(rowsOf(ctx, eventId)).toEqual([...subs].sort());
      expect(written).toBe(1);
    } finally {
      expander.stop();
    }
  });

  it('on the signal after commit, and at start for events left marked; every delivery carries webhook-id = the event id', async () => {
    const rx = await startReceiver();
    receivers.push(rx);
    const ctx = context(); // its poll is 60 s: only the signal and the start can run the fan-out here
    const ws = seedWorkspace(ctx);
    const subs = Array.from({ length: 40 }, (_, i) => subscribe(ctx, ws, `${rx.url}/${i}`).id);
    const leftOver = record(ctx, ws); // as a process that stopped before its fan-out ran would leave it
    const worker = createDeliveryWorker(ctx);
    workers.push(worker);
    worker.start();
    await rx.waitFor(40);
    const fresh = record(ctx, ws);
    await rx.waitFor(80);
    const seen = new Set(rx.requests.map((r) => `${r.path.split('/').at(-1)} ${String(r.headers['webhook-id'])}`));
    for (const eventId of [leftOver, fresh])
      for (const [i] of subs.entries()) expect(seen.has(`${i} ${eventId}`)).toBe(true);
    expect(rx.requests).toHaveLength(80);
  });
});

/** The claimer on its own: which due rows it hands out, in what order, and never twice. */
import { inTransaction } from '../../partner-api/context';
import { type ClaimRequest, createClaimer } from '../../partner-api/delivery/claimer';
import { createSlots, hostKey, type SlotLimits } from '../../partner-api/delivery/slots';
import { at } from '../support/items';
import { emit, makeContext, seedWorkspace, subscribe, type TestContext } from './helpers';

const contexts: TestContext[] = [];
afterEach(async () => {
  for (const ctx of contexts.splice(0)) await ctx.store.close();
});

async function setup() {
  const ctx = await makeContext();
  contexts.push(ctx);
  const ws = await seedWorkspace(ctx);
  const slow = await subscribe(ctx, ws, 'http://127.0.0.1:9/slow', 'ticket.created');
  const healthy = await subscribe(ctx, ws, 'http://127.0.0.1:9/healthy', 'ticket.assigned');
  const claimer = createClaimer(ctx.db);
  /** Fresh slots (none in use) unless a test passes its own. */
  const slots = (limits: Partial<SlotLimits> = {}) =>
    createSlots({ overall: 64, perWorkspace: 64, perHost: 64, perSubscription: 8, ...limits });
  const request = (over: Partial<ClaimRequest> = {}): ClaimRequest => ({
    nowMs: ctx.clock.now(),
    leaseMs: 12_000,
    slots: slots(),
    inFlight: new Set(),
    ...over,
  });
  /** Slots where the slow subscription already holds its whole share. */
  const slowIsBusy = () => {
    const busy = slots();
    for (let i = 0; i < 8; i++)
      busy.take({ subscriptionId: slow.id, workspaceId: ws.workspaceId, host: hostKey(slow.targetUrl) });
    return busy;
  };
  const finish = async (ids: string[]) => {
    for (const id of ids)
      await ctx.db.run(`UPDATE deliveries SET status = 'succeeded', claim_token = NULL WHERE id = ?`, id);
  };
  return { ctx, ws, slow, healthy, claimer, request, finish, slots, slowIsBusy };
}

describe('the claimer', () => {
  it('hands out new rows at once, and retries when they come due, each once', async () => {
    const { ctx, ws, claimer, request, finish } = await setup();
    await emit(ctx, ws, 'ticket.created');
    const first = await claimer.claim(request());
    expect(first.claimed).toHaveLength(1);
    expect((await claimer.claim(request())).claimed).toHaveLength(0);

    // The attempt failed: retry in 5 s.
    await ctx.db.run(`UPDATE deliveries SET claim_token = NULL, next_attempt_ms = ?`, ctx.clock.now() + 5_000);
    await emit(ctx, ws, 'ticket.created');
    const second = await claimer.claim(request());
    expect(second.claimed.map((d) => d.attempt)).toEqual([1]);
    await finish(second.claimed.map((d) => d.id));
    ctx.clock.advance(5_000);
    const retry = await claimer.claim(request());
    expect(retry.claimed.map((d) => [d.id, d.attempt])).toEqual([[at(first.claimed, 0).id, 2]]);
    expect((await claimer.claim(request())).claimed).toHaveLength(0);
  });

  it('serves a subscription with room even behind a long backlog of a busy one, and keeps each in order', async () => {
    const { ctx, ws, slow, healthy, claimer, request, slots, slowIsBusy } = await setup();
    await inTransaction(ctx, async (ctx) => {
      for (let i = 0; i < 500; i++) await emit(ctx, ws, 'ticket.created');
    });
    expect((await claimer.claim(request({ slots: slowIsBusy() }))).claimed).toHaveLength(0);
    const fresh = [await emit(ctx, ws, 'ticket.assigned'), await emit(ctx, ws, 'ticket.assigned')];
    const claimed = (await claimer.claim(request({ slots: slowIsBusy() }))).claimed;
    expect(claimed.map((d) => [d.subscriptionId, d.eventId])).toEqual(fresh.map((e) => [healthy.id, e]));

    const slowOnes = (await claimer.claim(request({ slots: slots({ overall: 3 }) }))).claimed;
    const oldest = await ctx.db.values(
      `SELECT id FROM deliveries WHERE subscription_id = ? ORDER BY rowid LIMIT 3`,
      slow.id,
    );
    expect(slowOnes.map((d) => d.id)).toEqual(oldest);
  });

  it('finds rows that did not fit in a subscription’s queue once it has worked the queue down', async () => {
    const { ctx, ws, slow, claimer, request, finish, slots } = await setup();
    await inTransaction(ctx, async (ctx) => {
      for (let i = 0; i < 2_600; i++) await emit(ctx, ws, 'ticket.created');
    });
    const seen = new Set<string>();
    for (let round = 0; round < 100 && seen.size < 2_600; round++) {
      const { claimed } = await claimer.claim(request({ slots: slots({ overall: 100, perSubscription: 100 }) }));
      for (const d of claimed) {
        expect(seen.has(d.id)).toBe(false);
        seen.add(d.id);
      }
      await finish(claimed.map((d) => d.id));
    }
    expect(seen.size).toBe(2_600);
    expect(
      await ctx.db.value(`SELECT count(*) FROM deliveries WHERE subscription_id = ? AND status = 'pending'`, slow.id),
    ).toBe(0);
  });

  it('drops a queued row that another worker claimed meanwhile, and never takes one of its own in flight', async () => {
    const { ctx, ws, claimer, request, slots } = await setup();
    await emit(ctx, ws, 'ticket.created');
    expect((await claimer.claim(request({ slots: slots({ overall: 0 }) }))).claimed).toHaveLength(0); // queued, not taken
    await ctx.db.run(`UPDATE deliveries SET claim_token = 'other', next_attempt_ms = ?`, ctx.clock.now() + 12_000);
    expect(await claimer.claim(request())).toEqual({ claimed: [], cancelled: 0, dropped: 1, more: true });

    // Our own attempt outlives its lease (the event loop stalled): the row is due again but ours.
    const mine = await emit(ctx, ws, 'ticket.created');
    const claimed = at((await claimer.claim(request())).claimed, 0);
    expect(claimed?.eventId).toBe(mine);
    ctx.clock.advance(13_000);
    expect(
      (await claimer.claim(request({ inFlight: new Set([claimed.id, 'x']) }))).claimed.map((d) => d.eventId),
    ).not.toContain(mine);
  });
});

/** The claimer on its own: which due rows it hands out, in what order, and never twice. */
import { type ClaimRequest, createClaimer } from '../../partner-api/delivery/claimer';
import { createSlots, hostKey, type SlotLimits } from '../../partner-api/delivery/slots';
import { at } from '../support/items';
import { emit, makeContext, removeTempDirs, seedWorkspace, subscribe, type TestContext } from './helpers';

const contexts: TestContext[] = [];
afterEach(() => {
  for (const ctx of contexts.splice(0)) ctx.db.close();
});
afterAll(removeTempDirs);

function setup() {
  const ctx = makeContext();
  contexts.push(ctx);
  const ws = seedWorkspace(ctx);
  const slow = subscribe(ctx, ws, 'http://127.0.0.1:9/slow', 'ticket.created');
  const healthy = subscribe(ctx, ws, 'http://127.0.0.1:9/healthy', 'ticket.assigned');
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
  const finish = (ids: string[]) => {
    const done = ctx.db.prepare(`UPDATE deliveries SET status = 'succeeded', claim_token = NULL WHERE id = ?`);
    for (const id of ids) done.run(id);
  };
  return { ctx, ws, slow, healthy, claimer, request, finish, slots, slowIsBusy };
}

describe('the claimer', () => {
  it('hands out new rows at once, and retries when they come due, each once', () => {
    const { ctx, ws, claimer, request, finish } = setup();
    emit(ctx, ws, 'ticket.created');
    const first = claimer.claim(request());
    expect(first.claimed).toHaveLength(1);
    expect(claimer.claim(request()).claimed).toHaveLength(0);

    // The attempt failed: retry in 5 s.
    ctx.db.prepare(`UPDATE deliveries SET claim_token = NULL, next_attempt_ms = ?`).run(ctx.clock.now() + 5_000);
    emit(ctx, ws, 'ticket.created');
    const second = claimer.claim(request());
    expect(second.claimed.map((d) => d.attempt)).toEqual([1]);
    finish(second.claimed.map((d) => d.id));
    ctx.clock.advance(5_000);
    const retry = claimer.claim(request());
    expect(retry.claimed.map((d) => [d.id, d.attempt])).toEqual([[at(first.claimed, 0).id, 2]]);
    expect(claimer.claim(request()).claimed).toHaveLength(0);
  });

  it('serves a subscription with room even behind a long backlog of a busy one, and keeps each in order', () => {
    const { ctx, ws, slow, healthy, claimer, request, slots, slowIsBusy } = setup();
    ctx.db.transaction(() => {
      for (let i = 0; i < 500; i++) emit(ctx, ws, 'ticket.created');
    })();
    expect(claimer.claim(request({ slots: slowIsBusy() })).claimed).toHaveLength(0);
    const fresh = [emit(ctx, ws, 'ticket.assigned'), emit(ctx, ws, 'ticket.assigned')];
    const claimed = claimer.claim(request({ slots: slowIsBusy() })).claimed;
    expect(claimed.map((d) => [d.subscriptionId, d.eventId])).toEqual(fresh.map((e) => [healthy.id, e]));

    const slowOnes = claimer.claim(request({ slots: slots({ overall: 3 }) })).claimed;
    const oldest = ctx.db
      .prepare(`SELECT id FROM deliveries WHERE subscription_id = ? ORDER BY rowid LIMIT 3`)
      .pluck()
      .all(slow.id);
    expect(slowOnes.map((d) => d.id)).toEqual(oldest);
  });

  it('finds rows that did not fit in a subscription’s queue once it has worked the queue down', () => {
    const { ctx, ws, slow, claimer, request, finish, slots } = setup();
    ctx.db.transaction(() => {
      for (let i = 0; i < 2_600; i++) emit(ctx, ws, 'ticket.created');
    })();
    const seen = new Set<string>();
    for (let round = 0; round < 100 && seen.size < 2_600; round++) {
      const { claimed } = claimer.claim(request({ slots: slots({ overall: 100, perSubscription: 100 }) }));
      for (const d of claimed) {
        expect(seen.has(d.id)).toBe(false);
        seen.add(d.id);
      }
      finish(claimed.map((d) => d.id));
    }
    expect(seen.size).toBe(2_600);
    expect(
      ctx.db
        .prepare(`SELECT count(*) FROM deliveries WHERE subscription_id = ? AND status = 'pending'`)
        .pluck()
        .get(slow.id),
    ).toBe(0);
  });

  it('drops a queued row that another worker claimed meanwhile, and never takes one of its own in flight', () => {
    const { ctx, ws, claimer, request, slots } = setup();
    emit(ctx, ws, 'ticket.created');
    expect(claimer.claim(request({ slots: slots({ overall: 0 }) })).claimed).toHaveLength(0); // queued, not taken
    ctx.db.prepare(`UPDATE deliveries SET claim_token = 'other', next_attempt_ms = ?`).run(ctx.clock.now() + 12_000);
    expect(claimer.claim(request())).toEqual({ claimed: [], cancelled: 0, dropped: 1 });

    // Our own attempt outlives its lease (the event loop stalled): the row is due again but ours.
    const mine = emit(ctx, ws, 'ticket.created');
    const claimed = at(claimer.claim(request()).claimed, 0);
    expect(claimed?.eventId).toBe(mine);
    ctx.clock.advance(13_000);
    expect(
      claimer.claim(request({ inFlight: new Set([claimed.id, 'x']) })).claimed.map((d) => d.eventId),
    ).not.toContain(mine);
  });
});

/** The delivery worker end to end: a real database on the run's engine, real HTTP to in-process receivers, a clock the test moves. */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

import { USER_AGENT } from '../../partner-api/delivery/send';
import { verifySignature } from '../../partner-api/delivery/signing';
import {
  createDeliveryWorker,
  type DeliveryWorker,
  type DeliveryWorkerOptions,
} from '../../partner-api/delivery/worker';
import { deactivateSubscriptions } from '../../partner-api/domain/subscriptions';
import { times } from '../support/helpers';
import { at } from '../support/items';
import {
  hang,
  type Receiver,
  redirect,
  reply,
  reset,
  retryAfter,
  startReceiver,
  trickle,
  waitUntil,
} from '../support/receiver';
import { describeEngine, isPgLocation } from '../support/test-store';
import {
  attemptsOf,
  type ContextOptions,
  deliveriesOf,
  emit,
  makeContext,
  payloadOf,
  seedWorkspace,
  subscribe,
  subscriptionRow,
  type TestContext,
} from './helpers';

// Torn down in this order: receivers (which cuts off hanging requests), then workers, then databases.
const receivers: Receiver[] = [];
const workers: DeliveryWorker[] = [];
const contexts: TestContext[] = [];
afterEach(async () => {
  for (const rx of receivers.splice(0)) await rx.close();
  for (const worker of workers.splice(0)) await worker.stop();
  for (const ctx of contexts.splice(0)) if (ctx.store.open) await ctx.store.close();
});

async function receiver(): Promise<Receiver> {
  const rx = await startReceiver();
  receivers.push(rx);
  return rx;
}

/** A context and a worker, torn down after the test: receivers close first, then the worker, then the db. */
async function harness(
  opts: ContextOptions = {},
  workerOpts: DeliveryWorkerOptions = {},
): Promise<{ ctx: TestContext; worker: DeliveryWorker }> {
  const ctx = await makeContext(opts);
  const worker = createDeliveryWorker(ctx, { random: () => 0.5, ...workerOpts });
  contexts.push(ctx);
  workers.push(worker);
  return { ctx, worker };
}

describe('a delivery', () => {
  it('arrives signed, with the Standard Webhooks headers and the stored payload byte for byte, woken by the commit', async () => {
    const rx = await receiver();
    const { ctx, worker } = await harness(); // the poll is 60 s here: only the signal can start this delivery
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    worker.start();

    const eventId = await emit(ctx, ws, 'ticket.created');
    const request = at(await rx.waitFor(1), 0);

    expect(request?.text).toBe(await payloadOf(ctx, eventId));
    expect(request?.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': eventId,
      'webhook-timestamp': String(Math.floor(ctx.clock.now() / 1000)),
      'x-illumichat-event-type': 'ticket.created',
    });
    expect(request?.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(verifySignature(sub.secret, request.headers, request.body, { nowMs: ctx.clock.now() })).toBe(true);
    expect(
      verifySignature((await subscribe(ctx, ws, `${rx.url}/other`)).secret, request.headers, request.body, {
        nowMs: ctx.clock.now(),
      }),
    ).toBe(false);

    await worker.idle();
    const delivery = at(await deliveriesOf(ctx, sub.id), 0);
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 1, claim_token: null, last_error: null });
    expect(await attemptsOf(ctx, delivery.id)).toEqual([
      expect.objectContaining({ attempt: 1, status_code: 200, outcome: 'succeeded', error: null, response_body: 'ok' }),
    ]);
  });

  it('goes to every matching subscription and not to others', async () => {
    const [a, b, other] = [await receiver(), await receiver(), await receiver()];
    const { ctx, worker } = await harness();
    const ws = await seedWorkspace(ctx);
    await subscribe(ctx, ws, a.url, 'lead.captured');
    await subscribe(ctx, ws, b.url, 'lead.captured');
    await subscribe(ctx, ws, other.url, 'ticket.created');
    await subscribe(ctx, await seedWorkspace(ctx), other.url, 'lead.captured');
    worker.start();
    await emit(ctx, ws, 'lead.captured');
    await a.waitFor(1);
    await b.waitFor(1);
    await worker.idle();
    expect(other.requests).toHaveLength(0);
  });
});

describe('retries', () => {
  it('retries a 500 after the first scheduled delay, with the same webhook-id', async () => {
    const rx = await receiver();
    rx.script(reply(500, { body: 'database on fire' }));
    const { ctx, worker } = await harness();
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    const eventId = await emit(ctx, ws);

    expect(await worker.runOnce()).toBe(1);
    const failedAt = ctx.clock.now();
    let delivery = at(await deliveriesOf(ctx, sub.id), 0);
    expect(delivery).toMatchObject({ status: 'pending', attempts: 1, claim_token: null, last_error: '500 response' });
    expect(delivery.next_attempt_ms).toBe(failedAt + 5_000); // random 0.5: no jitter
    expect((await subscriptionRow(ctx, sub.id)).failing_since_ms).toBe(failedAt);

    ctx.clock.advance(4_999);
    expect(await worker.runOnce()).toBe(0);
    ctx.clock.advance(1);
    expect(await worker.runOnce()).toBe(1);

    const requests = await rx.waitFor(2);
    expect(requests.map((r) => r.headers['webhook-id'])).toEqual([eventId, eventId]);
    expect(requests[1]?.text).toBe(requests[0]?.text);
    delivery = at(await deliveriesOf(ctx, sub.id), 0);
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(
      (await attemptsOf(ctx, delivery.id)).map((a) => [a.attempt, a.status_code, a.outcome, a.response_body]),
    ).toEqual([
      [1, 500, 'retry', 'database on fire'],
      [2, 200, 'succeeded', 'ok'],
    ]);
    expect((await subscriptionRow(ctx, sub.id)).failing_since_ms).toBeNull();
  });

  it('treats a timeout as a failure to retry, including a 200 whose body trickles past the deadline', async () => {
    const rx = await receiver();
    rx.script(hang(), trickle(200, { chunks: 50, intervalMs: 40 }));
    const { ctx, worker } = await harness({ delivery: { timeoutMs: 300 } });
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    await emit(ctx, ws);
    await emit(ctx, ws);

    await worker.runOnce();
    const deliveries = await deliveriesOf(ctx, sub.id);
    for (const delivery of deliveries) {
      expect(delivery).toMatchObject({
        status: 'pending',
        attempts: 1,
        last_error: 'timeout: no complete answer within 300 ms',
      });
      const attempt = at(await attemptsOf(ctx, delivery.id), 0);
      expect(attempt).toMatchObject({ outcome: 'retry', error: 'timeout: no complete answer within 300 ms' });
      expect(attempt.duration_ms).toBeGreaterThanOrEqual(290);
    }
    expect((await attemptsOf(ctx, at(deliveries, 1).id))[0]?.status_code).toBeNull();
  });

  it('retries a reset connection', async () => {
    const rx = await receiver();
    rx.script(reset());
    const { ctx, worker } = await harness();
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    await emit(ctx, ws);
    await worker.runOnce();
    const [delivery] = await deliveriesOf(ctx, sub.id);
    expect(delivery).toMatchObject({ status: 'pending', last_error: 'connection reset by the receiver' });
    ctx.clock.advance(6_000);
    await worker.runOnce();
    expect((await deliveriesOf(ctx, sub.id))[0]).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('records a reset on a kept-alive connection as the failure it is, without resending at once', async () => {
    const rx = await receiver();
    rx.script(reply(200), reset());
    const { ctx, worker } = await harness();
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    await emit(ctx, ws);
    await worker.runOnce();
    await emit(ctx, ws); // goes out on the connection the first one left open
    await worker.runOnce();
    expect(rx.requests).toHaveLength(2);
    expect((await deliveriesOf(ctx, sub.id)).map((d) => [d.status, d.last_error])).toEqual([
      ['succeeded', null],
      ['pending', 'connection reset by the receiver'],
    ]);
  });

  it('records a request node:http refuses to make as a failed attempt, and keeps the slot free', async () => {
    const rx = await receiver();
    const { ctx, worker } = await harness({ delivery: { concurrency: 1 } });
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    const eventId = await emit(ctx, ws);
    await ctx.db.run(`UPDATE events SET type = 'ticket.created\r\nx-injected: 1' WHERE id = ?`, eventId);
    const good = await emit(ctx, ws);
    await worker.runOnce();
    const [bad, fine] = await deliveriesOf(ctx, sub.id);
    expect(bad).toMatchObject({
      status: 'pending',
      attempts: 1,
      last_error: expect.stringMatching(/^ERR_INVALID_CHAR/),
    });
    expect(fine).toMatchObject({ status: 'succeeded' });
    expect(rx.requests.map((r) => r.headers['webhook-id'])).toEqual([good]);
  });

  it('never follows a redirect: a failure, and the redirect target receives nothing', async () => {
    const [rx, elsewhere] = [await receiver(), await receiver()];
    rx.setDefault(redirect(elsewhere.url));
    const { ctx, worker } = await harness();
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    await emit(ctx, ws);
    await worker.runOnce();
    const delivery = at(await deliveriesOf(ctx, sub.id), 0);
    expect(delivery).toMatchObject({
      status: 'pending',
      last_error: `301 redirect to ${elsewhere.url} (redirects are not followed)`,
    });
    expect((await attemptsOf(ctx, delivery.id))[0]).toMatchObject({ status_code: 301, outcome: 'retry' });
    expect(rx.requests).toHaveLength(1);
    expect(elsewhere.requests).toHaveLength(0);
  });

  it.each([
    ['a Retry-After longer than the schedule', '120', 120_000],
    ['a Retry-After shorter than the schedule (the schedule wins)', '1', 5_000],
    ['a Retry-After beyond the maximum (capped)', '999999', 3_600_000],
    ['garbage (ignored)', 'soon', 5_000],
  ])('honours 429 with %s', async (_name, value, expectedDelay) => {
    const rx = await receiver();
    rx.script(retryAfter(429, value));
    const { ctx, worker } = await harness();
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    await emit(ctx, ws);
    await worker.runOnce();
    expect((await deliveriesOf(ctx, sub.id))[0]).toMatchObject({
      status: 'pending',
      next_attempt_ms: ctx.clock.now() + expectedDelay,
    });
  });

  it('honours a Retry-After given as an HTTP date on a 503', async () => {
    const rx = await receiver();
    const { ctx, worker } = await harness();
    const at = Math.floor(ctx.clock.now() / 1000) * 1000 + 600_000;
    rx.script(retryAfter(503, new Date(at).toUTCString()));
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    await emit(ctx, ws);
    await worker.runOnce();
    expect((await deliveriesOf(ctx, sub.id))[0]?.next_attempt_ms).toBe(at);
  });

  it('follows the whole schedule within its jitter, then gives up and keeps the subscription', async () => {
    const rx = await receiver();
    rx.setDefault(reply(404));
    const { ctx, worker } = await harness({}, { random: Math.random });
    const schedule = ctx.config.delivery.retryScheduleMs;
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    await emit(ctx, ws);

    await worker.runOnce();
    for (const planned of schedule) {
      const delivery = at(await deliveriesOf(ctx, sub.id), 0);
      const delay = delivery.next_attempt_ms - ctx.clock.now();
      expect(delay).toBeGreaterThanOrEqual(planned * 0.8);
      expect(delay).toBeLessThanOrEqual(planned * 1.2);
      ctx.clock.advance(delay);
      expect(await worker.runOnce()).toBe(1);
    }
    const delivery = at(await deliveriesOf(ctx, sub.id), 0);
    expect(delivery).toMatchObject({ status: 'failed', attempts: schedule.length + 1, last_error: '404 response' });
    expect((await attemptsOf(ctx, delivery.id)).map((a) => a.outcome)).toEqual([
      ...schedule.map(() => 'retry'),
      'failed',
    ]);
    ctx.clock.advance(schedule.at(-1)! * 2);
    expect(await worker.runOnce()).toBe(0);
    expect(rx.requests).toHaveLength(schedule.length + 1);
    expect((await subscriptionRow(ctx, sub.id)).active).toBe(1); // under five days of failing
  });
});

describe('turning subscriptions off', () => {
  it('deactivates on 410 at once, cancels what was pending, and sends nothing more', async () => {
    const rx = await receiver();
    rx.script(reply(410));
    const { ctx, worker } = await harness({ delivery: { perSubscriptionConcurrency: 1 } });
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    await emit(ctx, ws);
    await emit(ctx, ws);
    await emit(ctx, ws);

    await worker.runOnce();
    expect(await subscriptionRow(ctx, sub.id)).toMatchObject({ active: 0, deactivated_reason: 'gone' });
    expect((await deliveriesOf(ctx, sub.id)).map((d) => d.status)).toEqual(['failed', 'cancelled', 'cancelled']);
    expect((await attemptsOf(ctx, at(await deliveriesOf(ctx, sub.id), 0).id))[0]).toMatchObject({
      status_code: 410,
      outcome: 'gone',
    });

    await emit(ctx, ws);
    ctx.clock.advance(3_600_000);
    expect(await worker.runOnce()).toBe(0);
    expect(rx.requests).toHaveLength(1);
    expect(await deliveriesOf(ctx, sub.id)).toHaveLength(3);
  });

  it('cancels pending retries when a subscription is deactivated (unsubscribe, key revoked)', async () => {
    const rx = await receiver();
    rx.setDefault(reply(500));
    const { ctx, worker } = await harness();
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    await emit(ctx, ws);
    await worker.runOnce();
    expect((await deliveriesOf(ctx, sub.id))[0]?.status).toBe('pending');

    await deactivateSubscriptions(ctx, { subscriptionId: sub.id }, 'unsubscribed');
    ctx.clock.advance(60_000);
    expect(await worker.runOnce()).toBe(0);
    expect((await deliveriesOf(ctx, sub.id))[0]).toMatchObject({
      status: 'cancelled',
      last_error: 'subscription deactivated: unsubscribed',
    });
    expect(rx.requests).toHaveLength(1);
  });

  it('re-checks at claim time that the subscription is still active', async () => {
    const rx = await receiver();
    const { ctx, worker } = await harness();
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    await emit(ctx, ws);
    // Turned off behind the outbox's back: no cancel of its pending rows.
    await ctx.db.run(`UPDATE subscriptions SET active = 0 WHERE id = ?`, sub.id);
    expect(await worker.runOnce()).toBe(0);
    expect((await deliveriesOf(ctx, sub.id))[0]).toMatchObject({
      status: 'cancelled',
      last_error: 'subscription is no longer active',
    });
    expect(rx.requests).toHaveLength(0);
  });

  it('disables a subscription that has failed without a success for the whole failing period, and says why', async () => {
    const rx = await receiver();
    rx.setDefault(reply(503));
    const { ctx, worker } = await harness({
      delivery: { retryScheduleMs: Array(20).fill(10_000), disableAfterFailingMs: 60_000 },
    });
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    await emit(ctx, ws);
    const firstFailure = ctx.clock.now();
    await worker.runOnce();
    for (let i = 0; i < 5; i++) {
      ctx.clock.advance(10_000);
      await emit(ctx, ws); // fresh events keep being owed while it fails
      await worker.runOnce();
    }
    expect(await subscriptionRow(ctx, sub.id)).toMatchObject({ active: 1, failing_since_ms: firstFailure });
    ctx.clock.advance(10_000);
    await worker.runOnce();

    expect(await subscriptionRow(ctx, sub.id)).toMatchObject({ active: 0, deactivated_reason: 'failing' });
    const statuses = (await deliveriesOf(ctx, sub.id)).map((d) => d.status);
    expect(statuses).not.toContain('pending');
    expect((await deliveriesOf(ctx, sub.id)).find((d) => d.status === 'cancelled')?.last_error).toBe(
      'subscription deactivated: failing',
    );
    expect(ctx.logs).toContainEqual(
      expect.objectContaining({
        message: 'webhook subscription deactivated',
        fields: expect.objectContaining({ subscriptionId: sub.id, reason: 'failing', lastError: '503 response' }),
      }),
    );
    const sent = rx.requests.length;
    ctx.clock.advance(3_600_000);
    expect(await worker.runOnce()).toBe(0);
    expect(rx.requests).toHaveLength(sent);
  });

  it('starts the failing period over after any success', async () => {
    const rx = await receiver();
    rx.script(reply(500), reply(200));
    rx.setDefault(reply(500));
    const { ctx, worker } = await harness({ delivery: { disableAfterFailingMs: 60_000 } });
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    await emit(ctx, ws);
    await worker.runOnce();
    ctx.clock.advance(50_000);
    await worker.runOnce(); // the retry succeeds
    expect((await subscriptionRow(ctx, sub.id)).failing_since_ms).toBeNull();

    ctx.clock.advance(20_000); // 70 s after the first failure, but only the first of a new run
    await emit(ctx, ws);
    await worker.runOnce();
    expect(await subscriptionRow(ctx, sub.id)).toMatchObject({ active: 1, failing_since_ms: ctx.clock.now() });
  });
});

describe('authority at send time (defence in depth)', () => {
  // Rows the API should never leave behind (a subscription active under a revoked key, or in a workspace
  // below Pro) are made here directly: the worker must not send for them however they came to be.
  const revokeBehindTheApiBack = async (ctx: TestContext, apiKeyId: string) =>
    await ctx.db.run(
      `UPDATE api_keys SET revoked_at = ? WHERE id = ?`,
      new Date(ctx.clock.now()).toISOString(),
      apiKeyId,
    );

  it('sends nothing for a subscription whose key is revoked, cancels with the reason, and turns it off', async () => {
    const rx = await receiver();
    const { ctx, worker } = await harness();
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    await emit(ctx, ws);
    await emit(ctx, ws);
    await revokeBehindTheApiBack(ctx, ws.apiKeyId);
    await worker.runOnce();
    expect(rx.requests).toHaveLength(0);
    expect((await deliveriesOf(ctx, sub.id)).map((d) => [d.status, d.attempts, d.last_error, d.claim_token])).toEqual([
      ['cancelled', 0, 'not sent: the API key that made this subscription was revoked', null],
      ['cancelled', 0, 'not sent: the API key that made this subscription was revoked', null],
    ]);
    expect(await attemptsOf(ctx, at(await deliveriesOf(ctx, sub.id), 0).id)).toEqual([]);
    expect(await subscriptionRow(ctx, sub.id)).toMatchObject({ active: 0, deactivated_reason: 'key_revoked' });
  });

  it.each(['free', 'starter'])(
    'sends nothing while the workspace is on the %s plan, and delivers again once it is on Pro',
    async (plan) => {
      const rx = await receiver();
      const { ctx, worker } = await harness();
      const ws = await seedWorkspace(ctx);
      const sub = await subscribe(ctx, ws, rx.url);
      const setPlan = async (p: string) =>
        await ctx.db.run(`UPDATE workspaces SET plan = ? WHERE id = ?`, p, ws.workspaceId);
      // Enqueued while on Pro, then the plan drops behind the domain's back (no cancel in the same transaction,
      // as setWorkspacePlan does): only the worker's own check stands between the row and a send.
      await emit(ctx, ws);
      await setPlan(plan);
      await worker.runOnce();
      expect(rx.requests).toHaveLength(0);
      expect((await deliveriesOf(ctx, sub.id))[0]).toMatchObject({
        status: 'cancelled',
        attempts: 0,
        last_error: `not sent: the workspace's plan (${plan}) is below Pro, which the integration needs`,
      });
      expect((await subscriptionRow(ctx, sub.id)).active).toBe(1); // the Zap is still there for when the plan is back

      await setPlan('business');
      const eventId = await emit(ctx, ws);
      await worker.runOnce();
      expect(rx.requests.map((r) => r.headers['webhook-id'])).toEqual([eventId]);
    },
  );

  it('starts no attempt after a revocation commits, even for rows already claimed or retried', async () => {
    const rx = await receiver();
    const { ctx, worker } = await harness({ delivery: { perSubscriptionConcurrency: 1 } });
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    // The key is revoked (committed) while the first delivery is at the receiver; the next ones are claimed
    // by the same worker as soon as it records the first.
    rx.setDefault(async () => {
      await revokeBehindTheApiBack(ctx, ws.apiKeyId);
      return reply(200);
    });
    for (let i = 0; i < 10; i++) await emit(ctx, ws);
    await worker.runOnce();
    expect(rx.requests).toHaveLength(1);
    const statuses = (await deliveriesOf(ctx, sub.id)).map((d) => d.status);
    expect(statuses).toEqual(['succeeded', ...Array(9).fill('cancelled')]);
  });
});

/**
 * A script for `node -e` that waits 150-300 ms, revokes `keyId` on the database at `location` with its own
 * connection (better-sqlite3 on a SQLite file, node-postgres on a postgres:// URL), then prints when its
 * commit returned (ms since the epoch).
 */
function revokeFromAnotherProcess(location: string, keyId: string): string {
  const revoke = isPgLocation(location)
    ? `
      const pg = require(${JSON.stringify(require.resolve('pg'))});
      const db = new pg.Client({ connectionString: ${JSON.stringify(location)} });
      const connected = db.connect();
      const revoke = async () => {
        await connected;
        await db.query('UPDATE api_keys SET revoked_at = $1 WHERE id = $2', [new Date().toISOString(), ${JSON.stringify(keyId)}]);
        process.stdout.write(String(Date.now()));
        await db.end();
      };`
    : `
      const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
      const db = new Database(${JSON.stringify(location)});
      db.pragma('busy_timeout = 5000');
      const revoke = async () => {
        db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ?').run(new Date().toISOString(), ${JSON.stringify(keyId)});
        process.stdout.write(String(Date.now()));
        db.close();
      };`;
  return `${revoke}
      setTimeout(() => revoke().catch((error) => { console.error(error); process.exit(1); }), 150 + Math.floor(Math.random() * 150));`;
}

describe('authority at send time, against another process', () => {
  it('starts no attempt after another process (as the admin CLI does) commits a revocation', async () => {
    const rx = await receiver();
    rx.setDefault(reply(200, { delayMs: 2 }));
    const clock = { now: () => Date.now(), advance() {}, set() {} }; // attempts stamped on the real clock
    const { ctx, worker } = await harness({ clock });
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    worker.start();
    // Another process waits a moment of its own choosing, revokes the key, and says when its commit returned.
    const revoker = spawn(process.execPath, ['-e', revokeFromAnotherProcess(ctx.location, ws.apiKeyId)]);
    let out = '';
    revoker.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => revoker.once('exit', resolve));
    let done = false;
    void exited.then(() => (done = true));
    // Events keep coming before, during and after the revocation: until the revoker has exited, however long
    // its start takes on a loaded host (a fixed count of events could all be delivered before it revoked).
    for (const until = Date.now() + 20_000; !done && Date.now() < until;) {
      await emit(ctx, ws);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    for (let i = 0; i < 20; i++) await emit(ctx, ws);
    expect(await exited).toBe(0);
    const revokedBy = Number(out);
    await waitUntil(async () => (await deliveriesOf(ctx, sub.id)).every((d) => d.status !== 'pending'), {
      timeoutMs: 10_000,
    });
    await worker.idle();

    const started = await ctx.db.values<string>(
      `SELECT a.started_at FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.subscription_id = ?`,
      sub.id,
    );
    expect(started.length).toBeGreaterThan(0); // deliveries did flow before the revocation
    for (const at of started) expect(Date.parse(at)).toBeLessThanOrEqual(revokedBy);
    const statuses = (await deliveriesOf(ctx, sub.id)).map((d) => d.status);
    expect(statuses).toContain('cancelled');
    expect(new Set(statuses)).toEqual(new Set(['succeeded', 'cancelled']));
    // Every POST that arrived is a recorded attempt (all started before the revocation, checked above). Not
    // "one per succeeded delivery": on a loaded host an attempt can time out after its request arrived, and
    // that delivery is then cancelled at its retry, which is what the revocation asks for.
    expect(rx.requests).toHaveLength(started.length);
  });
});

describeEngine(
  'postgres',
  "PostgreSQL's row locks: two recording transactions at once deadlocked there; SQLite's write transactions take turns (and on SQLite twenty events emitted at once through the test helper are not all delivered within 20 s, with or without this change: not yet looked into)",
  'recording attempts',
  () => {
    it('records attempts that finish together in any order: none is left unrecorded or sent twice', async () => {
      // Sixteen subscriptions whose attempts fail (500) at staggered moments: each result is noted on its
      // subscription's row (failing since), by recordings that follow each other closely. On PostgreSQL two
      // recordings at once locked those rows in the order their attempts finished and deadlocked: a batch left
      // unrecorded and sent again when its lease ended.
      const rx = await receiver();
      let n = 0;
      rx.setDefault(() => reply(500, { delayMs: (n++ * 7) % 53 }));
      const { ctx, worker } = await harness({ delivery: { retryScheduleMs: [600_000] } });
      const ws = await seedWorkspace(ctx);
      const subs = await times(16, (i) => subscribe(ctx, ws, `${rx.url}/${i}`));
      worker.start();
      await Promise.all(Array.from({ length: 20 }, () => emit(ctx, ws)));
      const total = subs.length * 20;
      await waitUntil(async () => (await ctx.db.value<number>(`SELECT count(*) FROM delivery_attempts`)) === total, {
        timeoutMs: 20_000,
      });
      await worker.idle();

      expect(ctx.logs.filter((line) => line.level === 'error')).toEqual([]);
      expect(rx.requests).toHaveLength(total);
      expect(await ctx.db.value(`SELECT count(*) FROM delivery_attempts`)).toBe(total);
      expect(await ctx.db.values(`SELECT DISTINCT attempts FROM deliveries`)).toEqual([1]);
    });
  },
);

describe('fairness and limits', () => {
  it('keeps one hanging endpoint to its per-subscription share while a healthy one gets everything', async () => {
    const [slow, healthy] = [await receiver(), await receiver()];
    slow.setDefault(hang());
    const { ctx, worker } = await harness({
      delivery: { concurrency: 4, perSubscriptionConcurrency: 2, timeoutMs: 5_000 },
    });
    const ws = await seedWorkspace(ctx);
    const slowSub = await subscribe(ctx, ws, slow.url, 'ticket.created');
    await subscribe(ctx, ws, healthy.url, 'ticket.assigned');
    worker.start();
    for (let i = 0; i < 10; i++) {
      await emit(ctx, ws, 'ticket.created');
      await emit(ctx, ws, 'ticket.assigned');
    }
    await healthy.waitFor(10);
    // All ten healthy deliveries went through while the slow endpoint's first two still hang.
    expect(slow.requests.length).toBeLessThanOrEqual(2);
    expect(
      await ctx.db.value(
        `SELECT count(*) FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.subscription_id = ?`,
        slowSub.id,
      ),
    ).toBe(0);
    expect((await deliveriesOf(ctx, slowSub.id)).filter((d) => d.claim_token !== null)).toHaveLength(2);
  });

  it('never has more in flight than the overall limit', async () => {
    const receivers = [await receiver(), await receiver(), await receiver()];
    for (const rx of receivers) rx.setDefault(hang());
    const { ctx, worker } = await harness({ delivery: { concurrency: 5, perSubscriptionConcurrency: 4 } });
    const ws = await seedWorkspace(ctx);
    for (const rx of receivers) await subscribe(ctx, ws, rx.url);
    for (let i = 0; i < 6; i++) await emit(ctx, ws);
    worker.start();
    await waitUntil(() => receivers.reduce((n, rx) => n + rx.requests.length, 0) === 5);
    expect(worker.inFlight).toBe(5);
    expect(await ctx.db.value(`SELECT count(*) FROM deliveries WHERE claim_token IS NOT NULL`)).toBe(5);
  });
});

describe('restarts', () => {
  it('delivers what was pending when the process stopped, after the database is reopened', async () => {
    const rx = await receiver();
    const first = await makeContext();
    const ws = await seedWorkspace(first);
    const sub = await subscribe(first, ws, rx.url);
    const ids = [await emit(first, ws), await emit(first, ws), await emit(first, ws)];
    await first.store.close();

    const { ctx, worker } = await harness({ location: first.location, clock: first.clock });
    worker.start();
    const requests = await rx.waitFor(3);
    expect(requests.map((r) => r.headers['webhook-id']).sort()).toEqual([...ids].sort());
    await worker.idle();
    expect((await deliveriesOf(ctx, sub.id)).map((d) => d.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
  });

  it('hands back attempts cut off by stop(), and a new worker sends them again with the same webhook-id', async () => {
    const rx = await receiver();
    rx.script(hang());
    const first = await makeContext();
    const ws = await seedWorkspace(first);
    const sub = await subscribe(first, ws, rx.url);
    const eventId = await emit(first, ws);
    const stopping = createDeliveryWorker(first, { stopTimeoutMs: 50 });
    stopping.start();
    await rx.waitFor(1);
    await stopping.stop();
    expect((await deliveriesOf(first, sub.id))[0]).toMatchObject({ status: 'pending', attempts: 1, claim_token: null });
    expect((await subscriptionRow(first, sub.id)).failing_since_ms).toBeNull(); // not the receiver's fault
    await first.store.close();

    const { ctx, worker } = await harness({ location: first.location, clock: first.clock });
    worker.start();
    const requests = await rx.waitFor(2);
    expect(requests[1]?.headers['webhook-id']).toBe(eventId);
    await worker.idle();
    const delivery = at(await deliveriesOf(ctx, sub.id), 0);
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect((await attemptsOf(ctx, delivery.id)).map((a) => [a.outcome, a.error])).toEqual([
      ['retry', 'the worker stopped before the attempt finished'],
      ['succeeded', null],
    ]);
  });

  it('reclaims a claim left by a worker that died, once its lease (timeout + margin) is over', async () => {
    const rx = await receiver();
    const { ctx, worker } = await harness({ delivery: { timeoutMs: 1_000, claimMarginMs: 2_000 } });
    const ws = await seedWorkspace(ctx);
    const sub = await subscribe(ctx, ws, rx.url);
    const eventId = await emit(ctx, ws);
    const claimedAt = ctx.clock.now();
    // What a worker that was killed mid-send leaves behind.
    await ctx.db.run(
      `UPDATE deliveries SET claim_token = 'dead-worker', claimed_at_ms = ?, next_attempt_ms = ?, attempts = 1`,
      claimedAt,
      claimedAt + 3_000,
    );

    ctx.clock.advance(2_999);
    expect(await worker.runOnce()).toBe(0);
    ctx.clock.advance(1);
    expect(await worker.runOnce()).toBe(1);
    expect((await rx.waitFor(1))[0]?.headers['webhook-id']).toBe(eventId);
    expect((await deliveriesOf(ctx, sub.id))[0]).toMatchObject({ status: 'succeeded', attempts: 2, claim_token: null });
  });
});

describe('the connect-time SSRF check', () => {
  it('refuses a target that resolves to loopback when private targets are not allowed, and sends nothing', async () => {
    const rx = await receiver();
    const { ctx, worker } = await harness({ allowPrivateTargets: false });
    const ws = await seedWorkspace(ctx);
    const byName = await subscribe(ctx, ws, `https://localhost:${rx.port}/hook`);
    const literal = await subscribe(ctx, ws, `https://127.0.0.1:${rx.port}/hook`);
    const plain = await subscribe(ctx, ws, rx.url);
    await emit(ctx, ws);
    await worker.runOnce();

    expect((await deliveriesOf(ctx, byName.id))[0]?.last_error).toBe(
      'target_url host localhost resolves to 127.0.0.1, a loopback address',
    );
    expect((await attemptsOf(ctx, at(await deliveriesOf(ctx, byName.id), 0).id))[0]).toMatchObject({
      outcome: 'refused',
      status_code: null,
    });
    expect((await deliveriesOf(ctx, literal.id))[0]?.last_error).toBe(
      'target_url points at 127.0.0.1, a loopback address',
    );
    expect((await deliveriesOf(ctx, plain.id))[0]?.last_error).toBe('target_url must use https');
    expect(rx.requests).toHaveLength(0);
  });

  it('checks the address a name resolves to at send time (DNS rebinding), and connects when private targets are allowed', async () => {
    const rx = await receiver();
    const resolve = () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]);
    const strict = await harness({ allowPrivateTargets: false }, { resolve });
    const ws = await seedWorkspace(strict.ctx);
    const sub = await subscribe(strict.ctx, ws, `https://hooks.example.test:${rx.port}/hook`);
    await emit(strict.ctx, ws);
    await strict.worker.runOnce();
    expect((await deliveriesOf(strict.ctx, sub.id))[0]?.last_error).toBe(
      'target_url host hooks.example.test resolves to 127.0.0.1, a loopback address',
    );
    expect(rx.requests).toHaveLength(0);

    const open = await harness({ allowPrivateTargets: true }, { resolve });
    const ws2 = await seedWorkspace(open.ctx);
    const sub2 = await subscribe(open.ctx, ws2, `http://hooks.example.test:${rx.port}/hook`);
    await emit(open.ctx, ws2);
    await open.worker.runOnce();
    expect((await deliveriesOf(open.ctx, sub2.id))[0]?.status).toBe('succeeded');
    expect(rx.requests).toHaveLength(1);
    expect(rx.requests[0]?.headers.host).toBe(`hooks.example.test:${rx.port}`);
  });
});

describe('fairness between workspaces', () => {
  // Issue 8 §3, the observed fault: workspace B has 16 subscriptions to a receiver that never answers and
  // 100 events (1,600 attempts, each holding a slot until the timeout). Workspace A, meanwhile, makes events
  // at 200/s to a healthy receiver: each must arrive promptly, not after B's attempts time out.
  it("keeps another workspace's deliveries prompt while one workspace's endpoints hang (16 × 100)", async () => {
    const [hanging, healthy] = [await receiver(), await receiver()];
    hanging.setDefault(hang());
    // The default slots. B's attempts hang for the whole test: none times out and frees B's slots to more of
    // its own attempts before the last assertion, however long a loaded host takes to write the events.
    const { ctx, worker } = await harness({ delivery: { timeoutMs: 30_000 } });
    const b = await seedWorkspace(ctx);
    for (let i = 0; i < 16; i++) await subscribe(ctx, b, `${hanging.url}/${i}`);
    const a = await seedWorkspace(ctx);
    await subscribe(ctx, a, healthy.url, 'ticket.assigned');
    worker.start();
    for (let i = 0; i < 100; i++) await emit(ctx, b);
    // B takes every slot it is going to take, and each of those attempts reaches the receiver and hangs.
    const share = ctx.config.delivery.perWorkspaceConcurrency;
    await waitUntil(() => worker.inFlight >= share && hanging.requests.length === worker.inFlight);

    const emittedAt = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      emittedAt.set(await emit(ctx, a, 'ticket.assigned'), performance.now());
      await new Promise((resolve) => setTimeout(resolve, 5)); // 200 events/s
    }
    const arrivals = await healthy.waitFor(40, 4_000);
    // Generous for a loaded machine, and far below the 30 s a slot held by B takes to come free.
    for (const request of arrivals) {
      expect(request.monotonicMs - emittedAt.get(String(request.headers['webhook-id']))!).toBeLessThan(1_000);
    }
    // B held its workspace's share (a quarter of the slots) and no more.
    expect(share).toBeLessThan(ctx.config.delivery.concurrency);
    // A's last attempts hold their slots until recorded, a moment after they arrive (longer on PostgreSQL
    // under load): wait for that, then exactly B's share is left (more or fewer never settles there).
    await waitUntil(() => worker.inFlight === share);
    expect(hanging.requests).toHaveLength(share);
    expect(worker.inFlight).toBe(share);
  });
});

describe('shares of the delivery slots', () => {
  it('holds every hanging workspace to its share, and a host that hangs for all of them to the host share', async () => {
    const [hanging, healthy] = [await receiver(), await receiver()];
    hanging.setDefault(hang());
    const { ctx, worker } = await harness({
      delivery: {
        concurrency: 12,
        perWorkspaceConcurrency: 3,
        perHostConcurrency: 6,
        perSubscriptionConcurrency: 2,
        timeoutMs: 5_000,
      },
    });
    // Four workspaces, each with two subscriptions at the same hanging host, each owing five events.
    const tenants = await times(4, async (_i) => await seedWorkspace(ctx));
    for (const ws of tenants) {
      await subscribe(ctx, ws, `${hanging.url}/a`);
      await subscribe(ctx, ws, `${hanging.url}/b`);
    }
    worker.start();
    for (const ws of tenants) for (let i = 0; i < 5; i++) await emit(ctx, ws);
    await waitUntil(() => hanging.requests.length === 6 && worker.inFlight === 6);

    // The host's share is full (6 of 12), and no workspace holds more than its 3, no subscription its 2.
    const held = await ctx.db.all<{ ws: string; sub: string }>(
      `SELECT s.workspace_id AS ws, s.id AS sub FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id WHERE d.claim_token IS NOT NULL`,
    );
    expect(held).toHaveLength(6);
    const most = (key: 'ws' | 'sub') => {
      const counts = new Map<string, number>();
      for (const h of held) counts.set(h[key], (counts.get(h[key]) ?? 0) + 1);
      return Math.max(...counts.values());
    };
    expect(most('ws')).toBeLessThanOrEqual(3);
    expect(most('sub')).toBeLessThanOrEqual(2);

    // A fifth workspace, at another host, gets its deliveries at once in the slots left.
    const other = await seedWorkspace(ctx);
    await subscribe(ctx, other, healthy.url, 'ticket.assigned');
    for (let i = 0; i < 5; i++) await emit(ctx, other, 'ticket.assigned');
    await healthy.waitFor(5, 2_000);
    expect(hanging.requests).toHaveLength(6);
  });

  it('counts one host share per host however its URL spells it (IDN, Unicode or punycode, any case)', async () => {
    const [hanging, healthy] = [await receiver(), await receiver()];
    hanging.setDefault(hang());
    // Every name resolves to the receivers' loopback address, as DNS would send these names to one host.
    const resolve = () => Promise.resolve([{ address: '127.0.0.1', family: 4 as const }]);
    const { ctx, worker } = await harness(
      {
        delivery: {
          concurrency: 12,
          perWorkspaceConcurrency: 12,
          perHostConcurrency: 2,
          perSubscriptionConcurrency: 2,
          timeoutMs: 5_000,
        },
      },
      { resolve },
    );
    // One host, three spellings (slots.ts hostKey: the WHATWG origin), each subscription in its own workspace.
    const spellings = ['BÜCHER.example', 'xn--bcher-kva.example', 'bücher.EXAMPLE'];
    for (const host of spellings) {
      const ws = await seedWorkspace(ctx);
      await subscribe(ctx, ws, `http://${host}:${hanging.port}/hook`);
      for (let i = 0; i < 2; i++) await emit(ctx, ws);
    }
    worker.start();
    await waitUntil(() => hanging.requests.length === 2 && worker.inFlight === 2);
    // Another host's deliveries go through in the slots left, so claims ran after the host share filled…
    const other = await seedWorkspace(ctx);
    const healthySub = await subscribe(ctx, other, healthy.url, 'ticket.assigned');
    for (let i = 0; i < 3; i++) await emit(ctx, other, 'ticket.assigned');
    await healthy.waitFor(3, 2_000);
    // …and the host kept to its share of 2, not 2 per spelling.
    expect(hanging.requests).toHaveLength(2);
    expect(
      await ctx.db.value(
        `SELECT count(*) FROM deliveries WHERE claim_token IS NOT NULL AND subscription_id <> ?`,
        healthySub.id,
      ),
    ).toBe(2);
  });

  it('serves workspaces in turn, so one with many subscriptions gets no more turns than one with a single Zap', async () => {
    const rx = await receiver();
    // One slot in all: the order of arrival is the order of service.
    const { ctx, worker } = await harness({ delivery: { concurrency: 1 } });
    const many = await seedWorkspace(ctx);
    for (let i = 0; i < 8; i++) await subscribe(ctx, many, `${rx.url}/many/${i}`);
    const one = await seedWorkspace(ctx);
    await subscribe(ctx, one, `${rx.url}/one`);
    for (let i = 0; i < 4; i++) {
      await emit(ctx, many);
      await emit(ctx, one);
    }
    await worker.runOnce();
    expect(rx.requests).toHaveLength(36);
    // Workspace "one" had every other turn until its four were out, not one turn in nine.
    const order = rx.requests.map((r) => (r.path.endsWith('/one') ? 'one' : 'many'));
    expect(order.slice(0, 8)).toEqual(['many', 'one', 'many', 'one', 'many', 'one', 'many', 'one']);
  });
});

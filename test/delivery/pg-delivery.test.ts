/**
 * Delivery across instances on PostgreSQL (issue 13 §3, partner-api/delivery/pg-claimer.ts, wake-ups.ts):
 * several workers, each with its own store (its own pool, as separate instances have), on one database.
 * Runs on every engine's run: it needs a PostgreSQL, not the run's engine (test/support/pg.ts starts a
 * private cluster when the run has none).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

import { fixtureFor } from '../../fixtures';
import { type Config, loadConfig } from '../../partner-api/config';
import { type AppContext, createAppContext, inTransaction } from '../../partner-api/context';
import { openPgStore, type PgStore } from '../../partner-api/db/pg-store';
import type { Queryable } from '../../partner-api/db/store';
import { createAuthorityCheck } from '../../partner-api/delivery/authority';
import { recordEvent } from '../../partner-api/delivery/outbox';
import { pgRefusals } from '../../partner-api/delivery/pg-authority';
import { createPgClaimer } from '../../partner-api/delivery/pg-claimer';
import { createPgBatchStore } from '../../partner-api/delivery/pg-recording';
import { type Completion, recordBatch } from '../../partner-api/delivery/recording';
import type { SendResult } from '../../partner-api/delivery/send';
import { createSlots } from '../../partner-api/delivery/slots';
import { type DeliveryStore, deliveryStore } from '../../partner-api/delivery/store';
import { DELIVERY_CHANNEL } from '../../partner-api/delivery/wake-ups';
import { createDeliveryWorker, type DeliveryWorker } from '../../partner-api/delivery/worker';
import { type Clock, isoAt, systemClock } from '../../partner-api/lib/clock';
import { newId } from '../../partner-api/lib/ids';
import { capturingLogger, type LogLine, testClock, times } from '../support/helpers';
import { closeAfterFile, freshPgDatabaseUrl, PG_SETUP_TIMEOUT_MS } from '../support/pg';
import { hang, type Receiver, reply, startReceiver, waitUntil } from '../support/receiver';
import { emit, seedWorkspace, subscribe, type Workspace } from './helpers';

let url: string;
beforeAll(async () => {
  url = await freshPgDatabaseUrl();
}, PG_SETUP_TIMEOUT_MS);

// Torn down in this order: receivers (cutting off hanging requests), children, workers, stores.
const receivers: Receiver[] = [];
const children: ChildProcess[] = [];
const workers: DeliveryWorker[] = [];
const stores: PgStore[] = [];
afterEach(async () => {
  for (const rx of receivers.splice(0)) await rx.close();
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const worker of workers.splice(0)) await worker.stop();
  // Each test starts from an empty delivery table, so one test's rows never count against another's shares.
  if (stores[0]?.open) await stores[0].run('TRUNCATE deliveries, delivery_attempts, events, subscriptions CASCADE');
  for (const store of stores.splice(0)) await store.close();
});

async function receiver(behaviour = reply(200, { delayMs: 2 })): Promise<Receiver> {
  const rx = await startReceiver({ default: behaviour });
  receivers.push(rx);
  return rx;
}

interface Instance {
  ctx: AppContext;
  store: PgStore;
  worker: DeliveryWorker;
  /** What it logged. */
  logs: LogLine[];
}

/** One API instance's delivery side: its own pool on the shared database, its context and worker (not started). */
async function instance(opts: { delivery?: Partial<Config['delivery']>; clock?: Clock } = {}): Promise<Instance> {
  const store = closeAfterFile(await openPgStore(url, { migrate: false, max: 4 }));
  stores.push(store);
  const base = loadConfig({ ILLUMICHAT_NO_DEMO: '1', ILLUMICHAT_LOG: 'silent' });
  const config = loadConfig(
    { ILLUMICHAT_NO_DEMO: '1', ILLUMICHAT_LOG: 'silent' },
    { allowPrivateTargets: true, delivery: { ...base.delivery, pollIntervalMs: 60_000, ...opts.delivery } },
  );
  const logger = capturingLogger();
  const ctx = createAppContext({ store, config, clock: opts.clock ?? systemClock, log: logger.log });
  const worker = createDeliveryWorker(ctx, { random: () => 0.5, stopTimeoutMs: 2000 });
  workers.push(worker);
  return { ctx, store, worker, logs: logger.lines };
}

const databaseNowMs = async (store: PgStore) =>
  (await store.value<number>(`SELECT CAST(floor(extract(epoch FROM clock_timestamp()) * 1000) AS BIGINT)`))!;

/** Delivery rows claimed and not finished, as every instance sees them. */
const claimedNow = async (store: PgStore) =>
  (await store.value<number>(`SELECT count(*) FROM deliveries WHERE status = 'pending' AND claim_token IS NOT NULL`))!;

/** Resolves once `n` listeners of this database have issued their LISTEN (so a NOTIFY reaches them). */
async function listeners(store: PgStore, n: number): Promise<void> {
  await waitUntil(
    async () =>
      ((await store.value<number>(
        `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`,
      )) ?? 0) >= n,
    { timeoutMs: 10_000, message: `${n} listeners` },
  );
}

async function subscriptions(ctx: AppContext, ws: Workspace, rx: Receiver, n: number, tag: string) {
  return await times(n, (i) => subscribe(ctx, ws, `${rx.url}/${tag}${i}`));
}

/**
 * `n` events copied from `ws`'s one event (ids `evt_<tag>1`…) and a pending delivery of each to
 * `subscriptionId`, due at 1…n ms: a backlog due long before anything a test emits.
 */
async function dueBacklog(store: PgStore, ws: Workspace, subscriptionId: string, n: number, tag: string) {
  await store.run(
    `INSERT INTO events (id, workspace_id, type, payload, created_at)
     SELECT 'evt_${tag}' || g, workspace_id, type, payload, created_at
       FROM events, generate_series(1, CAST(? AS INTEGER)) g WHERE workspace_id = ?`,
    n,
    ws.workspaceId,
  );
  await store.run(
    `INSERT INTO deliveries (id, event_id, subscription_id, status, next_attempt_ms, created_at, workspace_id, event_type)
     SELECT 'dlv_${tag}' || g, 'evt_${tag}' || g, ?, 'pending', g, '2026-01-01T00:00:00.000Z', ?, 'ticket.created'
       FROM generate_series(1, CAST(? AS INTEGER)) g`,
    subscriptionId,
    ws.workspaceId,
    n,
  );
}

describe('claims across instances', () => {
  it('three workers draining one backlog concurrently send each delivery exactly once', async () => {
    const rx = await receiver();
    const a = await instance({ delivery: { concurrency: 16 } });
    const b = await instance({ delivery: { concurrency: 16 } });
    const c = await instance({ delivery: { concurrency: 16 } });
    const ws = await seedWorkspace(a.ctx);
    await subscriptions(a.ctx, ws, rx, 6, 's');
    for (let i = 0; i < 50; i++) await emit(a.ctx, ws); // 300 deliveries, written before any worker runs

    for (const { worker } of [a, b, c]) worker.start();
    await rx.waitFor(300, 30_000);
    await waitUntil(
      async () => (await a.store.value<number>(`SELECT count(*) FROM deliveries WHERE status = 'succeeded'`)) === 300,
      {
        timeoutMs: 10_000,
        message: 'every delivery recorded',
      },
    );

    const sent = rx.requests.map((r) => `${r.path} ${String(r.headers['webhook-id'])}`);
    expect(new Set(sent).size).toBe(300);
    expect(sent).toHaveLength(300);
    const attempts = await a.store.all<{ n: number }>(
      `SELECT count(a.id) AS n FROM deliveries d LEFT JOIN delivery_attempts a ON a.delivery_id = d.id GROUP BY d.id`,
    );
    expect(attempts.every(({ n }) => n === 1)).toBe(true);
    expect(await a.store.value(`SELECT max(attempts) FROM deliveries`)).toBe(1);
  }, 60_000);

  it('holds the per-subscription and per-workspace shares across workers, not per worker', async () => {
    const rx = await receiver(hang()); // every attempt holds its slot until the test ends
    const limits = { perSubscriptionConcurrency: 4, perWorkspaceConcurrency: 6, concurrency: 100, pollIntervalMs: 50 };
    const fleet = await Promise.all([
      instance({ delivery: limits }),
      instance({ delivery: limits }),
      instance({ delivery: limits }),
    ]);
    const [a] = fleet;
    const busy = await seedWorkspace(a.ctx); // three Zaps: the workspace share (6) binds first
    const quiet = await seedWorkspace(a.ctx); // one Zap: its subscription share (4) binds
    await subscriptions(a.ctx, busy, rx, 3, 'busy');
    await subscriptions(a.ctx, quiet, rx, 1, 'quiet');
    for (let i = 0; i < 10; i++) {
      await emit(a.ctx, busy);
      await emit(a.ctx, quiet);
    }

    for (const { worker } of fleet) worker.start();
    await rx.waitFor(10, 10_000);
    // Every worker polls every 50 ms and is woken by the others' notifications: give them many looks, in
    // which nothing more may start while the ten hang.
    await new Promise((resolve) => setTimeout(resolve, 600));

    expect(rx.requests).toHaveLength(10);
    const perPath = new Map<string, number>();
    for (const r of rx.requests) perPath.set(r.path, (perPath.get(r.path) ?? 0) + 1);
    const sum = (prefix: string) =>
      [...perPath].filter(([p]) => p.includes(prefix)).reduce((total, [, n]) => total + n, 0);
    expect(sum('/busy')).toBe(6); // the workspace share, across the three workers
    expect(sum('/quiet')).toBe(4); // the subscription share
    for (const n of perPath.values()) expect(n).toBeLessThanOrEqual(4);
    expect(await claimedNow(a.store)).toBe(10);
  }, 60_000);
});

describe('recording attempts from several instances at once', () => {
  it('never deadlocks, however the batches interleave on shared subscriptions, and records every attempt', async () => {
    // The reader outlives the instances: stores[0], so afterEach still empties the tables.
    const reader = closeAfterFile(await openPgStore(url, { migrate: false, max: 1 }));
    stores.push(reader);
    const deadlocks = async () => {
      await reader.run('SELECT pg_stat_clear_snapshot()');
      return (await reader.value<number>(`SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`))!;
    };
    const deadlocksBefore = await deadlocks();
    // Every delivery's first attempt fails (500) and its second succeeds: each subscription's run of failures
    // starts and ends over and over, so every batch writes the subscription rows it touches.
    const seen = new Set<string>();
    const rx = await receiver((req) => {
      const key = `${req.path} ${String(req.headers['webhook-id'])}`;
      if (seen.has(key)) return reply(200);
      seen.add(key);
      return reply(500);
    });
    const limits = {
      concurrency: 16,
      perWorkspaceConcurrency: 48,
      perHostConcurrency: 48,
      perSubscriptionConcurrency: 8,
      retryScheduleMs: [20, 20, 20],
      pollIntervalMs: 50,
    };
    const fleet = await Promise.all([
      instance({ delivery: limits }),
      instance({ delivery: limits }),
      instance({ delivery: limits }),
    ]);
    const [a] = fleet;
    const ws = await seedWorkspace(a.ctx);
    await subscriptions(a.ctx, ws, rx, 8, 's');
    for (let i = 0; i < 60; i++) await emit(a.ctx, ws); // 480 deliveries, 960 attempts

    for (const { worker } of fleet) worker.start();
    await waitUntil(
      async () => (await a.store.value<number>(`SELECT count(*) FROM deliveries WHERE status = 'succeeded'`)) === 480,
      { timeoutMs: 60_000, message: 'every delivery succeeded' },
    );
    for (const { worker } of fleet) await worker.stop();

    expect(fleet.flatMap((i) => i.logs.filter((l) => l.level === 'error'))).toEqual([]);
    // Every request the receiver saw is an attempt on record: none was sent again for want of its record.
    const arrivals = new Map<string, number>();
    for (const r of rx.requests) {
      const key = `${r.path} ${String(r.headers['webhook-id'])}`;
      arrivals.set(key, (arrivals.get(key) ?? 0) + 1);
    }
    const recorded = await a.store.all<{ key: string; n: number }>(
      `SELECT substring(s.target_url from '/hook.*$') || ' ' || d.event_id AS key, count(t.id) AS n
         FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
         LEFT JOIN delivery_attempts t ON t.delivery_id = d.id GROUP BY 1`,
    );
    expect(new Map(recorded.map((r) => [r.key, r.n]))).toEqual(arrivals);
    expect([...arrivals.values()].every((n) => n === 2)).toBe(true);

    // And PostgreSQL broke no deadlock between them (its count is flushed when a connection ends).
    for (const { store } of fleet) await store.close();
    await waitUntil(
      async () =>
        (await reader.value<number>(
          `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
        )) === 0,
      { timeoutMs: 10_000, message: "the instances' connections ended" },
    );
    expect((await deadlocks()) - deadlocksBefore).toBe(0);
  }, 120_000);
});

describe('recording a batch in a few statements (pg-recording.ts)', () => {
  /** Claims every due row on `store`, recordBatch'es them with `result(i)` through `makeStore`, and returns
   * what that left in the tables, ids left out (so two runs on like rows compare equal). */
  async function recordAll(
    inst: Instance,
    makeStore: (db: Queryable) => DeliveryStore & { flush?: () => Promise<void> },
    result: (i: number) => SendResult,
    staleToken: boolean,
  ) {
    const { ctx, store } = inst;
    const limits = { overall: 100, perWorkspace: 100, perHost: 100, perSubscription: 100 };
    const slots = createSlots(limits);
    const claimer = createPgClaimer(store, { limits, databaseClock: true });
    const { claimed } = await claimer.claim({ nowMs: Date.now(), leaseMs: 60_000, slots, inFlight: new Set() });
    claimed.sort((x, y) => x.subscriptionId.localeCompare(y.subscriptionId) || x.eventId.localeCompare(y.eventId));
    // One attempt whose lease ran out and whose row another instance claimed since: its writes change nothing.
    if (staleToken) await store.run(`UPDATE deliveries SET claim_token = 'taken-over' WHERE id = ?`, claimed[0]!.id);
    const batch: Completion[] = claimed.map((delivery, i) => ({
      delivery,
      startedAtMs: 1_700_000_000_000 + i,
      result: result(i),
    }));
    const settings = { ...ctx.config.delivery, retryScheduleMs: [5_000] };
    await inTransaction(ctx, async (tx) => {
      const deliveries = makeStore(tx.db);
      await recordBatch(tx, deliveries, batch, [], { settings, random: () => 0.5, now: 1_700_000_001_000 });
      await deliveries.flush?.();
    });
    const rank = new Map(claimed.map((d, i) => [d.id, i]));
    const rows = await store.all<Record<string, unknown>>(
      `SELECT d.id, d.status, d.attempts, d.next_attempt_ms, d.claim_token, d.finished_at, d.last_error,
              a.attempt, a.started_at, a.duration_ms, a.status_code, a.outcome, a.error, a.response_body
         FROM deliveries d LEFT JOIN delivery_attempts a ON a.delivery_id = d.id WHERE d.id = ANY (CAST(? AS TEXT[]))`,
      claimed.map((d) => d.id),
    );
    const subscriptions = await store.all<Record<string, unknown>>(
      `SELECT failing_since_ms, last_error, active FROM subscriptions WHERE id = ANY (CAST(? AS TEXT[])) ORDER BY id`,
      [...new Set(claimed.map((d) => d.subscriptionId))],
    );
    return {
      deliveries: rows
        .sort((x, y) => rank.get(x.id as string)! - rank.get(y.id as string)!)
        // The claim set it to the lease's end, on the database's clock: compared only where a retry set it.
        .map(({ id: _id, claim_token, next_attempt_ms, ...rest }) => ({
          ...rest,
          next_attempt_ms: rest.status === 'pending' && claim_token === null ? next_attempt_ms : 'leased',
          stale: claim_token === 'taken-over',
        })),
      subscriptions,
    };
  }

  const ok = (i: number): SendResult => ({
    kind: 'response',
    status: 200,
    retryAfter: undefined,
    location: undefined,
    body: `ok ${i}`,
    durationMs: 3 + i,
  });
  const someFail = (i: number): SendResult =>
    i % 3 === 1
      ? { kind: 'response', status: 500, retryAfter: undefined, location: undefined, body: 'no', durationMs: 7 }
      : ok(i);

  it.each([
    ['every attempt succeeded', ok],
    ['some attempts failed (the batch is then written row by row)', someFail],
  ])(
    'leaves the same rows as the row-by-row store when %s',
    async (_name, result) => {
      const inst = await instance();
      const rows = [];
      for (const makeStore of [deliveryStore, createPgBatchStore]) {
        const ws = await seedWorkspace(inst.ctx);
        const subs = await times(2, (i) => subscribe(inst.ctx, ws, `https://hooks.example.com/${i}`));
        // Both were failing: a success in the batch ends their run.
        await inst.store.run(
          `UPDATE subscriptions SET failing_since_ms = 1700000000500, last_error = 'was down' WHERE workspace_id = ?`,
          ws.workspaceId,
        );
        for (let i = 0; i < 4; i++) await emit(inst.ctx, ws);
        expect(subs).toHaveLength(2);
        rows.push(await recordAll(inst, makeStore, result, true));
        await inst.store.run(`UPDATE deliveries SET status = 'cancelled' WHERE status = 'pending'`); // out of the next claim
      }
      const [rowByRow, batched] = rows;
      expect(batched!.deliveries).toHaveLength(8);
      expect(batched).toEqual(rowByRow);
    },
    30_000,
  );
});

describe('an attempt whose record is slow to commit', () => {
  it('is not sent again by its own instance when its lease runs out before the record has committed', async () => {
    const clock = testClock(Date.now()); // its leases follow this clock (pg-claimer.ts, databaseClock)
    const settings = { timeoutMs: 1000, claimMarginMs: 1000, retryScheduleMs: [3_600_000], pollIntervalMs: 60_000 };
    const a = await instance({ clock, delivery: settings });
    const rx = await receiver(reply(500)); // a failure: its record writes the subscription's run of failures
    const ws = await seedWorkspace(a.ctx);
    const sub = await subscribe(a.ctx, ws, `${rx.url}/slow`);
    await emit(a.ctx, ws);

    // Another session holds the subscription's row: the record (subscription rows first, recording.ts) waits.
    const blocker = await a.store.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('UPDATE subscriptions SET active = active WHERE id = $1', [sub.id]);
      a.worker.start();
      await rx.waitFor(1, 10_000);
      await waitUntil(
        async () =>
          ((await a.store.value<number>(
            `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid
              WHERE NOT l.granted AND s.datname = current_database()`,
          )) ?? 0) > 0,
        { timeoutMs: 10_000, message: 'the record waiting for the row' },
      );
      // The lease runs out while the record waits; the instance is woken again and again.
      clock.advance(settings.timeoutMs + settings.claimMarginMs + 1000);
      for (let i = 0; i < 5; i++) {
        a.ctx.signal.notify();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(rx.requests.length).toBe(1);
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }

    // The record commits: one attempt, on record, its retry an hour away; nothing else was sent.
    await a.worker.idle();
    const [delivery] = await a.store.all<{ status: string; attempts: number; recorded: number }>(
      `SELECT d.status, d.attempts, (SELECT count(*) FROM delivery_attempts t WHERE t.delivery_id = d.id) AS recorded
         FROM deliveries d`,
    );
    expect(delivery).toEqual({ status: 'pending', attempts: 1, recorded: 1 });
    expect(rx.requests.length).toBe(1);
  }, 60_000);
});

describe('a large backlog', () => {
  it("reaches work behind one blocked subscription's backlog longer than a claim reads at once", async () => {
    const rx = await receiver(hang());
    const a = await instance({ delivery: { perSubscriptionConcurrency: 4, pollIntervalMs: 50 } });
    const ws = await seedWorkspace(a.ctx);
    const [slow] = await subscriptions(a.ctx, ws, rx, 1, 'slow');
    await emit(a.ctx, ws);
    // 2,000 more rows for the hanging subscription, all due long before anything else: a head of the due
    // order that its share (4) blocks, several times longer than one window of the claim.
    await dueBacklog(a.store, ws, slow!.id, 2000, 'bulk');
    const [other] = await subscriptions(a.ctx, ws, rx, 1, 'other');
    await emit(a.ctx, ws);
    // Another subscription's retry, due in the middle of that backlog: neither at its head nor among the
    // newest due rows, so only the claim's walk through the due order reaches it.
    await a.store.run(`UPDATE deliveries SET next_attempt_ms = 1000 WHERE subscription_id = ?`, other!.id);

    a.worker.start();
    await waitUntil(() => rx.requests.some((r) => r.path.endsWith('/other0')), {
      timeoutMs: 10_000,
      message: 'the other subscription served',
    });
    expect(rx.requests.filter((r) => r.path.endsWith('/slow0')).length).toBe(4);
  });
});

describe('whether a claim may find more (ClaimResult.more)', () => {
  const limits = { overall: 10, perWorkspace: 100, perHost: 100, perSubscription: 4 };
  /** The file's tests share one database: what earlier ones left pending must not be claimed here. */
  const nothingPending = (store: PgStore) =>
    store.run(`UPDATE deliveries SET status = 'cancelled' WHERE status = 'pending'`);
  const claimWith = (store: PgStore) => {
    const claimer = createPgClaimer(store, { limits, databaseClock: true });
    return () => claimer.claim({ nowMs: Date.now(), leaseMs: 60_000, slots: createSlots(limits), inFlight: new Set() });
  };

  it('is no when the claim read every due row, so the worker ends its pump without a claim that finds nothing', async () => {
    const rx = await receiver();
    const a = await instance();
    await nothingPending(a.store);
    const ws = await seedWorkspace(a.ctx);
    await subscriptions(a.ctx, ws, rx, 3, 's');
    await emit(a.ctx, ws); // 3 deliveries, one per subscription
    const result = await claimWith(a.store)();
    expect(result.claimed).toHaveLength(3);
    expect(result.more).toBe(false);
  });

  it('is yes while the claim stopped reading short of the due rows, and no once it has read them all', async () => {
    const rx = await receiver();
    const a = await instance();
    await nothingPending(a.store);
    const ws = await seedWorkspace(a.ctx);
    const [one] = await subscriptions(a.ctx, ws, rx, 1, 'one');
    await emit(a.ctx, ws);
    // 2,100 due rows for the one subscription: more than a claim reads at once (SCAN_ROWS, 2,048).
    await dueBacklog(a.store, ws, one!.id, 2100, 'more');
    const claim = claimWith(a.store);
    const first = await claim();
    expect(first.claimed).toHaveLength(4); // the subscription's share, less than the room (10)
    expect(first.more).toBe(true);
    const second = await claim(); // reads on after the first's window: the share is full, nothing to take
    expect(second.claimed).toHaveLength(0);
    expect(second.more).toBe(false);
  });
});

describe("a batch's authority check in one statement (pg-authority.ts)", () => {
  it('refuses exactly as the per-subscription check does: a revoked key, a plan below Pro, an inactive or missing subscription', async () => {
    const rx = await receiver();
    const a = await instance();
    const ok = await seedWorkspace(a.ctx);
    const free = await seedWorkspace(a.ctx);
    await a.store.run(`UPDATE workspaces SET plan = 'free' WHERE id = ?`, free.workspaceId);
    const revoked = await seedWorkspace(a.ctx);
    await a.store.run(`UPDATE api_keys SET revoked_at = ? WHERE id = ?`, isoAt(Date.now()), revoked.apiKeyId);
    const [allowed, inactive] = await subscriptions(a.ctx, ok, rx, 2, 'ok');
    await a.store.run(`UPDATE subscriptions SET active = 0 WHERE id = ?`, inactive!.id);
    const [onFree] = await subscriptions(a.ctx, free, rx, 1, 'free');
    const [onRevoked] = await subscriptions(a.ctx, revoked, rx, 1, 'revoked');
    const ids = [allowed!.id, inactive!.id, onFree!.id, onRevoked!.id, 'sub_missing'];

    const batch = await pgRefusals(a.store, ids);
    const oneByOne = createAuthorityCheck(a.store);
    for (const id of ids) expect(batch.get(id)).toEqual(await oneByOne.refusal(id));
    expect(ids.map((id) => batch.get(id)?.kind ?? 'allowed')).toEqual([
      'allowed',
      'inactive',
      'plan',
      'key_revoked',
      'inactive',
    ]);
  });
});

describe("the committing instance's own worker", () => {
  it('is woken once the write has committed, without waiting for a poll', async () => {
    const rx = await receiver();
    const a = await instance(); // polls once a minute
    const b = await instance(); // polls once a minute
    const ws = await seedWorkspace(a.ctx);
    await subscriptions(a.ctx, ws, rx, 1, 's');
    a.worker.start();
    b.worker.start();
    await listeners(a.store, 2);
    await a.worker.runOnce();
    await b.worker.runOnce();

    // The event is recorded first and the transaction commits 300 ms later: a worker (this instance's or,
    // told by NOTIFY, another's) that looked when the event was recorded would find nothing and sleep a minute.
    const createdAt = isoAt(Date.now());
    const eventId = newId('evt');
    const payload = { ...fixtureFor('ticket.created'), id: eventId, createdAt, workspaceId: ws.workspaceId };
    await inTransaction(a.ctx, async (tx) => {
      await recordEvent(tx, {
        id: eventId,
        workspaceId: ws.workspaceId,
        type: 'ticket.created',
        assistantId: null,
        createdAt,
        payload,
      });
      await tx.db.value(`SELECT pg_sleep(0.3)`);
    });
    await rx.waitFor(1, 10_000);
  });
});

/** A worker in a process of its own on the database, on the system clock (leases on the database's clock). */
function childWorker(timeoutMs: number, claimMarginMs: number): ChildProcess {
  const root = path.join(__dirname, '..', '..');
  const script = `
    const { openPgStore } = require('./partner-api/db/pg-store');
    const { loadConfig } = require('./partner-api/config');
    const { createAppContext } = require('./partner-api/context');
    const { createDeliveryWorker } = require('./partner-api/delivery/worker');
    (async () => {
      const store = await openPgStore(${JSON.stringify(url)}, { migrate: false, max: 2 });
      const base = loadConfig({ ILLUMICHAT_NO_DEMO: '1', ILLUMICHAT_LOG: 'silent' });
      const config = loadConfig({ ILLUMICHAT_NO_DEMO: '1', ILLUMICHAT_LOG: 'silent' }, {
        allowPrivateTargets: true,
        delivery: { ...base.delivery, timeoutMs: ${timeoutMs}, claimMarginMs: ${claimMarginMs}, pollIntervalMs: 50 },
      });
      createDeliveryWorker(createAppContext({ store, config })).start();
    })();`;
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
    cwd: root,
    stdio: 'ignore',
  });
  children.push(child);
  return child;
}

describe('a dead instance', () => {
  it("has its claims taken over by another after the lease, by the database's clock", async () => {
    // The receiver hangs for the first instance's attempts, then answers.
    let answering = false;
    const rx = await receiver(() => (answering ? reply(200) : hang()));
    const a = await instance();
    const ws = await seedWorkspace(a.ctx);
    await subscriptions(a.ctx, ws, rx, 2, 's');
    for (let i = 0; i < 3; i++) await emit(a.ctx, ws); // 6 deliveries

    const child = childWorker(3_000, 500); // a lease of 3.5 s
    await rx.waitFor(6, 30_000); // the child process claimed all six and is sending them
    const leases = await a.store.all<{ id: string; leaseEndMs: number; attempts: number }>(
      `SELECT id, next_attempt_ms AS "leaseEndMs", attempts FROM deliveries`,
    );
    expect(leases.every((l) => l.attempts === 1)).toBe(true);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));

    answering = true;
    const b = await instance({ delivery: { pollIntervalMs: 50 } });
    b.worker.start();
    await rx.waitFor(12, 20_000);
    const latest = Math.max(...leases.map((l) => l.leaseEndMs));
    const retaken = rx.requests.slice(6);
    // Not one before its lease ended (the receiver's clock is this machine's, as the database's is here)…
    for (const r of retaken)
      expect(r.receivedAt).toBeGreaterThanOrEqual(Math.min(...leases.map((l) => l.leaseEndMs)) - 5);
    // …each sent again with the same webhook-id, and recorded as the second attempt.
    expect(new Set(retaken.map((r) => `${r.path} ${String(r.headers['webhook-id'])}`))).toEqual(
      new Set(rx.requests.slice(0, 6).map((r) => `${r.path} ${String(r.headers['webhook-id'])}`)),
    );
    await waitUntil(
      async () => (await a.store.value<number>(`SELECT count(*) FROM deliveries WHERE status = 'succeeded'`)) === 6,
    );
    expect(await a.store.value(`SELECT min(attempts) FROM deliveries`)).toBe(2);
    expect(latest).toBeGreaterThan(0);
  }, 90_000);

  it("sets the lease by the database's clock even when the process's clock is an hour off", async () => {
    const rx = await receiver(hang());
    const a = await instance();
    const ws = await seedWorkspace(a.ctx);
    await subscriptions(a.ctx, ws, rx, 1, 's');
    await emit(a.ctx, ws);

    const claimer = createPgClaimer(a.store, {
      limits: { overall: 10, perWorkspace: 10, perHost: 10, perSubscription: 10 },
      databaseClock: true,
    });
    const skewedNowMs = Date.now() + 3_600_000;
    const before = await databaseNowMs(a.store);
    const { claimed } = await claimer.claim({
      nowMs: skewedNowMs,
      leaseMs: 5_000,
      slots: createSlots({ overall: 10, perWorkspace: 10, perHost: 10, perSubscription: 10 }),
      inFlight: new Set(),
    });
    const after = await databaseNowMs(a.store);
    expect(claimed).toHaveLength(1);
    const row = (await a.store.one<{ leaseEndMs: number; claimedAtMs: number }>(
      `SELECT next_attempt_ms AS "leaseEndMs", claimed_at_ms AS "claimedAtMs" FROM deliveries`,
    ))!;
    expect(row.claimedAtMs).toBeGreaterThanOrEqual(before);
    expect(row.claimedAtMs).toBeLessThanOrEqual(after);
    expect(row.leaseEndMs).toBe(row.claimedAtMs + 5_000);
  });
});

describe('wake-ups between instances', () => {
  it("an event committed on one instance wakes another's worker through NOTIFY", async () => {
    const rx = await receiver();
    // `a` commits the event and announces it, but has no slot to send it itself; `b` polls once a minute.
    const a = await instance({ delivery: { concurrency: 0 } });
    const b = await instance();
    const ws = await seedWorkspace(a.ctx);
    await subscriptions(a.ctx, ws, rx, 1, 's');
    a.worker.start();
    b.worker.start();
    await listeners(a.store, 2);
    await b.worker.runOnce(); // b's first look is over: from here only a wake-up brings it back before a minute

    await emit(a.ctx, ws);
    await rx.waitFor(1, 10_000); // well inside b's poll; the bound, not a timing
    await waitUntil(
      async () => (await a.store.value(`SELECT count(*) FROM deliveries WHERE status = 'succeeded'`)) === 1,
    );
  });

  it('the poll finds work whose notification never came', async () => {
    const rx = await receiver();
    const a = await instance(); // no worker running: nothing announces the event
    const b = await instance({ delivery: { pollIntervalMs: 100 } });
    const ws = await seedWorkspace(a.ctx);
    await subscriptions(a.ctx, ws, rx, 1, 's');
    b.worker.start();
    await listeners(a.store, 1);
    await b.worker.runOnce(); // b's first look is over: the poll brings it back

    await emit(a.ctx, ws);
    await rx.waitFor(1, 10_000);
  });

  it('looks for work again when its listening connection was lost and made again', async () => {
    const rx = await receiver();
    const a = await instance(); // no worker: no notification
    const b = await instance(); // polls once a minute
    const ws = await seedWorkspace(a.ctx);
    await subscriptions(a.ctx, ws, rx, 1, 's');
    b.worker.start();
    await listeners(a.store, 1);
    await b.worker.runOnce(); // b's first look is over
    await emit(a.ctx, ws);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(rx.requests).toHaveLength(0); // nothing told b

    await a.store.run(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`,
    );
    await rx.waitFor(1, 10_000); // b's listener came back, and b looked
  });

  it('sends its NOTIFY on the delivery channel after the commit, never inside the write', async () => {
    const a = await instance();
    const b = await instance();
    const rx = await receiver();
    const ws = await seedWorkspace(a.ctx);
    await subscriptions(a.ctx, ws, rx, 1, 's');
    const heard: { payload: string | null; committed: number }[] = [];
    const unlisten = await b.store.listen(DELIVERY_CHANNEL, (payload) => {
      // When the notification arrives, the event it announces is already visible to another connection.
      void b.store
        .value<number>(`SELECT count(*) FROM events`)
        .then((committed) => heard.push({ payload, committed: committed ?? 0 }));
    });
    a.worker.start();
    await emit(a.ctx, ws);
    await waitUntil(() => heard.length > 0, { timeoutMs: 5000, message: 'a notification' });
    expect(heard[0]).toEqual({ payload: '', committed: 1 });
    await unlisten();
  });
});

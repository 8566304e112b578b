/**
 * Retention (partner-api/db/retention.ts): what is deleted, what never is, batches and their budget, and the
 * server running it on its own, on the run's engine; on SQLite also that a file under a steady insert-and-prune
 * load stops growing and gives pages back (page counts, not timing).
 */
import fs from 'node:fs';
import path from 'node:path';

import Database from 'better-sqlite3';

import { loadConfig } from '../../partner-api/config';
import { type AppContext, createAppContext } from '../../partner-api/context';
import { openDatabase } from '../../partner-api/db/open';
import {
  convertToIncrementalVacuum,
  newCursor,
  pruneBatch,
  type RetentionCursor,
  type RetentionSettings,
} from '../../partner-api/db/retention';
import { sqliteHandle, SqliteStore } from '../../partner-api/db/sqlite-store';
import type { Queryable, Store, Tx } from '../../partner-api/db/store';
import { SAMPLES_LIMIT_MAX, samplesFor } from '../../partner-api/domain/samples';
import { isoAt } from '../../partner-api/lib/clock';
import { startServer } from '../../partner-api/server';
import { waitUntil } from '../support/api-server';
import { testClock } from '../support/helpers';
import { at } from '../support/items';
import { PG_SETUP_TIMEOUT_MS } from '../support/pg';
import { databaseEnv, describeEngine, newTestDatabase, openTestStore } from '../support/test-store';

const DAY = 24 * 3_600_000;
const NOW = Date.parse('2026-06-01T00:00:00.000Z');

const SETTINGS: RetentionSettings = {
  eventsMs: 30 * DAY,
  deliveriesMs: 7 * DAY,
  batchSize: 50,
  batchBudgetMs: Number.POSITIVE_INFINITY, // batches bounded by rows only, unless a test says otherwise
  intervalMs: 0,
  idleMs: 0,
  freePagesKept: 64,
  vacuumPagesPerBatch: 256,
  claimHeldMs: 60_000,
};

let location: string;
let store: Store;
let ctx: AppContext;
let n = 0;

/** A new database on the run's engine with two workspaces, two assistants, a key and a subscription. */
beforeEach(async () => {
  location = await newTestDatabase();
  store = await openTestStore({ at: location, openSqlite: (file) => new SqliteStore(openDatabase(file)) });
  ctx = createAppContext({ store, config: loadConfig({}), clock: testClock(NOW) });
  await store.write(async (tx) => {
    await tx.run(
      `INSERT INTO workspaces (id, name, plan, created_at) VALUES ('ws_a', 'A', 'pro', '2026-01-01T00:00:00.000Z'), ('ws_b', 'B', 'pro', '2026-01-01T00:00:00.000Z')`,
    );
    await tx.run(
      `INSERT INTO assistants (id, workspace_id, name, created_at) VALUES ('ast_1', 'ws_a', 'One', '2026-01-01T00:00:00.000Z'), ('ast_2', 'ws_a', 'Two', '2026-01-01T00:00:00.000Z')`,
    );
    await tx.run(
      `INSERT INTO api_keys (id, workspace_id, name, prefix, secret_hash, scopes, created_at) VALUES ('key_1', 'ws_a', 'k', 'p', 'h', 'events:read', '2026-01-01T00:00:00.000Z')`,
    );
    await tx.run(`INSERT INTO subscriptions (id, workspace_id, api_key_id, event_type, target_url, secret, created_at)
        VALUES ('sub_1', 'ws_a', 'key_1', 'ticket.created', 'https://hooks.example.com/1', 'whsec_x', '2026-01-01T00:00:00.000Z')`);
  });
}, PG_SETUP_TIMEOUT_MS);
afterEach(async () => {
  if (store.open) await store.close();
});

interface Made {
  eventId: string;
  deliveryId: string | null;
}

/** An event created at `atMs`, with a delivery in `status` and one attempt when status is given; on `db` (a transaction to batch many). */
async function event(
  db: Queryable,
  atMs: number,
  opts: { workspace?: string; type?: string; assistant?: string | null; status?: string; payloadBytes?: number } = {},
): Promise<Made> {
  n += 1;
  const eventId = `evt_${n}`;
  const createdAt = isoAt(atMs);
  await db.run(
    `INSERT INTO events (id, workspace_id, type, assistant_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
    eventId,
    opts.workspace ?? 'ws_a',
    opts.type ?? 'ticket.created',
    opts.assistant === undefined ? 'ast_1' : opts.assistant,
    JSON.stringify({ n, pad: 'x'.repeat(opts.payloadBytes ?? 10) }),
    createdAt,
  );
  if (!opts.status) return { eventId, deliveryId: null };
  const deliveryId = `dlv_${n}`;
  await db.run(
    `INSERT INTO deliveries (id, event_id, subscription_id, status, attempts, next_attempt_ms, created_at) VALUES (?, ?, 'sub_1', ?, 1, ?, ?)`,
    deliveryId,
    eventId,
    opts.status,
    atMs,
    createdAt,
  );
  await db.run(
    `INSERT INTO delivery_attempts (id, delivery_id, attempt, started_at, duration_ms, status_code, outcome, response_body) VALUES (?, ?, 1, ?, 5, 200, 'succeeded', ?)`,
    `att_${n}`,
    deliveryId,
    createdAt,
    'y'.repeat(opts.payloadBytes ?? 10),
  );
  return { eventId, deliveryId };
}

/** `count` events, event(i) the options of the i-th, in one transaction; in creation order. */
async function events(
  count: number,
  each: (i: number) => [atMs: number, opts?: Parameters<typeof event>[2]],
): Promise<Made[]> {
  return await store.write(async (tx) => {
    const made: Made[] = [];
    for (let i = 0; i < count; i++) made.push(await event(tx, ...each(i)));
    return made;
  });
}

/** Runs batches until a pass is done; returns the totals. */
async function prunePass(nowMs: number, settings = SETTINGS, cursor: RetentionCursor = newCursor()) {
  const total = { deliveries: 0, attempts: 0, events: 0, pagesFreed: 0, batches: 0 };
  for (;;) {
    const r = await pruneBatch(store, nowMs, settings, cursor);
    total.deliveries += r.deliveries;
    total.attempts += r.attempts;
    total.events += r.events;
    total.pagesFreed += r.pagesFreed;
    total.batches += 1;
    if (r.passDone) return total;
    if (total.batches > 100_000) throw new Error('the pass never ended');
  }
}

const exists = async (table: string, id: string) =>
  (await store.one(`SELECT 1 FROM ${table} WHERE id = ?`, id)) !== null;
const attemptsOf = async (deliveryId: string | null) =>
  await store.value<number>('SELECT count(*) FROM delivery_attempts WHERE delivery_id = ?', deliveryId);

describe('retention', () => {
  it('deletes finished deliveries and their attempts past their retention, and old events without deliveries', async () => {
    // Padding so that there are always more than SAMPLES_LIMIT_MAX newer events of the same kind.
    const old = await events(3, (i) => [NOW - 40 * DAY, { status: at(['succeeded', 'failed', 'cancelled'], i) }]);
    const oldBare = await event(store, NOW - 40 * DAY);
    const weekOld = await event(store, NOW - 8 * DAY, { status: 'succeeded' });
    await events(SAMPLES_LIMIT_MAX, () => [NOW - DAY]);
    const young = await event(store, NOW - 6 * DAY, { status: 'succeeded' });
    await event(store, NOW, { status: 'succeeded' }); // the newest delivery row, never deleted (rowid reuse)

    const pass = await prunePass(NOW);

    for (const made of [...old, weekOld]) {
      expect(await exists('deliveries', made.deliveryId!)).toBe(false);
      expect(await attemptsOf(made.deliveryId)).toBe(0);
    }
    for (const made of [...old, oldBare]) expect(await exists('events', made.eventId)).toBe(false);
    // Its delivery is past 7 days, the event not past 30: the event stays.
    expect(await exists('events', weekOld.eventId)).toBe(true);
    expect(await exists('deliveries', young.deliveryId!)).toBe(true);
    expect(await exists('events', young.eventId)).toBe(true);
    expect(pass).toMatchObject({ deliveries: 4, attempts: 4, events: 4 });
  });

  it('never deletes a pending or retrying delivery, nor its event, however old', async () => {
    const pending = await event(store, NOW - 90 * DAY, { status: 'pending' });
    await store.run(`UPDATE deliveries SET attempts = 5, last_error = 'HTTP 500' WHERE id = ?`, pending.deliveryId);
    await events(3 * SAMPLES_LIMIT_MAX, (i) => [NOW - 60 * DAY + i, { status: 'succeeded' }]);
    await event(store, NOW, { status: 'succeeded' });

    await prunePass(NOW);
    await prunePass(NOW); // a second pass meets it again and still keeps it

    expect(await exists('deliveries', pending.deliveryId!)).toBe(true);
    expect(await attemptsOf(pending.deliveryId)).toBe(1);
    expect(await exists('events', pending.eventId)).toBe(true);
  });

  it('never deletes a finished delivery a replay holds, nor its attempts and event, until the claim is stale', async () => {
    const replayed = await event(store, NOW - 40 * DAY, { status: 'failed' });
    const abandoned = await event(store, NOW - 40 * DAY, { status: 'failed' });
    await events(SAMPLES_LIMIT_MAX, () => [NOW - DAY]);
    await event(store, NOW, { status: 'succeeded' });
    // As delivery/replay.ts claims a finished delivery before it sends it again: one now, one by a process
    // that died longer ago than a replay can take.
    const claim = `UPDATE deliveries SET claim_token = 'replay', claimed_at_ms = ? WHERE id = ?`;
    await store.run(claim, NOW - 1_000, replayed.deliveryId);
    await store.run(claim, NOW - SETTINGS.claimHeldMs - 1, abandoned.deliveryId);

    const pass = await prunePass(NOW);

    expect(await exists('deliveries', replayed.deliveryId!)).toBe(true);
    expect(await attemptsOf(replayed.deliveryId)).toBe(1);
    expect(await exists('events', replayed.eventId)).toBe(true);
    expect(await exists('deliveries', abandoned.deliveryId!)).toBe(false);
    expect(await exists('events', abandoned.eventId)).toBe(false);
    expect(pass).toMatchObject({ deliveries: 1, attempts: 1, events: 1 });
  });

  it('keeps the newest events every Test trigger shows: per workspace and type, and per assistant filter', async () => {
    // All old. ws_a ticket.created: 25 from ast_1, then 3 from ast_2, then 2 with no assistant; ws_b: 2.
    const fromOne = await events(25, (i) => [NOW - 100 * DAY + i, { assistant: 'ast_1' }]);
    const fromTwo = await events(3, (i) => [NOW - 90 * DAY + i, { assistant: 'ast_2' }]);
    const noAssistant = await events(2, (i) => [NOW - 80 * DAY + i, { assistant: null }]);
    const otherType = await events(12, (i) => [NOW - 80 * DAY + i, { type: 'lead.captured', assistant: 'ast_2' }]);
    const otherWorkspace = await events(2, (i) => [NOW - 80 * DAY + i, { workspace: 'ws_b', assistant: null }]);
    const before = (filter: { type?: 'ticket.created' | 'lead.captured'; workspace?: string; assistant?: string }) =>
      samplesFor(ctx, filter.workspace ?? 'ws_a', {
        eventType: filter.type ?? 'ticket.created',
        assistantId: filter.assistant,
        limit: SAMPLES_LIMIT_MAX,
      });
    const filters = [
      {},
      { assistant: 'ast_1' },
      { assistant: 'ast_2' },
      { type: 'lead.captured' as const },
      { type: 'lead.captured' as const, assistant: 'ast_2' },
      { workspace: 'ws_b' },
    ];
    const shown = await Promise.all(filters.map((f) => before(f)));

    await prunePass(NOW);

    // Every Test trigger shows exactly what it showed before.
    expect(await Promise.all(filters.map((f) => before(f)))).toEqual(shown);
    expect(shown.every((s) => s.source === 'live')).toBe(true);
    // The rest went: ast_1's 15 oldest (its newest 10 are ast_1's samples; none is among the unfiltered
    // newest 10, which are ast_2's 3, the 2 without assistant and ast_1's newest 5), and lead.captured's 2 oldest.
    const kept = async (made: Made[]) => {
      let count = 0;
      for (const m of made) if (await exists('events', m.eventId)) count += 1;
      return count;
    };
    expect(await kept(fromOne)).toBe(SAMPLES_LIMIT_MAX);
    expect(await kept(fromTwo)).toBe(3);
    expect(await kept(noAssistant)).toBe(2);
    expect(await kept(otherType)).toBe(SAMPLES_LIMIT_MAX);
    expect(await kept(otherWorkspace)).toBe(2);
  });

  it('reads at most batchSize rows per batch, and finishes a pass over many rows', async () => {
    await events(500, (i) => [NOW - 50 * DAY + i, { status: 'succeeded' }]);
    await event(store, NOW, { status: 'succeeded' });
    const cursor = newCursor();
    const first = await pruneBatch(store, NOW, SETTINGS, cursor);
    expect(first.deliveries).toBe(SETTINGS.batchSize);
    expect(first.events).toBe(0); // deliveries first; events once their walk is done
    const pass = await prunePass(NOW, SETTINGS, cursor);
    expect(pass.deliveries + first.deliveries).toBe(500);
    expect(pass.events).toBe(501 - SAMPLES_LIMIT_MAX); // the newest 10 of all 501 stay, the young one among them
    expect(pass.batches).toBeGreaterThanOrEqual((2 * 500) / SETTINGS.batchSize - 1);
  });

  it('stops a batch once its time budget is spent, after the row at hand, and the next batch resumes there', async () => {
    await events(30, (i) => [NOW - 50 * DAY + i, { status: 'succeeded' }]);
    await event(store, NOW, { status: 'succeeded' });
    // Spent before the first row: each batch deletes exactly one row and stops.
    const spent = { ...SETTINGS, batchBudgetMs: -1 };
    const cursor = newCursor();
    const first = await pruneBatch(store, NOW, spent, cursor);
    expect([first.deliveries, first.attempts, first.passDone]).toEqual([1, 1, false]);
    const pass = await prunePass(NOW, spent, cursor);
    // Nothing skipped, nothing deleted twice: the same result as unbounded batches.
    expect(pass.deliveries + first.deliveries).toBe(30);
    expect(pass.events).toBe(31 - SAMPLES_LIMIT_MAX);
    expect(pass.batches).toBeGreaterThanOrEqual(30 + 31 - SAMPLES_LIMIT_MAX - 1);
  });

  it('the server runs retention on its own, and logs each pass that deleted something', async () => {
    const now = Date.now();
    const old = await event(store, now - 10 * DAY, { status: 'succeeded' });
    await events(SAMPLES_LIMIT_MAX, (i) => [now - 2 * DAY + i]);
    await event(store, now, { status: 'succeeded' });
    await store.close();
    const logged: { message: string; fields?: Record<string, unknown> | undefined }[] = [];
    const log = {
      info: (message: string, fields?: Record<string, unknown>) => logged.push({ message, fields }),
      error: () => {},
    };
    const config = loadConfig(databaseEnv(location), { port: 0, seedDemo: false, log: 'silent' });
    const running = await startServer(
      { ...config, retention: { ...config.retention, eventsMs: DAY, intervalMs: 1 } },
      log,
    );
    try {
      const pass = await waitUntil(
        () => logged.find((l) => l.message === 'retention pass'),
        10_000,
        'a retention pass',
      );
      // Events past a day: the old one and the 10 two days old; the newest 10 of all 12 are samples.
      expect(pass.fields).toMatchObject({ deliveries: 1, attempts: 1, events: 2 });
      expect(await running.ctx.db.value('SELECT count(*) FROM events WHERE id = ?', old.eventId)).toBe(0);
    } finally {
      await running.stop();
    }
  });
});

describeEngine(
  'postgres',
  "a write from another connection between retention's read and its delete: SQLite's one writer lets none in",
  'retention beside concurrent writers',
  () => {
    it('keeps a delivery a replay claimed after the batch read it as finished', async () => {
      const target = await event(store, NOW - 40 * DAY, { status: 'succeeded' });
      await events(SAMPLES_LIMIT_MAX, () => [NOW - DAY]);
      await event(store, NOW, { status: 'succeeded' });
      // Right after the batch has read its deliveries (and before it deletes any), a replay on another
      // connection claims the old one and commits, as delivery/replay.ts's claimForReplay does.
      let claimed = -1;
      const claimBetween = async () => {
        claimed = (
          await store.run(
            `UPDATE deliveries SET claim_token = 'replay', claimed_at_ms = ? WHERE id = ? AND status != 'pending' AND claim_token IS NULL`,
            NOW,
            target.deliveryId,
          )
        ).changes;
      };
      const interleaved = interleaveAfterRead(store, /FROM deliveries WHERE rowid > \?/, claimBetween);

      const pass = await pruneBatch(interleaved, NOW, SETTINGS, newCursor());

      expect(claimed).toBe(1); // the claim did land between the read and the deletes
      expect(await exists('deliveries', target.deliveryId!)).toBe(true);
      expect(await attemptsOf(target.deliveryId)).toBe(1);
      expect(pass.deliveries).toBe(0);
    });
  },
);

/**
 * `target`, whose write transactions run `between` (awaited, on the store itself: another connection) once,
 * right after the first statement matching `read` has returned its rows.
 */
function interleaveAfterRead(target: Store, read: RegExp, between: () => Promise<void>): Queryable {
  let done = false;
  const wrapTx = (tx: Tx): Tx =>
    new Proxy(tx, {
      get(on, key, receiver) {
        if (key !== 'all') return Reflect.get(on, key, receiver) as unknown;
        return async (text: string, ...params: unknown[]) => {
          const rows = await on.all(text, ...params);
          if (!done && read.test(text)) {
            done = true;
            await between();
          }
          return rows;
        };
      },
    });
  return new Proxy(target, {
    get(on, key, receiver) {
      if (key !== 'write') return Reflect.get(on, key, receiver) as unknown;
      return async <T>(fn: (tx: Tx) => Promise<T>) => await on.write(async (tx) => await fn(wrapTx(tx)));
    },
  });
}

describeEngine(
  'sqlite',
  "page counts, free pages and incremental vacuum are SQLite's file",
  'retention and the file',
  () => {
    it('levels the file off under a steady insert-and-prune load, and gives pages back', async () => {
      const db = sqliteHandle(store);
      // Each simulated day: 300 events with a succeeded delivery and attempt (~1.5 KB each), then one pass.
      // Retention 3 days for everything: from day 4 on, as much is deleted as is added.
      const settings = { ...SETTINGS, eventsMs: 3 * DAY, deliveriesMs: 3 * DAY, batchSize: 200 };
      const pages: number[] = [];
      let day = 0;
      const runDay = async (prune: boolean) => {
        day += 1;
        const start = NOW + day * DAY;
        await events(300, (i) => [start + i * 1000, { status: 'succeeded', payloadBytes: 600 }]);
        if (prune) await prunePass(start + DAY - 1, settings);
        db.pragma('wal_checkpoint(TRUNCATE)');
        pages.push(db.pragma('page_count', { simple: true }) as number);
      };
      for (let i = 0; i < 20; i++) await runDay(true);

      const level = at(pages, 5); // day 6: three days of rows, the steady state
      const last = pages.slice(10);
      expect(Math.max(...last)).toBeLessThanOrEqual(level * 1.1);
      expect(Math.min(...last)).toBeGreaterThanOrEqual(level * 0.8);
      // What is free beyond the kept slack is given back: the file holds little besides live rows.
      expect(db.pragma('freelist_count', { simple: true })).toBeLessThanOrEqual(
        settings.freePagesKept + settings.vacuumPagesPerBatch,
      );
      expect(fs.statSync(db.name).size).toBe(last.at(-1)! * 4096);

      // The same load without retention keeps growing: the assertion above is not one that cannot fail.
      for (let i = 0; i < 10; i++) await runDay(false);
      expect(at(pages, -1)).toBeGreaterThan(level * 2);
    });

    it('converts a file made before incremental vacuum at start when it is small enough, and only logs when not', () => {
      const file = path.join(path.dirname(location), 'old.db');
      const raw = new Database(file);
      raw.pragma('journal_mode = WAL'); // an existing file: WAL set before auto_vacuum, as every file made so far
      raw.close();
      const old = openDatabase(file);
      expect(old.pragma('auto_vacuum', { simple: true })).toBe(0);
      const logged: string[] = [];
      const log = { info: (m: string) => logged.push(`info ${m}`), error: (m: string) => logged.push(`error ${m}`) };

      expect(convertToIncrementalVacuum(old, log, 0)).toBe('too_large');
      expect(old.pragma('auto_vacuum', { simple: true })).toBe(0);
      expect(logged).toEqual([
        'error database file not converted to incremental vacuum: too large to rewrite at start',
      ]);

      expect(convertToIncrementalVacuum(old, log, 1024 * 1024 * 1024)).toBe('converted');
      expect(old.pragma('auto_vacuum', { simple: true })).toBe(2);
      expect(convertToIncrementalVacuum(old, log, 0)).toBe('already');
      old.close();
      // A new file is incremental from its first table.
      expect(sqliteHandle(store).pragma('auto_vacuum', { simple: true })).toBe(2);
    });
  },
);

/**
 * Retention (partner-api/db/retention.ts): what is deleted, what never is, and that a file under a steady
 * insert-and-prune load stops growing (page counts, not timing).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import Database from 'better-sqlite3';

import { loadConfig } from '../../partner-api/config';
import { type AppContext, createAppContext } from '../../partner-api/context';
import { type Db, openDatabase } from '../../partner-api/db/open';
import {
  convertToIncrementalVacuum,
  newCursor,
  pruneBatch,
  type RetentionCursor,
  type RetentionSettings,
} from '../../partner-api/db/retention';
import { SqliteStore } from '../../partner-api/db/sqlite-store';
import { SAMPLES_LIMIT_MAX, samplesFor } from '../../partner-api/domain/samples';
import { isoAt } from '../../partner-api/lib/clock';
import { startServer } from '../../partner-api/server';
import { waitUntil } from '../support/api-server';
import { testClock } from '../support/helpers';
import { at } from '../support/items';
import { describeEngine } from '../support/test-store';

describeEngine('sqlite', 'written on the SQLite handle: page counts, incremental vacuum', 'retention', () => {
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
  };

  let dir: string;
  let db: Db;
  let n = 0;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'retention-'));
    db = openDatabase(path.join(dir, 'r.db'));
    db.exec(`
      INSERT INTO workspaces (id, name, plan, created_at) VALUES ('ws_a', 'A', 'pro', '2026-01-01T00:00:00.000Z'), ('ws_b', 'B', 'pro', '2026-01-01T00:00:00.000Z');
      INSERT INTO assistants (id, workspace_id, name, created_at) VALUES ('ast_1', 'ws_a', 'One', '2026-01-01T00:00:00.000Z'), ('ast_2', 'ws_a', 'Two', '2026-01-01T00:00:00.000Z');
      INSERT INTO api_keys (id, workspace_id, name, prefix, secret_hash, scopes, created_at) VALUES ('key_1', 'ws_a', 'k', 'p', 'h', 'events:read', '2026-01-01T00:00:00.000Z');
      INSERT INTO subscriptions (id, workspace_id, api_key_id, event_type, target_url, secret, created_at)
        VALUES ('sub_1', 'ws_a', 'key_1', 'ticket.created', 'https://hooks.example.com/1', 'whsec_x', '2026-01-01T00:00:00.000Z');
    `);
  });
  afterEach(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  interface Made {
    eventId: string;
    deliveryId: string | null;
  }

  /** An event created at `atMs`, with a delivery in `status` and one attempt when status is given. */
  function event(
    atMs: number,
    opts: { workspace?: string; type?: string; assistant?: string | null; status?: string; payloadBytes?: number } = {},
  ): Made {
    n += 1;
    const eventId = `evt_${n}`;
    const at = isoAt(atMs);
    db.prepare(
      `INSERT INTO events (id, workspace_id, type, assistant_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(
      eventId,
      opts.workspace ?? 'ws_a',
      opts.type ?? 'ticket.created',
      opts.assistant === undefined ? 'ast_1' : opts.assistant,
      JSON.stringify({ n, pad: 'x'.repeat(opts.payloadBytes ?? 10) }),
      at,
    );
    if (!opts.status) return { eventId, deliveryId: null };
    const deliveryId = `dlv_${n}`;
    db.prepare(
      `INSERT INTO deliveries (id, event_id, subscription_id, status, attempts, next_attempt_ms, created_at) VALUES (?, ?, 'sub_1', ?, 1, ?, ?)`,
    ).run(deliveryId, eventId, opts.status, atMs, at);
    db.prepare(
      `INSERT INTO delivery_attempts (id, delivery_id, attempt, started_at, duration_ms, status_code, outcome, response_body) VALUES (?, ?, 1, ?, 5, 200, 'succeeded', ?)`,
    ).run(`att_${n}`, deliveryId, at, 'y'.repeat(opts.payloadBytes ?? 10));
    return { eventId, deliveryId };
  }

  /** Runs batches until a pass is done; returns the totals. */
  async function prunePass(nowMs: number, settings = SETTINGS, cursor: RetentionCursor = newCursor()) {
    const total = { deliveries: 0, attempts: 0, events: 0, pagesFreed: 0, batches: 0 };
    for (;;) {
      const r = await pruneBatch(ctxOf(db).store, nowMs, settings, cursor);
      total.deliveries += r.deliveries;
      total.attempts += r.attempts;
      total.events += r.events;
      total.pagesFreed += r.pagesFreed;
      total.batches += 1;
      if (r.passDone) return total;
      if (total.batches > 100_000) throw new Error('the pass never ended');
    }
  }

  const exists = (table: string, id: string) => db.prepare(`SELECT 1 FROM ${table} WHERE id = ?`).get(id) !== undefined;

  describe('retention', () => {
    it('deletes finished deliveries and their attempts past their retention, and old events without deliveries', async () => {
      // Padding so that there are always more than SAMPLES_LIMIT_MAX newer events of the same kind.
      const old = ['succeeded', 'failed', 'cancelled'].map((status) => event(NOW - 40 * DAY, { status }));
      const oldBare = event(NOW - 40 * DAY);
      const weekOld = event(NOW - 8 * DAY, { status: 'succeeded' });
      for (let i = 0; i < SAMPLES_LIMIT_MAX; i++) event(NOW - DAY);
      const young = event(NOW - 6 * DAY, { status: 'succeeded' });
      event(NOW, { status: 'succeeded' }); // the newest delivery row, never deleted (rowid reuse)

      const pass = await prunePass(NOW);

      for (const made of [...old, weekOld]) {
        expect(exists('deliveries', made.deliveryId!)).toBe(false);
        expect(
          db.prepare('SELECT count(*) FROM delivery_attempts WHERE delivery_id = ?').pluck().get(made.deliveryId),
        ).toBe(0);
      }
      for (const made of [...old, oldBare]) expect(exists('events', made.eventId)).toBe(false);
      // Its delivery is past 7 days, the event not past 30: the event stays.
      expect(exists('events', weekOld.eventId)).toBe(true);
      expect(exists('deliveries', young.deliveryId!)).toBe(true);
      expect(exists('events', young.eventId)).toBe(true);
      expect(pass).toMatchObject({ deliveries: 4, attempts: 4, events: 4 });
    });

    it('never deletes a pending or retrying delivery, nor its event, however old', async () => {
      const pending = event(NOW - 90 * DAY, { status: 'pending' });
      db.prepare(`UPDATE deliveries SET attempts = 5, last_error = 'HTTP 500' WHERE id = ?`).run(pending.deliveryId);
      for (let i = 0; i < 3 * SAMPLES_LIMIT_MAX; i++) event(NOW - 60 * DAY + i, { status: 'succeeded' });
      event(NOW, { status: 'succeeded' });

      await prunePass(NOW);
      await prunePass(NOW); // a second pass meets it again and still keeps it

      expect(exists('deliveries', pending.deliveryId!)).toBe(true);
      expect(
        db.prepare('SELECT count(*) FROM delivery_attempts WHERE delivery_id = ?').pluck().get(pending.deliveryId),
      ).toBe(1);
      expect(exists('events', pending.eventId)).toBe(true);
    });

    it('keeps the newest events every Test trigger shows: per workspace and type, and per assistant filter', async () => {
      // All old. ws_a ticket.created: 25 from ast_1, then 3 from ast_2, then 2 with no assistant; ws_b: 2.
      const fromOne = Array.from({ length: 25 }, (_, i) => event(NOW - 100 * DAY + i, { assistant: 'ast_1' }));
      const fromTwo = Array.from({ length: 3 }, (_, i) => event(NOW - 90 * DAY + i, { assistant: 'ast_2' }));
      const noAssistant = Array.from({ length: 2 }, (_, i) => event(NOW - 80 * DAY + i, { assistant: null }));
      const otherType = Array.from({ length: 12 }, (_, i) =>
        event(NOW - 80 * DAY + i, { type: 'lead.captured', assistant: 'ast_2' }),
      );
      const otherWorkspace = Array.from({ length: 2 }, (_, i) =>
        event(NOW - 80 * DAY + i, { workspace: 'ws_b', assistant: null }),
      );
      const before = (filter: { type?: 'ticket.created' | 'lead.captured'; workspace?: string; assistant?: string }) =>
        samplesFor(ctxOf(db), filter.workspace ?? 'ws_a', {
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
      const kept = (made: Made[]) => made.filter((m) => exists('events', m.eventId)).length;
      expect(kept(fromOne)).toBe(SAMPLES_LIMIT_MAX);
      expect(kept(fromTwo)).toBe(3);
      expect(kept(noAssistant)).toBe(2);
      expect(kept(otherType)).toBe(SAMPLES_LIMIT_MAX);
      expect(kept(otherWorkspace)).toBe(2);
    });

    it('reads at most batchSize rows per batch, and finishes a pass over many rows', async () => {
      for (let i = 0; i < 500; i++) event(NOW - 50 * DAY + i, { status: 'succeeded' });
      event(NOW, { status: 'succeeded' });
      const cursor = newCursor();
      const first = await pruneBatch(ctxOf(db).store, NOW, SETTINGS, cursor);
      expect(first.deliveries).toBe(SETTINGS.batchSize);
      expect(first.events).toBe(0); // deliveries first; events once their walk is done
      const pass = await prunePass(NOW, SETTINGS, cursor);
      expect(pass.deliveries + first.deliveries).toBe(500);
      expect(pass.events).toBe(501 - SAMPLES_LIMIT_MAX); // the newest 10 of all 501 stay, the young one among them
      expect(pass.batches).toBeGreaterThanOrEqual((2 * 500) / SETTINGS.batchSize - 1);
    });

    it('stops a batch once its time budget is spent, after the row at hand, and the next batch resumes there', async () => {
      for (let i = 0; i < 30; i++) event(NOW - 50 * DAY + i, { status: 'succeeded' });
      event(NOW, { status: 'succeeded' });
      // Spent before the first row: each batch deletes exactly one row and stops.
      const spent = { ...SETTINGS, batchBudgetMs: -1 };
      const cursor = newCursor();
      const first = await pruneBatch(ctxOf(db).store, NOW, spent, cursor);
      expect([first.deliveries, first.attempts, first.passDone]).toEqual([1, 1, false]);
      const pass = await prunePass(NOW, spent, cursor);
      // Nothing skipped, nothing deleted twice: the same result as unbounded batches.
      expect(pass.deliveries + first.deliveries).toBe(30);
      expect(pass.events).toBe(31 - SAMPLES_LIMIT_MAX);
      expect(pass.batches).toBeGreaterThanOrEqual(30 + 31 - SAMPLES_LIMIT_MAX - 1);
    });

    it('levels the file off under a steady insert-and-prune load, and gives pages back', async () => {
      // Each simulated day: 300 events with a succeeded delivery and attempt (~1.5 KB each), then one pass.
      // Retention 3 days for everything: from day 4 on, as much is deleted as is added.
      const settings = { ...SETTINGS, eventsMs: 3 * DAY, deliveriesMs: 3 * DAY, batchSize: 200 };
      const pages: number[] = [];
      let day = 0;
      const runDay = async (prune: boolean) => {
        day += 1;
        const start = NOW + day * DAY;
        db.transaction(() => {
          for (let i = 0; i < 300; i++) event(start + i * 1000, { status: 'succeeded', payloadBytes: 600 });
        })();
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
      const file = path.join(dir, 'old.db');
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
      expect(db.pragma('auto_vacuum', { simple: true })).toBe(2);
    });
  });

  describe('the server', () => {
    it('runs retention on its own, and logs each pass that deleted something', async () => {
      const now = Date.now();
      const old = event(now - 10 * DAY, { status: 'succeeded' });
      for (let i = 0; i < SAMPLES_LIMIT_MAX; i++) event(now - 2 * DAY + i);
      event(now, { status: 'succeeded' });
      db.close();
      const logged: { message: string; fields?: Record<string, unknown> | undefined }[] = [];
      const log = {
        info: (message: string, fields?: Record<string, unknown>) => logged.push({ message, fields }),
        error: () => {},
      };
      const config = loadConfig({}, { port: 0, dbPath: path.join(dir, 'r.db'), seedDemo: false, log: 'silent' });
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
        db = openDatabase(path.join(dir, 'r.db')); // for afterEach
      }
    });
  });

  const contexts = new WeakMap<Db, AppContext>();

  /** One context per connection: a store owns its connection's transactions, so two on one would collide. */
  function ctxOf(database: Db): AppContext {
    let ctx = contexts.get(database);
    if (!ctx) {
      ctx = createAppContext({ store: new SqliteStore(database), config: loadConfig({}), clock: testClock(NOW) });
      contexts.set(database, ctx);
    }
    return ctx;
  }
});

/**
 * Crash safety: the API runs as its own process (partner-api/server.ts) and is killed with SIGKILL in the
 * middle of work, then started again on the same SQLite file.
 *   - While thousands of events are being created through the API and delivered to local receivers: every
 *     event reaches each of its subscriptions at least once with webhook-id = the event id and the stored
 *     body, signed; no event is lost, no acknowledged write is lost, and PRAGMA integrity_check is ok.
 *   - In the middle of a stream of idempotent creates: retrying every request with its Idempotency-Key
 *     either replays the committed result or runs it once; never twice (rows counted).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import Database from 'better-sqlite3';

import type { EventType } from '../../catalog/events';
import { loadConfig } from '../../partner-api/config';
import { type AppContext, createAppContext } from '../../partner-api/context';
import { openDatabase } from '../../partner-api/db/open';
import { SqliteStore } from '../../partner-api/db/sqlite-store';
import { verifySignature } from '../../partner-api/delivery/signing';
import { createApiKey } from '../../partner-api/domain/api-keys';
import { SCOPES } from '../../partner-api/domain/credentials';
import { createSubscription } from '../../partner-api/domain/subscriptions';
import { createAssistant, createWorkspace } from '../../partner-api/domain/workspaces';
import { waitUntil } from '../support/api-server';
import { times } from '../support/helpers';
import { at } from '../support/items';
import { type Receiver, reply, startReceiver } from '../support/receiver';
import { describeEngine } from '../support/test-store';
import { type ApiProcess, killAll, spawnApi } from './support/api-process';

describeEngine('sqlite', "the API process on a SQLite file, checked by SQLite's integrity_check", 'crash proof', () => {
  // Real processes, thousands of events and a restart: well under a minute on CI's idle two cores, but more
  // than jest's 30 s default when the host is shared. The assertions are about what arrives, not how soon.
  jest.setTimeout(120_000);

  /** Sized for CI's two cores: thousands of events, and the whole file in well under a minute. */
  const EVENTS = 2400;
  const KILL_AFTER_ANSWERS = 900;
  const IDEMPOTENT_REQUESTS = 400;
  const CONCURRENCY = 16;

  const ENV = {
    ILLUMICHAT_RATE_LIMIT_PER_MINUTE: '100000000',
    ILLUMICHAT_RATE_LIMIT_BURST: '100000000',
    // Thousands of widget conversations come from this one address.
    ILLUMICHAT_PUBLIC_RATE_LIMIT_PER_MINUTE: '100000000',
    ILLUMICHAT_PUBLIC_RATE_LIMIT_BURST: '100000000',
    // Short, so claims cut off by the kill (lease = timeout + 2 s) come due again quickly after the restart.
    ILLUMICHAT_DELIVERY_TIMEOUT_MS: '1000',
  };

  const dirs: string[] = [];
  const receivers: Receiver[] = [];
  afterAll(async () => {
    await killAll();
    for (const rx of receivers) await rx.close();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  function tempDb(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'illumichat-crash-'));
    dirs.push(dir);
    return path.join(dir, 'api.db');
  }

  /** Opens the file the way the API does (creating and migrating it), runs `fn`, and closes it again. */
  async function withContext<T>(
    dbPath: string,
    fn: (ctx: AppContext) => T | Promise<T>,
    env: Record<string, string> = {},
  ): Promise<T> {
    const config = loadConfig({ ILLUMICHAT_NO_DEMO: '1', ...env });
    const ctx = createAppContext({ store: new SqliteStore(openDatabase(dbPath)), config });
    try {
      return await fn(ctx);
    } finally {
      await ctx.store.close();
    }
  }

  function checkIntegrity(dbPath: string): { integrity: unknown; foreignKeys: unknown[] } {
    const db = new Database(dbPath, { fileMustExist: true });
    try {
      return {
        integrity: db.pragma('integrity_check', { simple: true }),
        foreignKeys: db.pragma('foreign_key_check') as unknown[],
      };
    } finally {
      db.close();
    }
  }

  interface Outcome {
    status: number | 'no answer';
    body?: any;
    replayed?: boolean;
  }

  async function post(url: string, p: string, body: unknown, headers: Record<string, string> = {}): Promise<Outcome> {
    try {
      const res = await fetch(url + p, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json', ...headers },
      });
      return {
        status: res.status,
        body: await res.json(),
        replayed: res.headers.get('idempotent-replayed') === 'true',
      };
    } catch {
      return { status: 'no answer' }; // the process died with the request in flight: its outcome is unknown
    }
  }

  /** Runs `send` over items with `concurrency` in flight until the items run out or `halted()` says stop. */
  async function drive<T>(
    items: T[],
    concurrency: number,
    send: (item: T) => Promise<void>,
    halted: () => boolean,
  ): Promise<void> {
    let next = 0;
    const lane = async () => {
      while (next < items.length && !halted()) await send(at(items, next++));
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
  }

  /**
   * Kills the process at a moment when `countSql` (a `SELECT COUNT(*)` on the file) finds rows in the state the
   * test is about. Such windows are short or come and go with the load (a claim held between two synchronous
   * commits; deliveries in flight, which a caught-up worker under a loaded host may have none of at a given
   * instant), so the process is frozen with SIGSTOP at successive instants and looked at; the SIGKILL lands on a
   * frozen process, exactly there. Returns the count at the kill (0 if no instant caught one, then it is killed
   * anyway, and the caller's assertion says so).
   */
  async function crashWhen(api: ApiProcess, dbPath: string, countSql: string): Promise<number> {
    const db = new Database(dbPath, { fileMustExist: true });
    try {
      const count = db.prepare(countSql).pluck();
      for (let tries = 0; tries < 2000; tries++) {
        api.child.kill('SIGSTOP');
        const n = count.get() as number;
        if (n > 0) {
          await api.crash();
          return n;
        }
        api.child.kill('SIGCONT');
        await new Promise((resolve) => setTimeout(resolve, 1 + (tries % 3)));
      }
      await api.crash();
      return 0;
    } finally {
      db.close();
    }
  }

  const RUNNING_CLAIMS = `SELECT COUNT(*) FROM idempotency_keys WHERE state = 'running'`;
  const DELIVERIES_IN_FLIGHT = `SELECT COUNT(*) FROM deliveries WHERE status = 'pending' AND claim_token IS NOT NULL`;

  describe('SIGKILL while thousands of events are being delivered', () => {
    it('delivers every event to every matching subscription at least once, with the same webhook-id, after a restart on the same file', async () => {
      const dbPath = tempDb();
      const rx = {
        widgetAll: await startReceiver(),
        widgetOne: await startReceiver(),
        leads: await startReceiver(),
        tickets: await startReceiver(),
      };
      for (const r of Object.values(rx)) {
        receivers.push(r);
        r.setDefault(reply(200, { delayMs: 5 })); // a little latency, so deliveries are in flight when the kill lands
      }
      const setup = await withContext(dbPath, async (ctx) => {
        const workspace = await createWorkspace(ctx, { name: 'Crash Test', plan: 'pro' });
        const sales = await createAssistant(ctx, workspace.id, 'Sales Bot');
        const support = await createAssistant(ctx, workspace.id, 'Support Bot');
        const { id: apiKeyId, key } = await createApiKey(ctx, {
          workspaceId: workspace.id,
          name: 'Zapier',
          scopes: SCOPES,
        });
        const sub = async (eventType: EventType, r: Receiver, assistantId?: string) =>
          (
            await createSubscription(ctx, {
              workspaceId: workspace.id,
              apiKeyId,
              eventType,
              targetUrl: r.url,
              assistantId,
            })
          ).subscription;
        const subs = {
          widgetAll: await sub('widget.conversation_started', rx.widgetAll),
          widgetOne: await sub('widget.conversation_started', rx.widgetOne, sales.id),
          leads: await sub('lead.captured', rx.leads),
          tickets: await sub('ticket.created', rx.tickets),
        };
        return { key, sales, support, subs };
      });
      const auth = { authorization: `Bearer ${setup.key}` };

      // Four kinds of change, each firing its event in the transaction of the change.
      type Job = {
        i: number;
        kind: 'widget' | 'lead' | 'ticket';
        path: string;
        body: object;
        headers: Record<string, string>;
      };
      const jobs: Job[] = Array.from({ length: EVENTS }, (_, i) => {
        if (i % 4 < 2) {
          const assistant = i % 4 === 0 ? setup.sales : setup.support;
          return {
            i,
            kind: 'widget',
            path: `/v1/widget/assistants/${assistant.id}/conversations`,
            body: { message: `crash ${i}` },
            headers: {},
          };
        }
        if (i % 4 === 2)
          return {
            i,
            kind: 'lead',
            path: '/v1/contacts',
            body: { email: `lead${i}@example.com`, name: `Lead ${i}` },
            headers: auth,
          };
        return { i, kind: 'ticket', path: '/v1/tickets', body: { subject: `crash ${i}` }, headers: auth };
      });
      const outcomes = new Map<number, Outcome>();
      const received = () => Object.values(rx).reduce((n, r) => n + r.requests.length, 0);

      let api: ApiProcess = await spawnApi({ dbPath, env: ENV });
      let crashed = false;
      let claimedAtCrash = 0;
      const sendTo = (target: () => ApiProcess) => async (job: Job) => {
        outcomes.set(job.i, await post(target().url, job.path, job.body, job.headers));
        const answered = [...outcomes.values()].filter((o) => o.status !== 'no answer').length;
        if (!crashed && answered >= KILL_AFTER_ANSWERS && received() >= 200) {
          crashed = true;
          claimedAtCrash = await crashWhen(api, dbPath, DELIVERIES_IN_FLIGHT);
        }
      };
      await drive(
        jobs,
        CONCURRENCY,
        sendTo(() => api),
        () => crashed,
      );
      expect(api.child.signalCode).toBe('SIGKILL');
      const firstLines = api.lines;

      // The file as the crash left it: consistent, with deliveries cut off mid-flight.
      expect(checkIntegrity(dbPath)).toEqual({ integrity: 'ok', foreignKeys: [] });
      expect(claimedAtCrash).toBeGreaterThan(0);
      const atCrash = (await withContext(dbPath, async (ctx) => await ctx.db.value(DELIVERIES_IN_FLIGHT))) as number;
      expect(atCrash).toBe(claimedAtCrash); // what the frozen process had claimed is what the file holds
      const receivedAtCrash = received();

      // Started again on the same file; the rest of the load goes to it.
      api = await spawnApi({ dbPath, env: ENV });
      const rest = jobs.filter((j) => !outcomes.has(j.i));
      await drive(
        rest,
        CONCURRENCY,
        sendTo(() => api),
        () => false,
      );

      const db = new Database(dbPath, { fileMustExist: true });
      try {
        const unfinished = () =>
          db.prepare(`SELECT COUNT(*) FROM deliveries WHERE status <> 'succeeded'`).pluck().get() as number;
        await waitUntil(() => unfinished() === 0, 60_000, 'every delivery to succeed');

        const events = db.prepare('SELECT id, type, assistant_id AS "assistantId", payload FROM events').all() as {
          id: string;
          type: EventType;
          assistantId: string | null;
          payload: string;
        }[];
        const subs = Object.entries(setup.subs).map(([name, s]) => ({ name: name as keyof typeof rx, ...s }));
        const owed = new Set<string>();
        for (const e of events) {
          for (const s of subs)
            if (s.eventType === e.type && (s.assistantId === null || s.assistantId === e.assistantId))
              owed.add(`${e.id} ${s.id}`);
        }
        const rows = db.prepare(`SELECT event_id || ' ' || subscription_id FROM deliveries`).pluck().all() as string[];
        expect(rows.length).toBe(owed.size);
        expect(new Set(rows)).toEqual(owed);

        // Every change that was answered 201 before or after the kill has its event: no acknowledged write lost.
        const eventOf = new Map<string, string>();
        for (const e of events) {
          const p = JSON.parse(e.payload);
          eventOf.set(e.type === 'lead.captured' ? p.id : (p.data.conversation?.id ?? p.data.ticket?.id), e.id);
        }
        const acknowledged = jobs.filter((j) => outcomes.get(j.i)?.status === 201);
        expect(acknowledged.length).toBeGreaterThan(EVENTS * 0.9);
        for (const j of acknowledged)
          expect({ i: j.i, event: eventOf.has(outcomes.get(j.i)!.body.id) }).toEqual({ i: j.i, event: true });
        // Nothing was answered with anything but 201 or a cut-off connection.
        expect([...outcomes.values()].filter((o) => o.status !== 201 && o.status !== 'no answer')).toEqual([]);
        expect(events.length).toBeGreaterThanOrEqual(acknowledged.length);

        // At the receivers: every owed (event, subscription) at least once, as stored and signed; nothing else.
        const payloadOf = new Map(events.map((e) => [e.id, e.payload]));
        let redelivered = 0;
        for (const s of subs) {
          const seen = new Map<string, number>();
          for (const r of rx[s.name].requests) {
            const id = String(r.headers['webhook-id']);
            expect(owed.has(`${id} ${s.id}`)).toBe(true);
            expect(r.text).toBe(payloadOf.get(id));
            expect(verifySignature(s.secret, r.headers, r.body)).toBe(true);
            seen.set(id, (seen.get(id) ?? 0) + 1);
          }
          for (const key of owed) if (key.endsWith(s.id)) expect(seen.has(at(key.split(' '), 0))).toBe(true);
          for (const n of seen.values()) redelivered += n - 1;
        }
        expect(received()).toBeGreaterThan(receivedAtCrash);
        // At least once: what was sent but not yet recorded when the process died goes out again, same id.
        expect(redelivered).toBeLessThanOrEqual(atCrash);
      } finally {
        db.close();
      }
      await api.stop();
      expect(checkIntegrity(dbPath)).toEqual({ integrity: 'ok', foreignKeys: [] });
      const logged = [...firstLines, ...api.lines].join('\n');
      expect(logged).not.toContain(setup.key.slice(9));
    });
  });

  describe('SIGKILL in the middle of idempotent creates', () => {
    it('a retry with the same Idempotency-Key replays the committed result or runs once; never twice', async () => {
      const dbPath = tempDb();
      const { key } = await withContext(dbPath, async (ctx) => {
        const workspace = await createWorkspace(ctx, { name: 'Idempotent', plan: 'pro' });
        return await createApiKey(ctx, { workspaceId: workspace.id, name: 'Zapier', scopes: SCOPES });
      });
      const request = (i: number) => ({
        body: { subject: `idem ${i}`, priority: 'high' },
        headers: { authorization: `Bearer ${key}`, 'idempotency-key': `zap-step-${i}` },
      });
      const indexes = Array.from({ length: IDEMPOTENT_REQUESTS }, (_, i) => i);
      const first = new Map<number, Outcome>();

      let api = await spawnApi({ dbPath, env: ENV });
      let probing = false;
      let crashed = false;
      let caughtRunning = 0;
      // One lane probes for the moment to kill while the others keep the API busy.
      await drive(
        indexes,
        CONCURRENCY,
        async (i) => {
          const { body, headers } = request(i);
          first.set(i, await post(api.url, '/v1/tickets', body, headers));
          if (!probing && first.size >= IDEMPOTENT_REQUESTS / 4) {
            probing = true;
            caughtRunning = await crashWhen(api, dbPath, RUNNING_CLAIMS);
            crashed = true;
          }
        },
        () => crashed,
      );
      expect(api.child.signalCode).toBe('SIGKILL');
      expect(caughtRunning).toBeGreaterThan(0); // the kill did land inside a claimed, uncommitted request
      expect(checkIntegrity(dbPath)).toEqual({ integrity: 'ok', foreignKeys: [] });

      // Retry every request, as Zapier's autoreplay would: right after the restart, then once more 31 s on,
      // when a claim left 'running' by a request that died with the process has gone stale.
      const answered = (o: Outcome | undefined) => o !== undefined && o.status !== 'no answer';
      const settle = async (process: ApiProcess, round: Map<number, Outcome>) => {
        await drive(
          indexes,
          CONCURRENCY,
          async (i) => {
            const { body, headers } = request(i);
            round.set(i, await post(process.url, '/v1/tickets', body, headers));
          },
          () => false,
        );
      };
      api = await spawnApi({ dbPath, env: ENV });
      const second = new Map<number, Outcome>();
      await settle(api, second);
      await api.stop();
      api = await spawnApi({ dbPath, env: ENV, clockOffsetMs: 31_000 });
      const third = new Map<number, Outcome>();
      await settle(api, third);

      let replayedAfterCrash = 0;
      let ranOnRetry = 0;
      let inProgress = 0;
      for (const i of indexes) {
        const [a, b, c] = [first.get(i), second.get(i)!, third.get(i)!];
        // Answered before the kill: every retry replays exactly that answer.
        if (answered(a)) {
          expect(a!.status).toBe(201);
          expect({ i, b: [b.status, b.replayed, b.body] }).toEqual({ i, b: [201, true, a!.body] });
        } else if (b.status === 201) {
          if (b.replayed)
            replayedAfterCrash += 1; // committed, but the answer was lost with the process
          else ranOnRetry += 1; // never committed: it ran now, once
        } else {
          // Its claim was left running by the dead process: refused until the claim goes stale.
          expect({ i, status: b.status, code: b.body?.error?.code }).toEqual({
            i,
            status: 409,
            code: 'idempotency_request_in_progress',
          });
          inProgress += 1;
        }
        // 31 s later every key has exactly one result, and replays it.
        const settled = answered(a) ? a! : b.status === 201 ? b : null;
        expect({ i, status: c.status }).toEqual({ i, status: 201 });
        if (settled)
          expect({ i, replayed: c.replayed, body: c.body }).toEqual({ i, replayed: true, body: settled.body });
      }
      await api.stop();

      const db = new Database(dbPath, { fileMustExist: true });
      try {
        const perSubject = db.prepare(`SELECT subject, COUNT(*) AS n FROM tickets GROUP BY subject`).all() as {
          subject: string;
          n: number;
        }[];
        expect(perSubject).toHaveLength(IDEMPOTENT_REQUESTS);
        expect(perSubject.filter((r) => r.n !== 1)).toEqual([]);
        expect(db.prepare(`SELECT COUNT(*) FROM events WHERE type = 'ticket.created'`).pluck().get()).toBe(
          IDEMPOTENT_REQUESTS,
        );
        expect(db.prepare(`SELECT state, COUNT(*) AS n FROM idempotency_keys GROUP BY state`).all()).toEqual([
          { state: 'done', n: IDEMPOTENT_REQUESTS },
        ]);
        // Each stored answer is the ticket that exists.
        for (const i of indexes) {
          const stored = third.get(i)!.body;
          expect(db.prepare('SELECT subject FROM tickets WHERE id = ?').pluck().get(stored.id)).toBe(`idem ${i}`);
        }
      } finally {
        db.close();
      }
      expect(checkIntegrity(dbPath)).toEqual({ integrity: 'ok', foreignKeys: [] });
      expect(first.size).toBeLessThan(IDEMPOTENT_REQUESTS); // the kill did cut the stream short
      expect(replayedAfterCrash + ranOnRetry + inProgress).toBe(
        IDEMPOTENT_REQUESTS - [...first.values()].filter(answered).length,
      );
    });
  });

  describe('SIGKILL while events wait for their fan-out (delivery/fanout.ts)', () => {
    const SUBSCRIBERS = 200;
    /** At most; events keep coming, 8 at a time, until the kill has landed. */
    const FANOUT_EVENTS = 400;

    /**
     * Freezes the process at successive instants until at least one event is answered and some of the
     * file's events still wait for (part of) their delivery rows, then kills it there. Returns the marked events at
     * the kill (0 if no instant caught that; the test then fails, as it proved nothing).
     */
    async function crashWithFanOutPending(api: ApiProcess, dbPath: string, answered: () => number): Promise<number> {
      const db = new Database(dbPath, { fileMustExist: true });
      try {
        const markedNow = db.prepare(`SELECT COUNT(*) FROM events WHERE fanout_upto IS NOT NULL`).pluck();
        // Frozen in the middle of its own WAL-index update, the process can make a reader's look fail with
        // SQLITE_PROTOCOL (or BUSY): that instant is skipped.
        const marked = (): number => {
          try {
            return markedNow.get() as number;
          } catch (error) {
            if (
              (error as { code?: string }).code === 'SQLITE_PROTOCOL' ||
              (error as { code?: string }).code === 'SQLITE_BUSY'
            )
              return -1;
            throw error;
          }
        };
        for (let tries = 0; tries < 5000; tries++) {
          api.child.kill('SIGSTOP');
          const n = answered() >= 1 ? marked() : -1;
          if (n >= 1) {
            await api.crash();
            return n;
          }
          api.child.kill('SIGCONT');
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        await api.crash();
        return 0;
      } finally {
        db.close();
      }
    }

    it('every event answered before the kill reaches every subscription that matched it, after a restart; none reaches a later one', async () => {
      const dbPath = tempDb();
      const rx = await startReceiver();
      receivers.push(rx);
      const env = { ...ENV, ILLUMICHAT_MAX_SUBSCRIPTIONS_PER_WORKSPACE: String(SUBSCRIBERS + 1) };
      const setup = await withContext(
        dbPath,
        async (ctx) => {
          const workspace = await createWorkspace(ctx, { name: 'Fan-out Crash', plan: 'pro' });
          const { id: apiKeyId, key } = await createApiKey(ctx, {
            workspaceId: workspace.id,
            name: 'Zapier',
            scopes: SCOPES,
          });
          const subs = await times(
            SUBSCRIBERS,
            async (i) =>
              (
                await createSubscription(ctx, {
                  workspaceId: workspace.id,
                  apiKeyId,
                  eventType: 'ticket.created',
                  targetUrl: `${rx.url}/zap/${i}`,
                })
              ).subscription,
          );
          return { key, workspaceId: workspace.id, apiKeyId, subs };
        },
        env,
      );
      const auth = { authorization: `Bearer ${setup.key}` };

      let api: ApiProcess = await spawnApi({ dbPath, env });
      let answered = 0;
      let killed = false;
      const sending = drive(
        Array.from({ length: FANOUT_EVENTS }, (_, i) => i),
        8,
        async (i) => {
          const outcome = await post(api.url, '/v1/tickets', { subject: `fan-out ${i}` }, auth);
          if (outcome.status === 201) answered += 1;
        },
        () => killed,
      );
      const markedAtKill = await crashWithFanOutPending(api, dbPath, () => answered);
      killed = true;
      await sending;
      expect(api.child.signalCode).toBe('SIGKILL');
      expect(markedAtKill).toBeGreaterThanOrEqual(1); // the kill did land with fan-outs owed and not written
      expect(checkIntegrity(dbPath)).toEqual({ integrity: 'ok', foreignKeys: [] });
      const atKill = await withContext(dbPath, async (ctx) => ({
        events: (await ctx.db.value<number>('SELECT COUNT(*) FROM events'))!,
        rows: (await ctx.db.value<number>('SELECT COUNT(*) FROM deliveries'))!,
      }));
      expect(atKill.rows).toBeLessThan(atKill.events * SUBSCRIBERS);

      // A subscription made while the process is down did not exist when those events committed.
      const late = await withContext(
        dbPath,
        async (ctx) =>
          (
            await createSubscription(ctx, {
              workspaceId: setup.workspaceId,
              apiKeyId: setup.apiKeyId,
              eventType: 'ticket.created',
              targetUrl: `${rx.url}/late`,
            })
          ).subscription,
        env,
      );

      api = await spawnApi({ dbPath, env });
      const db = new Database(dbPath, { fileMustExist: true });
      try {
        const events = db.prepare('SELECT id FROM events').pluck().all() as string[];
        const owed = events.length * SUBSCRIBERS;
        const succeeded = db.prepare(`SELECT COUNT(*) FROM deliveries WHERE status = 'succeeded'`).pluck();
        await waitUntil(
          () =>
            (db.prepare('SELECT COUNT(*) FROM events WHERE fanout_upto IS NOT NULL').pluck().get() as number) === 0 &&
            succeeded.get() === owed,
          60_000,
          'every owed delivery to succeed',
        );
        expect(db.prepare('SELECT COUNT(*) FROM deliveries').pluck().get()).toBe(owed);
        const pairs = new Set(rx.requests.map((r) => `${r.path} ${String(r.headers['webhook-id'])}`));
        const base = new URL(rx.url).pathname;
        const missing = setup.subs
          .flatMap((_, i) => events.map((id) => `${base}/zap/${i} ${id}`))
          .filter((pair) => !pairs.has(pair));
        expect({ missing: missing.slice(0, 3), count: missing.length }).toEqual({ missing: [], count: 0 });
        expect(rx.requests.filter((r) => r.path.endsWith('/late'))).toEqual([]);
        expect(db.prepare('SELECT COUNT(*) FROM deliveries WHERE subscription_id = ?').pluck().get(late.id)).toBe(0);
      } finally {
        db.close();
      }
      await api.stop();
      expect(checkIntegrity(dbPath)).toEqual({ integrity: 'ok', foreignKeys: [] });
    });
  });
});

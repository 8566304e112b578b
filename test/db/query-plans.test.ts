/**
 * The query-plan guard: no statement the API runs may read a large table in full, or walk an index range of
 * one rejecting rows it does not return (the kind of GET /v1/samples?assistant_id=…, which read every event
 * of the type for an assistant with none: 0.9 s a call at 1M events, with the event loop stopped).
 *
 * The statements are not listed by hand. Every SQL text the API runs (through the store's one, value,
 * values, all and run, db/store.ts) is recorded, with the line that ran it, while a workload runs on a seeded database: every route the app registers with a
 * well-formed request (test/proof/support/routes.ts, which the fuzz test keeps complete), the delivery
 * worker delivering, retrying, meeting a 410 and a revoked key, and a retention pass. Then:
 *   1. every statement call site in partner-api/ (`db.one(`, `tx.run(`, …) must have run (a statement added later without
 *      a way to reach it from this workload fails here, and is then checked like the rest);
 *   2. EXPLAIN QUERY PLAN: no SCAN of a table (all of them grow with customers or traffic);
 *   3. EXPLAIN (bytecode): no loop over a large table's rows or index entries with a filter that skips to
 *      the next row, i.e. rows read that are not returned, whose number the caller does not bound;
 *   4. no temp B-tree to sort a large table's rows: every matching row is read before LIMIT can apply.
 * Exceptions are in ALLOWED below, each with why it is safe.
 */
import fs from 'node:fs';
import path from 'node:path';

import { fixtureFor } from '../../fixtures';
import { inTransaction } from '../../partner-api/context';
import { newCursor, pruneBatch } from '../../partner-api/db/retention';
import { sqliteHandle, SqliteStore, SqliteTx } from '../../partner-api/db/sqlite-store';
import { expandFanOut, INLINE_FANOUT_LIMIT } from '../../partner-api/delivery/fanout';
import { recordEvent } from '../../partner-api/delivery/outbox';
import { listApiKeys, revokeApiKey } from '../../partner-api/domain/api-keys';
import { IDEMPOTENCY_KEEP_MS, IDEMPOTENCY_STALE_RUNNING_MS, requestHash } from '../../partner-api/domain/idempotency';
import { createSignInLink } from '../../partner-api/domain/sessions';
import {
  createAgent,
  isEmptyDatabase,
  listAgents,
  listWorkspaces,
  revokeAgentToken,
  rotateAgentToken,
  setAgentRole,
  setWorkspacePlan,
} from '../../partner-api/domain/workspaces';
import { newId } from '../../partner-api/lib/ids';
import { methodOf, pathOf, ROUTES, type World } from '../proof/support/routes';
import { api, type ApiServer, startApiServer, waitUntil } from '../support/api-server';
import { at } from '../support/items';
import { type Receiver, reply, startReceiver } from '../support/receiver';
import { describeEngine } from '../support/test-store';

describeEngine('sqlite', "SQLite's query planner (EXPLAIN QUERY PLAN)", 'query plans', () => {
  const ROOT = path.join(__dirname, '../..');

  // ---------------------------------------------------------------------------------------------------------
  // Recording what is prepared, and where

  interface Prepared {
    text: string;
    site: string;
  }
  const mockPrepared: Prepared[] = [];

  /** The statement cache and the store over it: a statement's site is the first frame outside them. */
  const STORE_FILES = new Set([
    'partner-api/lib/statements.ts',
    'partner-api/db/sqlite-store.ts',
    'partner-api/context.ts',
  ]);

  /** "partner-api/dir/file.ts:line" of the first frame in partner-api/ outside the statement cache and store. */
  function mockCallSite(): string {
    for (const line of (new Error().stack ?? '').split('\n').slice(2)) {
      const match = /\((.*?):(\d+):\d+\)$/.exec(line) ?? /at (.*?):(\d+):\d+$/.exec(line);
      if (!match) continue;
      const file = path.relative(path.join(__dirname, '../..'), at(match, 1));
      if (file.startsWith('partner-api/') && !STORE_FILES.has(file)) return `${file}:${match[2]}`;
    }
    return '(outside partner-api)';
  }

  // Every statement goes through the store's methods: each call is recorded where it is made (a root store's
  // write runs later, in its group commit, where the caller is no longer on the stack).
  const METHODS = ['one', 'value', 'values', 'all', 'run'] as const;
  const patched: [object, string, unknown][] = [];
  beforeAll(() => {
    for (const proto of [SqliteStore.prototype, SqliteTx.prototype] as unknown as Record<string, unknown>[]) {
      for (const method of METHODS) {
        const original = proto[method] as (this: unknown, text: string, ...params: unknown[]) => unknown;
        patched.push([proto, method, original]);
        proto[method] = function (this: unknown, text: string, ...params: unknown[]) {
          mockPrepared.push({ text, site: mockCallSite() });
          return original.call(this, text, ...params);
        };
      }
    }
  });
  afterAll(() => {
    for (const [proto, method, original] of patched) (proto as Record<string, unknown>)[method] = original;
  });

  // ---------------------------------------------------------------------------------------------------------
  // What counts, and the deliberate exceptions

  /** Tables whose rows grow with traffic, not with the number of customers. */
  const LARGE = new Set([
    'events',
    'deliveries',
    'delivery_attempts',
    'contacts',
    'conversations',
    'messages',
    'live_chat_sessions',
    'tickets',
    'idempotency_keys',
  ]);

  /** Statement text (whitespace collapsed) → why its scan or skipping loop is fine. */
  const ALLOWED: Record<string, string> = {
    'SELECT * FROM workspaces ORDER BY created_at, id':
      'admin CLI `workspace list` only, which lists them all by design; one row per customer',
    'SELECT COUNT(*) FROM workspaces': 'once at start (is the database empty, for the demo seed); one row per customer',
    'SELECT v.*, (SELECT name FROM assistants WHERE id = v.assistant_id) AS assistant_name FROM conversations v WHERE v.workspace_id = ? AND (v.started_at, v.id) < (?, ?) ORDER BY v.started_at DESC, v.id DESC LIMIT ?':
      "a page after the first: the seek is on started_at; it skips only the rows with the cursor's own started_at (one millisecond) that the previous page returned",
    'SELECT v.*, (SELECT name FROM assistants WHERE id = v.assistant_id) AS assistant_name FROM conversations v WHERE v.workspace_id = ? AND v.mode = ? AND (v.started_at, v.id) < (?, ?) ORDER BY v.started_at DESC, v.id DESC LIMIT ?':
      'the same, filtered to one mode (its own index)',
    'SELECT id, event_id, subscription_id, event_type, status, attempts, next_attempt_ms, last_error, created_at, finished_at FROM deliveries INDEXED BY deliveries_by_workspace WHERE workspace_id = ? AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?':
      "the delivery log's page after the first: the seek is on created_at; it skips only the rows with the cursor's own created_at (one millisecond) that the previous page returned",
    'SELECT id, event_id, subscription_id, event_type, status, attempts, next_attempt_ms, last_error, created_at, finished_at FROM deliveries INDEXED BY deliveries_by_workspace_status WHERE workspace_id = ? AND status = ? AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?':
      'the same, filtered to one status (its own index)',
    'SELECT id, event_id, subscription_id, event_type, status, attempts, next_attempt_ms, last_error, created_at, finished_at FROM deliveries INDEXED BY deliveries_by_workspace_type WHERE workspace_id = ? AND event_type = ? AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?':
      'the same, filtered to one event type (its own index)',
    'SELECT id, event_id, subscription_id, event_type, status, attempts, next_attempt_ms, last_error, created_at, finished_at FROM deliveries INDEXED BY deliveries_by_workspace_status WHERE workspace_id = ? AND status = ? AND event_type = ? ORDER BY created_at DESC, id DESC LIMIT ?':
      "a status and an event type at once (the log's filters combined): the range of the status skips its rows of other event types, the workspace's own deliveries, never more than retention keeps; the cost of a third index per combination on every delivery insert is not worth it",
    'SELECT id, event_id, subscription_id, event_type, status, attempts, next_attempt_ms, last_error, created_at, finished_at FROM deliveries INDEXED BY deliveries_by_workspace_status WHERE workspace_id = ? AND status = ? AND event_type = ? AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?':
      'the same, a page after the first',
    'SELECT id, event_id, subscription_id, event_type, status, attempts, next_attempt_ms, last_error, created_at, finished_at FROM deliveries INDEXED BY deliveries_by_subscription WHERE subscription_id = ? AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?':
      "one Zap's log, a page after the first: as the workspace's",
    'SELECT id, event_id, subscription_id, event_type, status, attempts, next_attempt_ms, last_error, created_at, finished_at FROM deliveries INDEXED BY deliveries_by_subscription_status WHERE subscription_id = ? AND status = ? AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?':
      'the same, filtered to one status (its own index)',
    'SELECT v.*, (SELECT name FROM assistants WHERE id = v.assistant_id) AS assistant_name FROM conversations v WHERE v.workspace_id = ? AND v.visitor_email_normalized = ? AND (v.started_at, v.id) < (?, ?) ORDER BY v.started_at DESC, v.id DESC LIMIT ?':
      "one visitor's conversations (Find Conversation), a page after the first: as above, on conversations_by_visitor_email",
    'SELECT v.*, (SELECT name FROM assistants WHERE id = v.assistant_id) AS assistant_name FROM conversations v WHERE v.workspace_id = ? AND v.visitor_email_normalized = ? AND v.mode = ? ORDER BY v.started_at DESC, v.id DESC LIMIT ?':
      "one visitor's conversations filtered to a mode: it skips only that visitor's conversations in the other mode (one person's chats)",
    'SELECT v.*, (SELECT name FROM assistants WHERE id = v.assistant_id) AS assistant_name FROM conversations v WHERE v.workspace_id = ? AND v.visitor_email_normalized = ? AND v.mode = ? AND (v.started_at, v.id) < (?, ?) ORDER BY v.started_at DESC, v.id DESC LIMIT ?':
      'the same, a page after the first',
    'SELECT COUNT(*) FROM delivery_attempts WHERE delivery_id = ? AND manual = 1':
      "a replay counts the delivery's manual attempts (delivery/replay.ts MANUAL_ATTEMPTS_MAX): it skips only the delivery's automatic ones, at most the retry schedule's length + 1",
    "SELECT id FROM deliveries d WHERE subscription_id = ? AND status = 'failed' AND created_at >= ? AND (SELECT COUNT(*) FROM delivery_attempts a WHERE a.delivery_id = d.id AND a.manual = 1) < ? ORDER BY created_at LIMIT ?":
      "the bulk replay's choice: it skips only the Zap's failed deliveries already replayed the maximum 20 times (each one 20 deliberate, rate-limited replays that really sent), and per delivery its few automatic attempts",
    [`SELECT rowid, id, subscription_id AS "subscriptionId", status, next_attempt_ms AS "dueMs" FROM deliveries WHERE status = 'pending' AND next_attempt_ms > ? AND next_attempt_ms <= ? AND rowid <= ? ORDER BY next_attempt_ms, rowid`]:
      'the claimer: rows that came due in the window since its last look; it skips only rows appended since then, which newRows reads next (a few at most)',
    [`SELECT rowid, id, subscription_id AS "subscriptionId", status, next_attempt_ms AS "dueMs" FROM deliveries WHERE status = 'pending' AND next_attempt_ms <= ? AND rowid <= ? ORDER BY next_attempt_ms, rowid`]:
      'the claimer: every due row, read at start and on a rare rescan; it skips only rows appended during the rescan',
    'INSERT INTO contacts (id, workspace_id, email, email_normalized, name, phone, company, notes, source, assistant_id, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (workspace_id, email_normalized) DO UPDATE SET email_normalized = excluded.email_normalized RETURNING id':
      'the contact upsert (domain/contacts.ts): SQLite plans a check of the rows referencing a contact (tickets, conversations) for any upsert into contacts, in case its DO UPDATE changed the key; this one never changes `id`, so the check never runs (an upsert of a contact with 300,000 unindexed referencing rows took 3.5 µs, as with none)',
  };

  // ---------------------------------------------------------------------------------------------------------
  // The workload

  let server: ApiServer;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    server = await startApiServer({ delivery: true });
    await seedLargeTables(server);
    await runWorkload(server, receiver);
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await receiver?.close();
  });

  /** Enough rows that a plan reading them all would be a real cost; plans do not depend on it (no ANALYZE). */
  async function seedLargeTables(s: ApiServer): Promise<void> {
    const ws = await s.createWorkspace({ plan: 'pro', name: 'Seeded' });
    const assistant = await s.createAssistant(ws.id, 'Seeded');
    const keyId = (await s.createKeyRecord(ws.id)).id;
    const db = s.ctx.db;
    const at = '2026-01-01T00:00:00.000Z';
    await db.run(
      `INSERT INTO subscriptions (id, workspace_id, api_key_id, event_type, target_url, secret, active, created_at) VALUES ('sub_seed', ?, ?, 'ticket.created', 'https://x.example/', 'whsec_x', 0, ?)`,
      ws.id,
      keyId,
      at,
    );
    await db.write(async (db) => {
      for (let i = 0; i < 5_000; i++) {
        await db.run(
          `INSERT INTO events (id, workspace_id, type, assistant_id, payload, created_at) VALUES (?, ?, 'ticket.created', ?, '{}', ?)`,
          `evt_seed${i}`,
          ws.id,
          assistant.id,
          at,
        );
        await db.run(
          `INSERT INTO deliveries (id, event_id, subscription_id, status, next_attempt_ms, created_at) VALUES (?, ?, 'sub_seed', 'succeeded', 0, ?)`,
          `dlv_seed${i}`,
          `evt_seed${i}`,
          at,
        );
        await db.run(
          `INSERT INTO delivery_attempts (id, delivery_id, attempt, started_at, duration_ms, outcome) VALUES (?, ?, 1, ?, 1, 'succeeded')`,
          `att_seed${i}`,
          `dlv_seed${i}`,
          at,
        );
        await db.run(
          `INSERT INTO contacts (id, workspace_id, email, email_normalized, source, created_at, updated_at) VALUES (?, ?, ?, ?, 'api', ?, ?)`,
          `con_seed${i}`,
          ws.id,
          `s${i}@example.com`,
          `s${i}@example.com`,
          at,
          at,
        );
        await db.run(
          `INSERT INTO conversations (id, workspace_id, assistant_id, channel, mode, status, started_at, updated_at) VALUES (?, ?, ?, 'widget', 'assistant', 'open', ?, ?)`,
          `cnv_seed${i}`,
          ws.id,
          assistant.id,
          at,
          at,
        );
        await db.run(
          `INSERT INTO tickets (id, workspace_id, number, subject, status, priority, source, created_at, updated_at) VALUES (?, ?, ?, 's', 'new', 'normal', 'api', ?, ?)`,
          `tkt_seed${i}`,
          ws.id,
          i + 1,
          at,
          at,
        );
      }
    });
  }

  async function runWorkload(s: ApiServer, rx: Receiver): Promise<void> {
    const setup = await s.setup();
    const agent = await s.createAgent(setup.workspace.id, { name: 'Agent', email: 'agent@example.com' });
    const other = await s.createAgent(setup.workspace.id, { name: 'Other', email: 'other@example.com' });
    const zap = api(s.url, setup.key);
    const visitor = api(s.url);
    const contactEmail = 'known@example.com';
    const contact = (await zap.post('/v1/contacts', { email: contactEmail, name: 'Known' })).body;
    const hook = (await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: rx.url })).body;
    const ticket = (await zap.post('/v1/tickets', { subject: 'Seed' })).body;
    const start = () => visitor.post(`/v1/widget/assistants/${setup.assistant.id}/conversations`, { message: 'hi' });
    const conversation = (await start()).body;
    const active = (await visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {})).body;
    await api(s.url, agent.token).post(`/v1/agent/live-chat/sessions/${active.id}/accept`);
    const waiting = (await start()).body;
    const idle = (await start()).body;
    const agentClosable = (await start()).body;
    const widgetClosable = (await start()).body;
    const queued = (await visitor.post(`/v1/widget/conversations/${waiting.id}/handoff`, {})).body;
    const doomed = (
      await zap.post('/v1/subscriptions', { event_type: 'lead.captured', target_url: `${rx.url}?doomed` })
    ).body;
    const delivered = await waitUntil(
      async () =>
        (await s.ctx.db.one<{ id: string; event_id: string }>(
          `SELECT id, event_id FROM deliveries WHERE subscription_id = ? AND status = 'succeeded'`,
          hook.id,
        )) ?? undefined,
      10_000,
      'the first delivery',
    );
    const world: World = {
      assistantId: setup.assistant.id,
      agentId: agent.id,
      otherAgentId: other.id,
      ticketId: ticket.id,
      conversationId: conversation.id,
      idleConversationId: idle.id,
      queuedSessionId: queued.id,
      activeSessionId: active.id,
      subscriptionId: doomed.id,
      deliveryId: delivered.id,
      eventId: delivered.event_id,
      contactEmail,
      contactId: contact.id,
      agentClosableConversationId: agentClosable.id,
      widgetClosableConversationId: widgetClosable.id,
      receiverUrl: rx.url,
    };
    // The delivery log's variants: any status, a second page (with and without a status), one event type, one Zap.
    for (const filter of [
      '',
      'status=succeeded&',
      'event_type=ticket.created&',
      'status=succeeded&event_type=ticket.created&',
      `subscription_id=${hook.id}&`,
      `event_type=ticket.created&subscription_id=${hook.id}&status=succeeded&`,
    ]) {
      await zap.post('/v1/tickets', { subject: 'Another delivery' });
      const first = await waitUntil(
        async () => {
          const page = (await zap.get(`/v1/deliveries?${filter}limit=1`)).body;
          return page.nextCursor ? page : undefined;
        },
        10_000,
        'a second page of deliveries',
      );
      await zap.get(`/v1/deliveries?${filter}limit=1&cursor=${encodeURIComponent(first.nextCursor)}`);
    }
    await settingsPagesWorkload(s, rx, setup.workspace.id, world);
    // Every route, well-formed, in the order listed (DELETE last among the subscription routes).
    let n = 0;
    for (const [route, spec] of Object.entries(ROUTES)) {
      const params = Object.fromEntries(
        Object.entries(spec.params ?? {}).map(([name, of]) => [name, encodeURIComponent(of(world))]),
      );
      const query = new URLSearchParams(spec.query?.(world) ?? {}).toString();
      const credential = spec.auth === 'key' ? setup.key : spec.auth === 'agent' ? agent.token : undefined;
      const res = await api(s.url, credential).raw(
        methodOf(route),
        pathOf(route, params) + (query ? `?${query}` : ''),
        {
          body: spec.body ? JSON.stringify(spec.body(world, ++n)) : undefined,
          headers: {
            ...(credential ? { authorization: `Bearer ${credential}` } : {}),
            ...(spec.body ? { 'content-type': 'application/json' } : {}),
            'idempotency-key': `route ${route}`,
          },
        },
      );
      if (res.status >= 400) throw new Error(`${route}: ${res.status} ${JSON.stringify(res.body)}`);
      if (spec.paged && res.body.nextCursor)
        await api(s.url, credential).get(
          `${pathOf(route, params)}?limit=1&cursor=${encodeURIComponent(res.body.nextCursor)}`,
        );
    }
    // The variants the table does not reach: samples unfiltered, a contact updated, an Idempotency-Key
    // replayed, refused, released after a failure, taken over when stale and replaced when expired.
    await zap.get('/v1/samples?event_type=ticket.created');
    await zap.get('/v1/samples?event_type=lead.captured');
    await zap.post('/v1/contacts', { email: contactEmail, name: 'Known Again' });
    // Issue 14's variants: a tag the record already has, an attribute defined again and given a value, a ticket
    // by number, a visitor's conversations (with a mode, and a second page), a closed conversation read back.
    await zap.post(`/v1/contacts/${contact.id}/tags`, { tag: 'Again' });
    await zap.post(`/v1/contacts/${contact.id}/tags`, { tag: 'AGAIN' });
    await api(s.url, agent.token).post('/v1/agent/contact-attributes', {
      key: 'plan',
      label: 'Plan tier',
      type: 'text',
    });
    await zap.post('/v1/contacts', { email: contactEmail, attributes: { plan: 'pro' } });
    await zap.get('/v1/tickets?number=1');
    for (const email of ['v@example.com', 'nobody@example.com']) {
      await visitor.post(`/v1/widget/assistants/${setup.assistant.id}/conversations`, {
        message: 'hi',
        visitor_email: email,
      });
      for (const filter of ['', 'mode=assistant&']) {
        const page = (await zap.get(`/v1/conversations?${filter}visitor_email=${email}&limit=1`)).body;
        if (page.nextCursor)
          await zap.get(
            `/v1/conversations?${filter}visitor_email=${email}&limit=1&cursor=${encodeURIComponent(page.nextCursor)}`,
          );
      }
    }
    await zap.get(`/v1/conversations/${world.agentClosableConversationId}`);
    await zap.get(`/v1/conversations/${world.widgetClosableConversationId}`);
    for (const filter of ['', 'mode=assistant&']) {
      const first = (await zap.get(`/v1/conversations?${filter}limit=1`)).body;
      if (!first.nextCursor) throw new Error('the workload needs a second page of conversations');
      await zap.get(`/v1/conversations?${filter}limit=1&cursor=${encodeURIComponent(first.nextCursor)}`);
    }
    await zap.post('/v1/tickets', { subject: 'Again' }, { 'Idempotency-Key': 'replayed' });
    await zap.post('/v1/tickets', { subject: 'Again' }, { 'Idempotency-Key': 'replayed' });
    await zap.post('/v1/tickets', { subject: 'Other' }, { 'Idempotency-Key': 'replayed' });
    await zap.patch('/v1/tickets/tkt_missing', { status: 'open' }, { 'Idempotency-Key': 'released' });
    const now = s.ctx.clock.now();
    const keyRow = {
      run: (...params: unknown[]) =>
        s.ctx.db.run(
          `INSERT INTO idempotency_keys (workspace_id, key, request_hash, state, created_at_ms) VALUES (?, ?, ?, 'running', ?)`,
          ...params,
        ),
    };
    await keyRow.run(
      setup.workspace.id,
      'stale',
      requestHash('POST', '/v1/tickets', { subject: 'Stale' }),
      now - IDEMPOTENCY_STALE_RUNNING_MS - 1,
    );
    await keyRow.run(setup.workspace.id, 'expired', 'another request', now - IDEMPOTENCY_KEEP_MS - 1);
    await zap.post('/v1/tickets', { subject: 'Stale' }, { 'Idempotency-Key': 'stale' });
    await zap.post('/v1/tickets', { subject: 'Expired' }, { 'Idempotency-Key': 'expired' });
    // What the admin CLI and the start-up run.
    await listWorkspaces(s.ctx);
    await listApiKeys(s.ctx, setup.workspace.id);
    await setWorkspacePlan(s.ctx, setup.workspace.id, 'free');
    await setWorkspacePlan(s.ctx, setup.workspace.id, 'pro');
    await isEmptyDatabase(s.ctx);
    await listAgents(s.ctx, setup.workspace.id);
    await revokeAgentToken(s.ctx, other.id);
    await rotateAgentToken(s.ctx, other.id);
    // Deliveries: a success, a retry, then a 410 that turns the subscription off.
    rx.script(reply(500), reply(200));
    await zap.post('/v1/tickets', { subject: 'Delivered' });
    await waitUntil(() => rx.requests.length >= 1 || undefined, 10_000, 'the first attempt');
    await s.ctx.db.run(`UPDATE deliveries SET next_attempt_ms = 0 WHERE status = 'pending'`);
    await s.worker!.runOnce();
    rx.script(reply(410));
    await zap.post('/v1/tickets', { subject: 'Gone' });
    await waitUntil(
      async () =>
        (await s.ctx.db.value(`SELECT active FROM subscriptions WHERE id = ?`, hook.id)) === 0 ? true : undefined,
      10_000,
      'the 410',
    );
    // Past INLINE_FANOUT_LIMIT matching subscriptions an event is marked, and a fan-out longer than one
    // transaction's share stops and resumes where it stopped (delivery/fanout.ts).
    for (let q = 0; q <= INLINE_FANOUT_LIMIT; q++)
      await zap.post('/v1/subscriptions', { event_type: 'ticket.assigned', target_url: `${rx.url}?${q}` });
    const eventId = newId('evt');
    const payload = {
      ...fixtureFor('ticket.assigned'),
      id: eventId,
      createdAt: new Date().toISOString(),
      workspaceId: setup.workspace.id,
      assistantId: null,
      assistantName: null,
    };
    await inTransaction(
      s.ctx,
      async (ctx) =>
        await recordEvent(ctx, {
          id: eventId,
          workspaceId: setup.workspace.id,
          type: 'ticket.assigned',
          assistantId: null,
          createdAt: payload.createdAt,
          payload,
        }),
    );
    await expandFanOut(s.ctx, 1);
    // A revoked key turns its subscriptions off; a retention pass over the seeded rows.
    const revoked = await s.createKeyRecord(setup.workspace.id);
    await api(s.url, revoked.key).post('/v1/subscriptions', { event_type: 'ticket.created', target_url: rx.url });
    await revokeApiKey(s.ctx, revoked.id);
    // The worker's own refusals: a key revoked behind the API's back (delivery/authority.ts, its subscription
    // still active), and a pending delivery whose subscription was turned off (the claim cancels it).
    const behind = await s.createKeyRecord(setup.workspace.id);
    await api(s.url, behind.key).post('/v1/subscriptions', {
      event_type: 'ticket.created',
      target_url: `${rx.url}?behind`,
    });
    await s.ctx.db.run('UPDATE api_keys SET revoked_at = ? WHERE id = ?', new Date().toISOString(), behind.id);
    await zap.post('/v1/tickets', { subject: 'Refused' });
    await s.ctx.db.run(
      `INSERT INTO deliveries (id, event_id, subscription_id, workspace_id, event_type, status, next_attempt_ms, created_at)
     VALUES ('dlv_orphan', ?, ?, ?, 'ticket.assigned', 'pending', 0, ?)`,
      eventId,
      hook.id,
      setup.workspace.id,
      new Date().toISOString(),
    );
    await s.worker!.runOnce();
    // Later pages of the key's subscriptions; a tag on a conversation that has a contact (its lead form ran).
    const subscriptions = (await zap.get('/v1/subscriptions?limit=1')).body as { nextCursor: string | null };
    if (!subscriptions.nextCursor) throw new Error('the workload needs a second page of subscriptions');
    await zap.get(`/v1/subscriptions?limit=1&cursor=${encodeURIComponent(subscriptions.nextCursor)}`);
    await visitor.post(`/v1/widget/conversations/${world.idleConversationId}/lead`, { email: 'tagged@example.com' });
    await zap.post(`/v1/conversations/${world.idleConversationId}/tags`, { tag: 'Lead' });
    const cursor = newCursor();
    const settings = { ...s.ctx.config.retention, eventsMs: 0, deliveriesMs: 0, batchSize: 100 };
    for (let i = 0; i < 1000 && !(await pruneBatch(s.ctx.db, s.ctx.clock.now(), settings, cursor)).passDone; i++);
    await s.worker!.idle();
  }

  /** Every settings page and form (http/settings-pages.ts), as an owner signed in with a link would use them. */
  async function settingsPagesWorkload(s: ApiServer, rx: Receiver, workspaceId: string, world: World): Promise<void> {
    const owner = await createAgent(s.ctx, workspaceId, { name: 'Owner', email: 'owner@example.com', role: 'owner' });
    const { token } = await createSignInLink(s.ctx, owner.id);
    const page = (path: string, init: RequestInit = {}) =>
      fetch(`${s.url}${path}`, { redirect: 'manual', ...init }).then(async (res) => {
        if (res.status >= 400) throw new Error(`${path}: ${res.status} ${await res.text()}`);
        return res;
      });
    await page(`/sign-in?token=${token}`);
    const signedIn = await page('/sign-in', { method: 'POST', body: new URLSearchParams({ token }) });
    const cookie = at((signedIn.headers.get('set-cookie') ?? '').split(';'), 0);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(
      await (await page('/settings/keys', { headers: { cookie } })).text(),
    )?.[1];
    const form = (path: string, fields: Record<string, string>) =>
      page(path, { method: 'POST', headers: { cookie }, body: new URLSearchParams({ _csrf: csrf ?? '', ...fields }) });
    for (const path of [
      '/settings/zaps',
      '/settings/deliveries',
      '/settings/deliveries?status=succeeded',
      `/settings/deliveries/${world.deliveryId}`,
      '/settings/workspace',
      '/settings/deliveries?subscription=sub_not_listed', // a Zap filter outside the newest 100: looked up
    ])
      await page(path, { headers: { cookie } });
    const created = await (await form('/settings/keys', { name: 'Pages', scopes: 'events:read' })).text();
    const keyId = /\/settings\/keys\/(key_\w+)\/revoke/.exec(
      await (await page('/settings/keys', { headers: { cookie } })).text(),
    )?.[1];
    if (!created.includes('wsk_live_') || !keyId) throw new Error('the settings workload could not create a key');
    await page(`/settings/keys/${keyId}/revoke`, { headers: { cookie } });
    await form(`/settings/keys/${keyId}/revoke`, {});
    await page(`/settings/keys?revoked=${keyId}`, { headers: { cookie } });
    await form(`/settings/deliveries/${world.deliveryId}/replay`, {});
    rx.script(reply(500)); // a replay that fails
    await form(`/settings/deliveries/${world.deliveryId}/replay`, {});
    // Another owner first: the last owner able to sign in may not step down (domain/workspaces.ts).
    await createAgent(s.ctx, workspaceId, { name: 'Second owner', email: 'owner2@example.com', role: 'owner' });
    await setAgentRole(s.ctx, owner.id, 'admin');
    await form(`/settings/zaps/${world.subscriptionId}/replay`, { since: '2026-01-01T00:00' });
    await form('/sign-out', {});
  }

  // ---------------------------------------------------------------------------------------------------------
  // The checks

  function statements(): Map<string, Set<string>> {
    const bySql = new Map<string, Set<string>>();
    for (const { text, site } of mockPrepared) {
      const normalized = text.replace(/\s+/g, ' ').trim();
      if (!/^(SELECT|INSERT|UPDATE|DELETE|WITH)\b/i.test(normalized) || site === '(outside partner-api)') continue;
      if (!bySql.has(normalized)) bySql.set(normalized, new Set());
      bySql.get(normalized)!.add(site);
    }
    return bySql;
  }

  /** Binds NULL to every parameter: plans do not depend on values here (no ANALYZE statistics). */
  function explain(prefix: 'EXPLAIN' | 'EXPLAIN QUERY PLAN', text: string): Record<string, unknown>[] {
    const statement = sqliteHandle(server.ctx.store).prepare(`${prefix} ${text}`);
    for (let count = 0; ; count++) {
      try {
        return statement.all(...new Array(count).fill(null)) as Record<string, unknown>[];
      } catch (error) {
        // Thrown from better-sqlite3's realm, not jest's: compared by name.
        if ((error as Error).name !== 'RangeError' || count > 100) throw error;
      }
    }
  }

  /** Source lines that run a statement: the store's statement methods (`db.one(`, `tx.run(`, …) and `.prepare(`
   * calls, outside the store itself. */
  function callSites(): string[] {
    const sites: string[] = [];
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (entry.name.endsWith('.ts')) {
          const file = path.relative(ROOT, full);
          // PostgreSQL's own statements (its store, locks, claimer) never run on this SQLite workload.
          if (STORE_FILES.has(file) || /^partner-api\/(db|delivery)\/pg-/.test(file)) continue;
          fs.readFileSync(full, 'utf8')
            .split('\n')
            .forEach((line, i) => {
              if (/^\s*(\*|\/\/)/.test(line)) return;
              if (/\b(db|tx|store)\.(one|value|values|all|run)(<[^(]*>)?\(|\.prepare(<[^(]*>)?\(/.test(line))
                sites.push(`${file}:${i + 1}`);
            });
        }
      }
    };
    walk(path.join(ROOT, 'partner-api'));
    return sites;
  }

  /** Root page → table name, for both a table's and an index's pages. */
  async function tablesByRootPage(): Promise<Map<number, string>> {
    const rows = await server.ctx.db.all<{ rootpage: number; tableName: string }>(
      `SELECT rootpage, tbl_name AS tableName FROM sqlite_schema WHERE rootpage > 0`,
    );
    return new Map(rows.map((r) => [r.rootpage, r.tableName]));
  }

  interface Op {
    addr: number;
    opcode: string;
    p1: number;
    p2: number;
    p3: number;
  }

  /** Cursor number → the table it reads (through the table or one of its indexes). */
  function cursorTables(ops: Op[], rootPages: Map<number, string>): Map<number, string> {
    const cursorTable = new Map<number, string>();
    for (const op of ops)
      if (op.opcode === 'OpenRead' || op.opcode === 'OpenWrite') cursorTable.set(op.p1, rootPages.get(op.p2) ?? '?');
    return cursorTable;
  }

  function tablesOpened(text: string, rootPages: Map<number, string>): string[] {
    return [...cursorTables(explain('EXPLAIN', text) as unknown as Op[], rootPages).values()];
  }

  const JUMPS_ON_A_ROW = new Set([
    'Eq',
    'Ne',
    'Lt',
    'Le',
    'Gt',
    'Ge',
    'If',
    'IfNot',
    'IsNull',
    'NotNull',
    'IsType',
    'IfNullRow',
    'NotFound',
    'Found',
    'SeekRowid',
    'NotExists',
  ]);

  /**
   * Loops over a large table's rows (or one of its indexes) that reject rows: a row-dependent jump inside the
   * loop body straight to the loop's own Next/Prev, i.e. "skip this row, read the next one".
   */
  function skippingLoops(text: string, rootPages: Map<number, string>): string[] {
    const ops = explain('EXPLAIN', text) as unknown as Op[];
    const cursorTable = cursorTables(ops, rootPages);
    const found: string[] = [];
    for (const loop of ops) {
      if (loop.opcode !== 'Next' && loop.opcode !== 'Prev') continue;
      const table = cursorTable.get(loop.p1);
      if (!table || !LARGE.has(table)) continue;
      const body = ops.filter((op) => op.addr >= loop.p2 && op.addr < loop.addr);
      if (body.some((op) => JUMPS_ON_A_ROW.has(op.opcode) && op.p2 === loop.addr)) found.push(table);
    }
    return found;
  }

  describe('query plans of every statement the API prepares', () => {
    it('the workload ran every statement in partner-api/ (so the checks below see them all)', () => {
      const ran = new Set(mockPrepared.map((p) => p.site));
      const notRun = callSites().filter((site) => !ran.has(site));
      expect(notRun).toEqual([]);
    });

    it('no statement scans a whole table', () => {
      const scans: string[] = [];
      for (const [text, sites] of statements()) {
        if (ALLOWED[text]) continue;
        for (const row of explain('EXPLAIN QUERY PLAN', text)) {
          const detail = String(row.detail);
          if (/^SCAN (?!CONSTANT ROW)/.test(detail))
            scans.push(`${detail}\n    ${text}\n    at ${[...sites].join(', ')}`);
        }
      }
      expect(scans).toEqual([]);
    });

    it('no statement reads rows of a large table only to skip them', async () => {
      const rootPages = await tablesByRootPage();
      const skipping: string[] = [];
      for (const [text, sites] of statements()) {
        if (ALLOWED[text]) continue;
        const tables = skippingLoops(text, rootPages);
        if (tables.length > 0) skipping.push(`${tables.join(', ')}: ${text}\n    at ${[...sites].join(', ')}`);
      }
      expect(skipping).toEqual([]);
    });

    it('no statement sorts rows of a large table (a LIMIT only stops a walk that is already in order)', async () => {
      const sorting: string[] = [];
      const rootPages = await tablesByRootPage();
      for (const [text, sites] of statements()) {
        if (ALLOWED[text]) continue;
        const plan = explain('EXPLAIN QUERY PLAN', text).map((row) => String(row.detail));
        const touchesLarge = tablesOpened(text, rootPages).some((table) => LARGE.has(table));
        if (touchesLarge && plan.some((detail) => detail.startsWith('USE TEMP B-TREE')))
          sorting.push(`${plan.join(' | ')}\n    ${text}\n    at ${[...sites].join(', ')}`);
      }
      expect(sorting).toEqual([]);
    });

    it('each exception is still needed (an index added later makes its entry obsolete)', async () => {
      const seen = statements();
      const rootPages = await tablesByRootPage();
      for (const text of Object.keys(ALLOWED)) {
        expect({ text, ran: seen.has(text) }).toEqual({ text, ran: true });
        const scans = explain('EXPLAIN QUERY PLAN', text).some((row) =>
          /^SCAN (?!CONSTANT ROW)|^USE TEMP B-TREE/.test(String(row.detail)),
        );
        expect({ text, needed: scans || skippingLoops(text, rootPages).length > 0 }).toEqual({ text, needed: true });
      }
    });
  });
});

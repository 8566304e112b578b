/**
 * The workload both query-plan guards watch (test/db/query-plans.test.ts on SQLite, query-plans-pg.test.ts on
 * PostgreSQL): large tables seeded, then every route the app registers with a well-formed request
 * (test/proof/support/routes.ts, which the fuzz test keeps complete), the settings pages, the delivery worker
 * delivering, retrying, meeting a 410 and a revoked key, the fan-out and a retention pass; and the recording of
 * every statement the store runs, with the line in partner-api/ that ran it.
 */
import fs from 'node:fs';
import path from 'node:path';

import { fixtureFor } from '../../../fixtures';
import { inTransaction } from '../../../partner-api/context';
import { newCursor, pruneBatch } from '../../../partner-api/db/retention';
import { expandFanOut, INLINE_FANOUT_LIMIT } from '../../../partner-api/delivery/fanout';
import { recordEvent } from '../../../partner-api/delivery/outbox';
import { type Completion, recordWorkerBatch } from '../../../partner-api/delivery/recording';
import type { SendResult } from '../../../partner-api/delivery/send';
import type { ClaimedDelivery } from '../../../partner-api/delivery/store';
import { listApiKeys, revokeApiKey } from '../../../partner-api/domain/api-keys';
import {
  IDEMPOTENCY_KEEP_MS,
  IDEMPOTENCY_STALE_RUNNING_MS,
  requestHash,
} from '../../../partner-api/domain/idempotency';
import { createSignInLink } from '../../../partner-api/domain/sessions';
import {
  createAgent,
  isEmptyDatabase,
  listAgents,
  listWorkspaces,
  revokeAgentToken,
  rotateAgentToken,
  setAgentRole,
  setWorkspacePlan,
} from '../../../partner-api/domain/workspaces';
import { newId } from '../../../partner-api/lib/ids';
import { methodOf, pathOf, ROUTES, type World } from '../../proof/support/routes';
import { buildWorld, type FinishedDelivery } from '../../proof/support/world';
import { api, type ApiServer, waitUntil } from '../../support/api-server';
import { at } from '../../support/items';
import { type Receiver, reply } from '../../support/receiver';

const ROOT = path.join(__dirname, '../../..');

/** Tables whose rows grow with traffic, not with the number of customers. */
export const LARGE = new Set([
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

// ---------------------------------------------------------------------------------------------------------
// Recording what runs, and where

/** A statement the store was asked to run: its text, its first parameters, the partner-api/ line that ran it. */
export interface Ran {
  text: string;
  params: unknown[];
  site: string;
}

const METHODS = ['one', 'value', 'values', 'all', 'run'] as const;

/**
 * Records every call of the store methods (one, value, values, all, run) on `prototypes` into the returned
 * list, with its call site: the first frame in partner-api/ outside `storeFiles` (the store and the
 * statement cache). Each call is recorded where it is made (a root store's write runs later, in its group
 * commit, where the caller is no longer on the stack). `restore()` puts the methods back.
 */
export function recordStatements(
  prototypes: object[],
  storeFiles: ReadonlySet<string>,
): { ran: Ran[]; restore: () => void } {
  const ran: Ran[] = [];
  const patched: [Record<string, unknown>, string, unknown][] = [];
  for (const proto of prototypes as Record<string, unknown>[]) {
    for (const method of METHODS) {
      const original = proto[method] as (this: unknown, text: string, ...params: unknown[]) => unknown;
      patched.push([proto, method, original]);
      proto[method] = function (this: unknown, text: string, ...params: unknown[]) {
        ran.push({ text, params, site: callSite(storeFiles) });
        return original.call(this, text, ...params);
      };
    }
  }
  return {
    ran,
    restore() {
      for (const [proto, method, original] of patched) proto[method] = original;
    },
  };
}

/** "partner-api/dir/file.ts:line" of the first frame in partner-api/ outside `storeFiles`. */
function callSite(storeFiles: ReadonlySet<string>): string {
  for (const line of (new Error().stack ?? '').split('\n').slice(3)) {
    const match = /\((.*?):(\d+):\d+\)$/.exec(line) ?? /at (.*?):(\d+):\d+$/.exec(line);
    if (!match) continue;
    const file = path.relative(ROOT, at(match, 1));
    if (file.startsWith('partner-api/') && !storeFiles.has(file)) return `${file}:${match[2]}`;
  }
  return '(outside partner-api)';
}

/** A statement that ran: its text as written, its first parameters, and the lines that ran it. */
export interface Statement {
  original: string;
  params: unknown[];
  sites: Set<string>;
}

/** The data statements (SELECT, INSERT, UPDATE, DELETE, WITH) run from partner-api/, by whitespace-collapsed text. */
export function statements(ran: Ran[]): Map<string, Statement> {
  const bySql = new Map<string, Statement>();
  for (const { text, params, site } of ran) {
    const normalized = text.replace(/\s+/g, ' ').trim();
    if (!/^(SELECT|INSERT|UPDATE|DELETE|WITH)\b/i.test(normalized) || site === '(outside partner-api)') continue;
    if (!bySql.has(normalized)) bySql.set(normalized, { original: text, params, sites: new Set() });
    bySql.get(normalized)!.sites.add(site);
  }
  return bySql;
}

/**
 * Source lines in partner-api/ that run a statement: the store's statement methods (`db.one(`, `tx.run(`, …)
 * and `.prepare(` calls, outside `skip` (the store itself, and the other engine's files).
 */
export function callSites(skip: (file: string) => boolean): string[] {
  const sites: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) {
        const file = path.relative(ROOT, full);
        if (skip(file)) continue;
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

// ---------------------------------------------------------------------------------------------------------
// The workload

/** Seeds the large tables, then runs the workload on `s` (started with its delivery worker), delivering to `rx`. */
export async function runPlanWorkload(s: ApiServer, rx: Receiver): Promise<void> {
  await seedLargeTables(s);
  await runWorkload(s, rx);
}

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
  // Other customers' Zaps: on PostgreSQL, after ANALYZE, the fan-out's look-up by workspace and event type
  // then costs less through its index than a walk of every subscription in rowid order.
  await db.write(async (db) => {
    for (let w = 0; w < 100; w++) {
      const other = `ws_seed${w}`;
      await db.run(`INSERT INTO workspaces (id, name, plan, created_at) VALUES (?, 'Other', 'pro', ?)`, other, at);
      await db.run(
        `INSERT INTO api_keys (id, workspace_id, name, prefix, secret_hash, scopes, created_at) VALUES (?, ?, 'k', 'p', ?, 'events:read', ?)`,
        `key_seed${w}`,
        other,
        `hash_seed${w}`,
        at,
      );
      for (let i = 0; i < 20; i++)
        await db.run(
          `INSERT INTO subscriptions (id, workspace_id, api_key_id, event_type, target_url, secret, created_at) VALUES (?, ?, ?, ?, ?, 'whsec_x', ?)`,
          `sub_seed${w}_${i}`,
          other,
          `key_seed${w}`,
          i % 2 === 0 ? 'ticket.created' : 'ticket.assigned',
          `https://hooks.example.com/${w}/${i}`,
          at,
        );
    }
  });
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
  const built = await buildWorld(s, {
    receiverUrl: rx.url,
    finishDelivery: async (hookId) =>
      await waitUntil(
        async () =>
          (await s.ctx.db.one<FinishedDelivery>(
            `SELECT id, event_id FROM deliveries WHERE subscription_id = ? AND status = 'succeeded'`,
            hookId,
          )) ?? undefined,
        10_000,
        'the first delivery',
      ),
  });
  const { world, hook, agent, otherAgent: other } = built;
  const setup = { key: built.key, workspace: { id: built.workspaceId }, assistant: { id: world.assistantId } };
  const zap = api(s.url, setup.key);
  const visitor = api(s.url);
  const contactEmail = world.contactEmail;
  const contact = { id: world.contactId };
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
    const res = await api(s.url, credential).raw(methodOf(route), pathOf(route, params) + (query ? `?${query}` : ''), {
      body: spec.body ? JSON.stringify(spec.body(world, ++n)) : undefined,
      headers: {
        ...(credential ? { authorization: `Bearer ${credential}` } : {}),
        ...(spec.body ? { 'content-type': 'application/json' } : {}),
        'idempotency-key': `route ${route}`,
      },
    });
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
  await inTransaction(s.ctx, async (ctx) => {
    await recordEvent(ctx, {
      id: eventId,
      workspaceId: setup.workspace.id,
      type: 'ticket.assigned',
      assistantId: null,
      createdAt: payload.createdAt,
      payload,
    });
    // One row's share, in the event's own transaction: no other expander (the worker's, woken by the
    // commit) can take the event first, so this one stops after a row and the rest resumes after it.
    await expandFanOut(ctx, 1);
  });
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
  await recordMixedBatch(s, hook.id, [world.deliveryId, 'dlv_orphan']);
  // Later pages of the key's subscriptions; a tag on a conversation that has a contact (its lead form ran).
  const subscriptions = (await zap.get('/v1/subscriptions?limit=1')).body as { nextCursor: string | null };
  if (!subscriptions.nextCursor) throw new Error('the workload needs a second page of subscriptions');
  await zap.get(`/v1/subscriptions?limit=1&cursor=${encodeURIComponent(subscriptions.nextCursor)}`);
  await visitor.post(`/v1/widget/conversations/${world.idleConversationId}/lead`, { email: 'tagged@example.com' });
  await zap.post(`/v1/conversations/${world.idleConversationId}/tags`, { tag: 'Lead' });
  const cursor = newCursor();
  // Batches bounded by rows only: a whole pass, in a bounded number of batches however loaded the machine.
  const settings = {
    ...s.ctx.config.retention,
    eventsMs: 0,
    deliveriesMs: 0,
    batchSize: 100,
    batchBudgetMs: Number.POSITIVE_INFINITY,
  };
  for (let i = 0; i < 1000 && !(await pruneBatch(s.ctx.db, s.ctx.clock.now(), settings, cursor)).passDone; i++);
  await s.worker!.idle();
}

/**
 * Records, as the worker does on this engine (delivery/recording.ts recordWorkerBatch), a batch in which a
 * failure finished before a success: on PostgreSQL only such a batch writes its successes row by row (a
 * batch of successes alone is written set-based), and which batches the worker happens to form depends on
 * timing. Two of `subscriptionId`'s delivery rows stand in for claimed ones, at an attempt number no real
 * attempt has; the transaction is rolled back, so the workload's rows stay as they were.
 */
async function recordMixedBatch(s: ApiServer, subscriptionId: string, [failedId, succeededId]: string[]) {
  const claimed = (id: string): ClaimedDelivery => ({
    id,
    subscriptionId,
    eventId: 'evt_stand_in',
    eventType: 'ticket.created',
    payload: '{}',
    targetUrl: 'https://hooks.example.com/stand-in',
    secret: 'whsec_stand_in',
    attempt: 1000,
    claimToken: 'stand-in',
    holder: { workspaceId: 'ws_stand_in', host: 'hooks.example.com', subscriptionId },
  });
  const response = (status: number): SendResult => ({
    kind: 'response',
    status,
    retryAfter: undefined,
    location: undefined,
    body: '',
    durationMs: 1,
  });
  const batch: Completion[] = [
    { delivery: claimed(failedId!), startedAtMs: 1, result: response(500) },
    { delivery: claimed(succeededId!), startedAtMs: 2, result: response(200) },
  ];
  const rolledBack = new Error('rolled back on purpose');
  const opts = { settings: s.ctx.config.delivery, random: () => 0.5, now: s.ctx.clock.now() };
  await inTransaction(s.ctx, async (tx) => {
    await recordWorkerBatch(tx, batch, [], opts);
    throw rolledBack;
  }).catch((err: unknown) => {
    if (err !== rolledBack) throw err;
  });
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

/**
 * Who may do what, beyond test/api/auth.test.ts (which has the check order, the scope matrix and agent
 * tokens): every Zapier-facing endpoint × every refused credential with its exact status and code, and
 * above all isolation. Two populated workspaces; everything workspace B can reach (its key, its agents,
 * the public widget endpoints) is aimed at workspace A's ids, and nothing of A is ever returned or changed.
 */
import { generateApiKey } from '../../partner-api/domain/credentials';
import openapi from '../../partner-api/openapi.json';
import { KEYED_ENDPOINTS, type KeyedEndpoint } from '../support/api-endpoints';
import {
  api,
  type ApiClient,
  type ApiServer,
  deliveriesSettled,
  startApiServer,
  waitUntil,
} from '../support/api-server';
import { at } from '../support/items';
import { type Receiver, startReceiver } from '../support/receiver';
import { isErrorShape, snapshot } from './support/state';

let server: ApiServer;
const receivers: Receiver[] = [];
beforeAll(async () => {
  server = await startApiServer({ delivery: true });
});
afterAll(async () => {
  for (const rx of receivers) await rx.close();
  await server.close();
});

function call(client: ApiClient, endpoint: KeyedEndpoint, headers: Record<string, string> = {}) {
  const body = endpoint.body === undefined ? undefined : JSON.stringify(endpoint.body);
  return client.raw(endpoint.method, endpoint.path, {
    body,
    headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
  });
}

describe('every Zapier-facing endpoint × every refused credential', () => {
  it('covers every operation the OpenAPI document says needs a key', () => {
    const documented = Object.entries(
      openapi.paths as Record<string, Record<string, { 'x-required-scope'?: string }>>,
    ).flatMap(([p, item]) =>
      Object.entries(item)
        .filter(([, op]) => op['x-required-scope'])
        .map(([method]) => `${method.toUpperCase()} ${p}`),
    );
    const listed = KEYED_ENDPOINTS.map(
      (e) =>
        `${e.method} ${at(e.path.split('?'), 0)
          .replace(/\/(sub|tkt|cnv|con|dlv|evt)_\w+/, '/{id}')
          .replace(/\/tags\/[^/]+$/, '/tags/{tag}')}`,
    );
    expect(new Set(listed)).toEqual(new Set(documented));
  });

  it('answers the exact status and code, and changes nothing', async () => {
    const ws = await server.createWorkspace({ plan: 'pro' });
    const revoked = await server.createKeyRecord(ws.id);
    await server.revokeKey(revoked.id);
    const free = await server.createKey((await server.createWorkspace({ plan: 'free' })).id);
    const starter = await server.createKey((await server.createWorkspace({ plan: 'starter' })).id);
    const key = generateApiKey();
    const typo = key.slice(0, -1) + (key.endsWith('x') ? 'y' : 'x'); // a checksum that no longer matches
    const credentials: [string, Record<string, string>, number, string][] = [
      ['no key', {}, 401, 'api_key_missing'],
      ['malformed', { authorization: `Bearer ${typo}` }, 401, 'api_key_malformed'],
      ['malformed (X-API-Key)', { 'x-api-key': 'wsk_live_short' }, 401, 'api_key_malformed'],
      [
        'an agent token',
        { authorization: `Bearer ${(await server.createAgent(ws.id)).token}` },
        401,
        'api_key_malformed',
      ],
      ['unknown', { authorization: `Bearer ${key}` }, 401, 'api_key_invalid'],
      ['revoked', { authorization: `Bearer ${revoked.key}` }, 401, 'api_key_revoked'],
      ['free plan', { authorization: `Bearer ${free}` }, 403, 'plan_upgrade_required'],
      ['starter plan', { authorization: `Bearer ${starter}` }, 403, 'plan_upgrade_required'],
    ];
    const before = await snapshot(server.ctx.db);
    for (const endpoint of KEYED_ENDPOINTS) {
      for (const [name, headers, status, code] of credentials) {
        const res = await call(api(server.url), endpoint, headers);
        const what = `${endpoint.method} ${endpoint.path} / ${name}`;
        if (endpoint.anyPlan && code === 'plan_upgrade_required') {
          // Unsubscribing works below Pro: past authentication, an unknown id is 200 and an unknown URL 404.
          expect({ what, refusedByAuth: [401, 403].includes(res.status) }).toEqual({ what, refusedByAuth: false });
          continue;
        }
        expect({ what, shape: isErrorShape(res.body), status: res.status, code: res.body.error?.code }).toEqual({
          what,
          shape: true,
          status,
          code,
        });
      }
    }
    expect(await snapshot(server.ctx.db)).toEqual(before);
  });
});

const settled = () => deliveriesSettled(server, 15_000);

/** A workspace with one of everything, made through the API as its Zaps, agents and visitors would. */
async function populate(label: string) {
  const { workspace, assistant, key } = await server.setup();
  const agent = await server.createAgent(workspace.id, { name: `${label} Agent`, email: `agent@${label}.example` });
  const agent2 = await server.createAgent(workspace.id, { name: `${label} Second`, email: `second@${label}.example` });
  const zap = api(server.url, key);
  const console = api(server.url, agent.token);
  const visitor = api(server.url);
  const rx = await startReceiver();
  receivers.push(rx);

  const ok = <T>(res: { status: number; body: T }, status = 201): T => {
    if (res.status !== status) throw new Error(`set-up failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const subscriptions = [];
  for (const eventType of ['lead.captured', 'ticket.created', 'ticket.status_changed', 'widget.conversation_started']) {
    // One hook URL per Zap, as Zapier's are: a second subscribe to one URL would replace the first.
    subscriptions.push(
      ok<{ id: string }>(
        await zap.post('/v1/subscriptions', { event_type: eventType, target_url: `${rx.url}/${eventType}` }),
      ),
    );
  }
  const email = `vip@${label}.example`;
  const contact = ok<{ id: string }>(
    await zap.post('/v1/contacts', {
      email,
      name: `${label} VIP`,
      phone: '+1 555 0100',
      company: `${label} Corp`,
      notes: `${label} secret notes`,
    }),
  );
  const ticket = ok<{ id: string }>(
    await zap.post(
      '/v1/tickets',
      { subject: `${label} ticket`, contact_email: email },
      { 'Idempotency-Key': 'shared-key' },
    ),
  );
  const conversation = ok<{ id: string }>(
    await visitor.post(`/v1/widget/assistants/${assistant.id}/conversations`, {
      message: `${label} hello`,
      visitor_email: email,
    }),
  );
  ok(await zap.post(`/v1/contacts/${contact.id}/tags`, { tag: `${label} secret tag` }));
  ok(await zap.post(`/v1/conversations/${conversation.id}/tags`, { tag: `${label} secret tag` }));
  ok(await console.post(`/v1/agent/contacts/${contact.id}/notes`, { body: `${label} secret note` }));
  ok(
    await console.post('/v1/agent/contact-attributes', {
      key: `${label}_secret`,
      label: `${label} secret`,
      type: 'text',
    }),
  );
  const closable = ok<{ id: string }>(
    await visitor.post(`/v1/widget/assistants/${assistant.id}/conversations`, { message: `${label} closable` }),
  );
  const active = ok<{ id: string }>(await visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {}));
  ok(await console.post(`/v1/agent/live-chat/sessions/${active.id}/accept`), 200);
  const other = ok<{ id: string }>(
    await visitor.post(`/v1/widget/assistants/${assistant.id}/conversations`, { message: `${label} again` }),
  );
  const queued = ok<{ id: string }>(await visitor.post(`/v1/widget/conversations/${other.id}/handoff`, {}));
  ok(await zap.post(`/v1/conversations/${conversation.id}/messages`, { message: `${label} from a Zap` }));
  ok(await zap.patch(`/v1/tickets/${ticket.id}`, { status: 'open' }), 200);
  return {
    label,
    workspace,
    assistant,
    key,
    agent,
    agent2,
    zap,
    console,
    visitor,
    rx,
    email,
    contact,
    ticket,
    conversation,
    closable,
    other,
    active,
    queued,
    subscriptions,
    /** Everything that identifies this workspace's data; none may appear in an answer to the other one. */
    markers: [
      workspace.id,
      assistant.id,
      agent.id,
      agent2.id,
      agent.email,
      contact.id,
      email,
      `${label} VIP`,
      `${label} Corp`,
      `${label} secret`,
      ticket.id,
      conversation.id,
      closable.id,
      `${label}_secret`,
      other.id,
      active.id,
      queued.id,
      `${label} hello`,
      `${label} ticket`,
      `${label} from a Zap`,
      ...subscriptions.map((s) => s.id),
    ],
  };
}

describe('isolation between workspaces', () => {
  let a: Awaited<ReturnType<typeof populate>>;
  let b: Awaited<ReturnType<typeof populate>>;
  beforeAll(async () => {
    a = await populate('alpha');
    b = await populate('bravo');
  });

  /** What B may not see: A's markers, except the id B itself sent (an error may name what it was asked). */
  function expectNothingOfA(res: { body: unknown }, sent: string): void {
    const text = JSON.stringify(res.body);
    for (const marker of a.markers)
      if (!sent.includes(marker)) expect({ marker, leaked: text.includes(marker) }).toEqual({ marker, leaked: false });
  }

  /** A request from B aimed at A: the expected status and code, nothing of A returned, nothing stored changed. */
  async function refused(
    credential: string,
    method: string,
    path: string,
    body: unknown,
    status: number,
    code: string,
  ) {
    await settled();
    const before = await snapshot(server.ctx.db);
    const res = await api(server.url).raw(method, path, {
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: {
        authorization: `Bearer ${credential}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
    });
    expect({ path, status: res.status, code: res.body?.error?.code }).toEqual({ path, status, code });
    expectNothingOfA(res, path + JSON.stringify(body ?? null));
    expect(await snapshot(server.ctx.db)).toEqual(before);
  }

  it("B's key cannot change or act on A's tickets, conversations, contacts or assistants", async () => {
    const key = b.key;
    await refused(key, 'PATCH', `/v1/tickets/${a.ticket.id}`, { status: 'closed', subject: 'pwned' }, 404, 'not_found');
    await refused(
      key,
      'POST',
      `/v1/conversations/${a.conversation.id}/messages`,
      { message: 'hi from B' },
      404,
      'not_found',
    );
    await refused(key, 'POST', '/v1/tickets', { subject: 'x', contact_email: a.email }, 422, 'contact_not_found');
    await refused(key, 'GET', `/v1/contacts/${a.contact.id}`, undefined, 404, 'not_found');
    await refused(key, 'POST', `/v1/contacts/${a.contact.id}/tags`, { tag: 'pwned' }, 404, 'not_found');
    await refused(key, 'DELETE', `/v1/contacts/${a.contact.id}/tags/alpha%20secret%20tag`, undefined, 404, 'not_found');
    await refused(key, 'POST', `/v1/contacts/${a.contact.id}/notes`, { body: 'pwned' }, 404, 'not_found');
    await refused(key, 'GET', `/v1/tickets/${a.ticket.id}`, undefined, 404, 'not_found');
    await refused(key, 'GET', `/v1/conversations/${a.conversation.id}`, undefined, 404, 'not_found');
    await refused(key, 'POST', `/v1/conversations/${a.conversation.id}/tags`, { tag: 'pwned' }, 404, 'not_found');
    await refused(
      key,
      'DELETE',
      `/v1/conversations/${a.conversation.id}/tags/alpha%20secret%20tag`,
      undefined,
      404,
      'not_found',
    );
    await refused(
      key,
      'POST',
      '/v1/contacts',
      { email: 'x@bravo.example', attributes: { alpha_secret: 'x' } },
      422,
      'validation_failed',
    );
    await refused(
      key,
      'POST',
      '/v1/subscriptions',
      { event_type: 'lead.captured', target_url: b.rx.url, assistant_id: a.assistant.id },
      422,
      'validation_failed',
    );
  });

  it("B's agents cannot touch A's tickets, sessions, conversations or agents, nor hand B's work to A's agents", async () => {
    const agent = b.agent.token;
    await refused(agent, 'POST', `/v1/agent/tickets/${a.ticket.id}/assign`, { agent_id: b.agent.id }, 404, 'not_found');
    await refused(agent, 'POST', `/v1/agent/tickets/${a.ticket.id}/status`, { status: 'closed' }, 404, 'not_found');
    await refused(agent, 'POST', `/v1/agent/tickets/${b.ticket.id}/assign`, { agent_id: a.agent.id }, 404, 'not_found');
    await refused(
      agent,
      'POST',
      '/v1/agent/tickets',
      { subject: 'x', conversation_id: a.conversation.id },
      404,
      'not_found',
    );
    await refused(
      agent,
      'POST',
      '/v1/agent/tickets',
      { subject: 'x', contact_email: a.email },
      422,
      'contact_not_found',
    );
    await refused(agent, 'POST', `/v1/agent/live-chat/sessions/${a.queued.id}/accept`, undefined, 404, 'not_found');
    await refused(
      agent,
      'POST',
      `/v1/agent/live-chat/sessions/${a.active.id}/transfer`,
      { to_agent_id: b.agent2.id },
      404,
      'not_found',
    );
    await refused(agent, 'POST', `/v1/agent/live-chat/sessions/${a.active.id}/end`, {}, 404, 'not_found');
    await refused(agent, 'POST', `/v1/agent/conversations/${a.closable.id}/close`, {}, 404, 'not_found');
    await refused(agent, 'POST', `/v1/agent/contacts/${a.contact.id}/tags`, { tag: 'pwned' }, 404, 'not_found');
    await refused(
      agent,
      'POST',
      `/v1/agent/conversations/${a.conversation.id}/tags`,
      { tag: 'pwned' },
      404,
      'not_found',
    );
    await refused(agent, 'POST', `/v1/agent/contacts/${a.contact.id}/notes`, { body: 'pwned' }, 404, 'not_found');
    await refused(
      agent,
      'POST',
      `/v1/agent/live-chat/sessions/${b.active.id}/transfer`,
      { to_agent_id: a.agent.id },
      404,
      'not_found',
    );
  });

  it("B unsubscribing A's subscription answers as for any unknown id, and A keeps getting its deliveries", async () => {
    const sub = at(a.subscriptions, 0);
    await settled();
    const before = await snapshot(server.ctx.db);
    const res = await b.zap.delete(`/v1/subscriptions/${sub.id}`);
    expect(res).toMatchObject({ status: 200, body: { id: sub.id, active: false } });
    expect(await snapshot(server.ctx.db)).toEqual(before);
    const made = await a.zap.post('/v1/contacts', { email: 'after-unsubscribe@alpha.example' });
    await waitUntil(() => a.rx.requests.some((r) => r.text.includes(made.body.id)), 15_000, "A's delivery");
  });

  it('lists, finds and samples only what is B’s own, whatever filter or cursor B sends', async () => {
    const cursorAt = (position: unknown[]) => Buffer.from(JSON.stringify(position)).toString('base64url');
    const reads = [
      '/v1/me',
      '/v1/assistants',
      '/v1/tickets',
      '/v1/tickets?limit=100',
      `/v1/tickets?cursor=${cursorAt([1_000_000])}`,
      '/v1/conversations',
      '/v1/conversations?mode=human',
      `/v1/conversations?cursor=${cursorAt(['9999-12-31T00:00:00.000Z', 'cnv_ffffffffffffffffffffffff'])}`,
      `/v1/contacts?email=${encodeURIComponent(a.email)}`,
      `/v1/contacts?email=${encodeURIComponent(a.email.toUpperCase())}`,
      `/v1/conversations?visitor_email=${encodeURIComponent(a.email)}`,
      '/v1/tickets?number=1',
      '/v1/tickets?number=2',
      '/v1/contact-attributes',
      ...[
        'lead.captured',
        'ticket.created',
        'ticket.status_changed',
        'widget.conversation_started',
        'live_chat.agent_assigned',
        'tag.added',
        'conversation.closed',
      ].flatMap((t) => [
        `/v1/samples?event_type=${t}&limit=10`,
        `/v1/samples?event_type=${t}&assistant_id=${a.assistant.id}`,
      ]),
    ];
    for (const path of reads) {
      const res = await b.zap.get(path);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      expectNothingOfA(res, path);
    }
    // And each list does hold B's own records, so the filter is not simply "nothing".
    expect((await b.zap.get('/v1/tickets')).body.data.map((t: { id: string }) => t.id)).toContain(b.ticket.id);
    expect((await b.zap.get('/v1/conversations?mode=human')).body.data.map((c: { id: string }) => c.id)).toEqual([
      b.conversation.id,
    ]);
    expect((await b.zap.get(`/v1/contacts?email=${b.email}`)).body.data[0].id).toBe(b.contact.id);
    const samples = await b.zap.get(`/v1/samples?event_type=ticket.created&assistant_id=${a.assistant.id}`);
    expect(samples.body.source).toBe('fixture');
  });

  it("the same email or Idempotency-Key in B makes B's own records and never returns or changes A's", async () => {
    const contactA = async () => await server.ctx.db.one('SELECT * FROM contacts WHERE id = ?', a.contact.id);
    const before = await contactA();
    // The first creates B's own contact with that email; the second finds B's, not A's.
    for (const [client, path, status] of [
      [b.zap, '/v1/contacts', 201],
      [b.console, '/v1/agent/contacts', 200],
    ] as const) {
      const res = await client.post(path, { email: a.email.toUpperCase(), name: 'Mallory' });
      expect(res.status).toBe(status);
      expectNothingOfA(res, a.email.toUpperCase());
    }
    expect(await contactA()).toEqual(before);
    // Both populate() calls created their ticket with Idempotency-Key "shared-key" and different bodies, and
    // both got a fresh 201: keys are per workspace. Here B sends A's key with A's very body: a fresh run.
    const fromA = await a.zap.post('/v1/tickets', { subject: 'same body' }, { 'Idempotency-Key': 'key-a-used' });
    const fromB = await b.zap.post('/v1/tickets', { subject: 'same body' }, { 'Idempotency-Key': 'key-a-used' });
    expect([fromA.status, fromB.status]).toEqual([201, 201]);
    expect(fromB.headers.get('idempotent-replayed')).toBeNull();
    expect(fromB.body.id).not.toBe(fromA.body.id);
    expectNothingOfA(fromB, '');
    expect(await server.ctx.db.value('SELECT workspace_id FROM tickets WHERE id = ?', fromB.body.id)).toBe(
      b.workspace.id,
    );
  });

  it("A's events are delivered only to A's subscriptions, and B's only to B's", async () => {
    await a.zap.post('/v1/tickets', { subject: 'alpha late' });
    await b.zap.post('/v1/tickets', { subject: 'bravo late' });
    const eventsOf = async (workspaceId: string) =>
      new Set(await server.ctx.db.values<string>('SELECT id FROM events WHERE workspace_id = ?', workspaceId));
    const owed = async (workspaceId: string) =>
      (await server.ctx.db.value<number>(
        `SELECT COUNT(*) FROM deliveries d JOIN events e ON e.id = d.event_id WHERE e.workspace_id = ?`,
        workspaceId,
      ))!;
    for (const ws of [a, b]) {
      await waitUntil(
        async () => ws.rx.requests.length >= (await owed(ws.workspace.id)),
        15_000,
        `${ws.label}'s deliveries`,
      );
    }
    const [mineA, mineB] = [await eventsOf(a.workspace.id), await eventsOf(b.workspace.id)];
    expect(a.rx.requests.length).toBeGreaterThan(5);
    for (const r of a.rx.requests) expect(mineA.has(String(r.headers['webhook-id']))).toBe(true);
    for (const r of b.rx.requests) expect(mineB.has(String(r.headers['webhook-id']))).toBe(true);
    for (const r of b.rx.requests) for (const marker of a.markers) expect(r.text.includes(marker)).toBe(false);
  });
});

describe('the public widget endpoints', () => {
  let a: Awaited<ReturnType<typeof populate>>;
  beforeAll(async () => {
    a = await populate('charlie');
  });

  it('a visitor who submits a known email on the lead form learns nothing the CRM holds about it', async () => {
    const conversation = (
      await a.visitor.post(`/v1/widget/assistants/${a.assistant.id}/conversations`, { message: 'hi' })
    ).body;
    const res = await a.visitor.post(`/v1/widget/conversations/${conversation.id}/lead`, {
      email: a.email,
      name: 'Someone Else',
    });
    expect(res.status).toBe(201);
    const text = JSON.stringify(res.body);
    const held = [a.contact.id, 'charlie VIP', '+1 555 0100', 'charlie Corp', 'charlie secret notes'];
    expect(held.filter((h) => text.includes(h))).toEqual([]);
  });

  it('starting a conversation or asking for a human answers with that conversation alone', async () => {
    const started = await a.visitor.post(`/v1/widget/assistants/${a.assistant.id}/conversations`, {
      message: 'new visitor',
    });
    const handoff = await a.visitor.post(`/v1/widget/conversations/${started.body.id}/handoff`, {});
    const inApp = await a.visitor.post(`/v1/in-app/assistants/${a.assistant.id}/conversations`, { message: 'in app' });
    for (const res of [started, handoff, inApp]) {
      expect(res.status).toBe(201);
      const text = JSON.stringify(res.body);
      for (const held of [
        a.workspace.id,
        a.contact.id,
        a.email,
        a.conversation.id,
        a.ticket.id,
        a.agent.id,
        a.agent.email,
      ]) {
        expect({ held, leaked: text.includes(held) }).toEqual({ held, leaked: false });
      }
    }
  });

  it('an unknown or made-up assistant or conversation id is a 404 that stores nothing', async () => {
    // A neighbour of the real id: its last hex digit changed (never to itself, or the guess would be right).
    const neighbour = `${a.assistant.id.slice(0, -1)}${a.assistant.id.endsWith('0') ? '1' : '0'}`;
    const guesses = ['ast_000000000000000000000000', neighbour, a.workspace.id, a.agent.id];
    for (const id of guesses) {
      await settled();
      const before = await snapshot(server.ctx.db);
      const res = await a.visitor.post(`/v1/widget/assistants/${id}/conversations`, { message: 'x' });
      const lead = await a.visitor.post(`/v1/widget/conversations/${id}/lead`, { email: 'x@y.example' });
      const handoff = await a.visitor.post(`/v1/widget/conversations/${id}/handoff`, {});
      for (const r of [res, lead, handoff])
        expect({ id, status: r.status, code: r.body.error.code }).toEqual({ id, status: 404, code: 'not_found' });
      expect(await snapshot(server.ctx.db)).toEqual(before);
    }
  });
});

/**
 * REST-hook subscriptions as Zapier makes them, what they receive, what the sample list shows, and what
 * unsubscribing and revoking a key stop. Deliveries go to in-process receivers through the real worker.
 */
import { EVENT_TYPES } from '../../catalog/events';
import { fixtureFor } from '../../fixtures';
import { loadConfig } from '../../partner-api/config';
import { recordedEvents, tableCounts } from '../support/api-events';
import { api, type ApiServer, startApiServer } from '../support/api-server';
import { at } from '../support/items';
import { type Receiver, startReceiver } from '../support/receiver';

let server: ApiServer;
let receiver: Receiver;
beforeAll(async () => {
  server = await startApiServer({ delivery: true });
  receiver = await startReceiver();
});
afterAll(async () => {
  await server.close();
  await receiver.close();
});

async function fresh() {
  const { workspace, key, keyId, assistant } = await server.setup();
  return { workspace, key, keyId, assistant, zap: api(server.url, key) };
}

const subscription = async (id: string) =>
  (await server.ctx.db.one<{
    active: number;
    deactivated_reason: string | null;
    api_key_id: string;
  }>('SELECT active, deactivated_reason, api_key_id FROM subscriptions WHERE id = ?', id))!;

describe('POST /v1/subscriptions', () => {
  it('subscribes (201) with a Standard Webhooks secret, shown once, tied to the key that made it', async () => {
    const { zap, keyId, assistant } = await fresh();
    const res = await zap.post('/v1/subscriptions', {
      event_type: 'ticket.created',
      target_url: receiver.url,
      assistant_id: assistant.id,
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^sub_/),
      eventType: 'ticket.created',
      targetUrl: receiver.url,
      assistantId: assistant.id,
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
      active: true,
      createdAt: expect.any(String),
    });
    expect(Buffer.from(res.body.secret.slice(6), 'base64')).toHaveLength(32);
    expect(await subscription(res.body.id)).toMatchObject({ active: 1, api_key_id: keyId });
  });

  it.each(EVENT_TYPES)('accepts the catalog event type %s', async (type) => {
    const { zap } = await fresh();
    expect((await zap.post('/v1/subscriptions', { event_type: type, target_url: receiver.url })).status).toBe(201);
  });

  it('refuses an unknown event type, another workspace’s assistant, or bad fields with 422, storing nothing', async () => {
    const { zap } = await fresh();
    const other = await fresh();
    const before = await tableCounts(server);
    const cases = [
      [{ event_type: 'ticket.deleted', target_url: receiver.url }, 'event_type'],
      [{ event_type: 'Lead Captured', target_url: receiver.url }, 'event_type'],
      [{ event_type: 'lead.captured', target_url: receiver.url, assistant_id: other.assistant.id }, 'assistant_id'],
      [{ event_type: 'lead.captured' }, 'target_url'],
      [{ event_type: 'lead.captured', target_url: receiver.url, filter: 'x' }, 'filter'],
    ] as const;
    for (const [body, path] of cases) {
      const res = await zap.post('/v1/subscriptions', body);
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    }
    expect(await tableCounts(server)).toEqual(before);
  });

  it('refuses targets that are not https or not public with 422 target_url_refused and the reason', async () => {
    const strict = await startApiServer({ allowPrivateTargets: false });
    try {
      const { key } = await strict.setup();
      const zap = api(strict.url, key);
      for (const target of [
        'http://93.184.216.34/hook',
        'https://127.0.0.1/hook',
        'https://10.0.0.5/hook',
        'https://169.254.169.254/latest',
        'not a url',
      ]) {
        const res = await zap.post('/v1/subscriptions', { event_type: 'lead.captured', target_url: target });
        expect(res.status).toBe(422);
        expect(res.body.error).toMatchObject({
          code: 'target_url_refused',
          details: [{ path: 'target_url', message: expect.any(String) }],
        });
        expect(res.body.error.message).toContain(res.body.error.details[0].message);
      }
      expect(
        (await zap.post('/v1/subscriptions', { event_type: 'lead.captured', target_url: 'https://93.184.216.34/hook' }))
          .status,
      ).toBe(201);
      expect((await tableCounts(strict)).subscriptions).toBe(1);
      // What the development setting allows (http, loopback, private) names it; what it would not allow does not.
      const hint = 'ILLUMICHAT_ALLOW_PRIVATE_TARGETS=1';
      for (const target of [
        'http://93.184.216.34/hook',
        'http://localhost:4000/hook',
        'https://127.0.0.1/hook',
        'https://[::1]/hook',
        'https://192.168.1.20/hook',
      ]) {
        const res = await zap.post('/v1/subscriptions', { event_type: 'lead.captured', target_url: target });
        expect({ target, message: res.body.error.message }).toEqual({ target, message: expect.stringContaining(hint) });
      }
      for (const target of ['not a url', 'ftp://93.184.216.34/hook', 'https://user:pw@93.184.216.34/hook']) {
        const res = await zap.post('/v1/subscriptions', { event_type: 'lead.captured', target_url: target });
        expect(res.body.error.code).toBe('target_url_refused');
        expect(res.body.error.message).not.toContain(hint);
      }
    } finally {
      await strict.close();
    }
  });
});

describe('what a subscription receives', () => {
  it('gets each matching event, the exact stored payload; Test trigger then shows that same record', async () => {
    const { zap, workspace } = await fresh();
    const rx = await startReceiver();
    try {
      const sub = (await zap.post('/v1/subscriptions', { event_type: 'lead.captured', target_url: rx.url })).body;
      await zap.post('/v1/contacts', { email: 'hooked@example.com', name: 'Hooked' });
      const delivered = at(await rx.waitFor(1), 0);
      const event = at(await recordedEvents(server, { type: 'lead.captured', workspaceId: workspace.id }), 0);
      expect(delivered.json()).toEqual(event.payload);
      expect(delivered.headers['webhook-id']).toBe(event.id);
      const samples = await zap.get('/v1/samples?event_type=lead.captured');
      expect(samples.body).toEqual({ data: [delivered.json()], source: 'live' });
      expect(sub.id).toMatch(/^sub_/);
    } finally {
      await rx.close();
    }
  });

  it('filtered to an assistant, it gets only that assistant’s events', async () => {
    const { zap, workspace, assistant } = await fresh();
    const otherAssistant = await server.createAssistant(workspace.id, 'Other Bot');
    const sub = (
      await zap.post('/v1/subscriptions', {
        event_type: 'widget.conversation_started',
        target_url: receiver.url,
        assistant_id: assistant.id,
      })
    ).body;
    await api(server.url).post(`/v1/widget/assistants/${otherAssistant.id}/conversations`, { message: 'other' });
    const mine = (
      await api(server.url).post(`/v1/widget/assistants/${assistant.id}/conversations`, { message: 'mine' })
    ).body;
    await server.fanOut();
    const owed = await server.ctx.db.values<string>(
      'SELECT e.payload FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.subscription_id = ?',
      sub.id,
    );
    expect(owed.map((p) => JSON.parse(p).data.conversation.id)).toEqual([mine.id]);
  });
});

describe('DELETE /v1/subscriptions/:id', () => {
  it('unsubscribes (200, active false) and nothing more is owed to it; a repeat or an unknown id is still 200', async () => {
    const { zap } = await fresh();
    const sub = (await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: receiver.url })).body;
    const res = await zap.delete(`/v1/subscriptions/${sub.id}`);
    expect(res).toMatchObject({ status: 200, body: { id: sub.id, active: false } });
    expect(await subscription(sub.id)).toMatchObject({ active: 0, deactivated_reason: 'unsubscribed' });
    await zap.post('/v1/tickets', { subject: 'after unsubscribe' });
    await server.fanOut();
    expect(await server.ctx.db.value('SELECT COUNT(*) FROM deliveries WHERE subscription_id = ?', sub.id)).toBe(0);
    expect((await zap.delete(`/v1/subscriptions/${sub.id}`)).body).toEqual({ id: sub.id, active: false });
    expect((await zap.delete('/v1/subscriptions/sub_neverexisted')).body).toEqual({
      id: 'sub_neverexisted',
      active: false,
    });
  });

  it('another workspace’s subscription id answers the same and stays active', async () => {
    const a = await fresh();
    const b = await fresh();
    const sub = (await b.zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: receiver.url }))
      .body;
    const res = await a.zap.delete(`/v1/subscriptions/${sub.id}`);
    expect(res).toMatchObject({ status: 200, body: { id: sub.id, active: false } });
    expect((await subscription(sub.id)).active).toBe(1);
  });
});

describe('revoking a key', () => {
  it('deactivates every subscription made with it and cancels what they still had pending', async () => {
    // No worker here, so deliveries stay pending until the revocation cancels them.
    const s = await startApiServer();
    try {
      const { workspace, key, keyId } = await s.setup();
      const other = await s.createKeyRecord(workspace.id);
      const zap = api(s.url, key);
      const mine = (await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: receiver.url }))
        .body;
      const theirs = (
        await api(s.url, other.key).post('/v1/subscriptions', {
          event_type: 'ticket.created',
          target_url: `${receiver.url}/theirs`,
        })
      ).body;
      await zap.post('/v1/tickets', { subject: 'pending' });
      await s.fanOut();
      const statuses = async (subId: string) =>
        await s.ctx.db.values('SELECT status FROM deliveries WHERE subscription_id = ?', subId);
      expect(await statuses(mine.id)).toEqual(['pending']);

      await s.revokeKey(keyId);
      const row = {
        get: (id: string) => s.ctx.db.one('SELECT active, deactivated_reason FROM subscriptions WHERE id = ?', id),
      };
      expect(await row.get(mine.id)).toEqual({ active: 0, deactivated_reason: 'key_revoked' });
      expect(await statuses(mine.id)).toEqual(['cancelled']);
      expect(await row.get(theirs.id)).toEqual({ active: 1, deactivated_reason: null });
      expect(await statuses(theirs.id)).toEqual(['pending']);
      expect((await zap.get('/v1/me')).body.error.code).toBe('api_key_revoked');
    } finally {
      await s.close();
    }
  });

  it('stops deliveries: after revocation the receiver gets nothing more', async () => {
    const { zap, keyId, workspace } = await fresh();
    const rx = await startReceiver();
    try {
      await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: rx.url });
      await zap.post('/v1/tickets', { subject: 'before' });
      await rx.waitFor(1);
      await server.revokeKey(keyId);
      const agent = await server.createAgent(workspace.id);
      await api(server.url, agent.token).post('/v1/agent/tickets', { subject: 'after' });
      await server.worker!.runOnce();
      await server.worker!.idle();
      expect(rx.requests).toHaveLength(1);
    } finally {
      await rx.close();
    }
  });
});

describe('one active subscription per hook URL', () => {
  const activeAt = async (workspaceId: string, url: string) =>
    await server.ctx.db.values<string>(
      'SELECT id FROM subscriptions WHERE workspace_id = ? AND target_url = ? AND active = 1',
      workspaceId,
      url,
    );

  it('the same subscribe again (Zapier retrying a lost answer) answers 200 with the same id and secret, and one event makes one delivery', async () => {
    const { zap, workspace, assistant } = await fresh();
    const rx = await startReceiver();
    try {
      const body = { event_type: 'ticket.created', target_url: `${rx.url}/zap-1`, assistant_id: null };
      const first = await zap.post('/v1/subscriptions', body);
      const again = await zap.post('/v1/subscriptions', body);
      expect(first.status).toBe(201);
      expect(again.status).toBe(200);
      expect(again.body).toEqual(first.body);
      expect(await activeAt(workspace.id, body.target_url)).toEqual([first.body.id]);
      // Filtered to an assistant: the same filter again is the same subscription too.
      const filtered = { event_type: 'lead.captured', target_url: `${rx.url}/zap-2`, assistant_id: assistant.id };
      const one = (await zap.post('/v1/subscriptions', filtered)).body;
      expect(await zap.post('/v1/subscriptions', filtered)).toMatchObject({
        status: 200,
        body: { id: one.id, secret: one.secret },
      });

      await zap.post('/v1/tickets', { subject: 'once' });
      await rx.waitFor(1);
      await server.worker!.idle();
      expect(rx.requests.filter((r) => r.path === '/hook/zap-1')).toHaveLength(1);
    } finally {
      await rx.close();
    }
  });

  it.each([
    ['another event type', { event_type: 'ticket.status_changed' }],
    ['an assistant filter', { assistant_id: 'ASSISTANT' }],
    ['another key of the workspace', { key: true }],
  ])(
    'a subscribe to the same URL with %s replaces the old one: deactivated (replaced), its pending deliveries cancelled, 201',
    async (_what, change) => {
      const s = await startApiServer(); // no worker, so the old one's delivery stays pending until cancelled
      try {
        const { workspace, key, assistant } = await s.setup();
        const url = 'http://127.0.0.1:9/zap';
        const old = (await api(s.url, key).post('/v1/subscriptions', { event_type: 'ticket.created', target_url: url }))
          .body;
        await api(s.url, key).post('/v1/tickets', { subject: 'owed to the old one' });
        await s.fanOut();
        const body: Record<string, unknown> = { event_type: 'ticket.created', target_url: url };
        if ('event_type' in change) body.event_type = change.event_type;
        if ('assistant_id' in change) body.assistant_id = assistant.id;
        const client = api(s.url, 'key' in change ? await s.createKey(workspace.id) : key);
        const res = await client.post('/v1/subscriptions', body);
        expect(res.status).toBe(201);
        expect(res.body.id).not.toBe(old.id);
        expect(res.body.secret).not.toBe(old.secret);
        const row = {
          get: (id: string) => s.ctx.db.one('SELECT active, deactivated_reason FROM subscriptions WHERE id = ?', id),
        };
        expect(await row.get(old.id)).toEqual({ active: 0, deactivated_reason: 'replaced' });
        expect(await s.ctx.db.values('SELECT status FROM deliveries WHERE subscription_id = ?', old.id)).toEqual([
          'cancelled',
        ]);
        expect(await s.ctx.db.values('SELECT id FROM subscriptions WHERE target_url = ? AND active = 1', url)).toEqual([
          res.body.id,
        ]);
        expect(
          (await client.get('/v1/subscriptions')).body.data.find((x: { id: string }) => x.id === old.id),
        ).toMatchObject({ deactivatedReason: 'replaced' });
      } finally {
        await s.close();
      }
    },
  );

  it('the same URL in two workspaces is two subscriptions (the rule is per workspace)', async () => {
    const a = await fresh();
    const b = await fresh();
    const url = `${receiver.url}/shared`;
    expect((await a.zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: url })).status).toBe(201);
    expect((await b.zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: url })).status).toBe(201);
    expect(await activeAt(a.workspace.id, url)).toHaveLength(1);
    expect(await activeAt(b.workspace.id, url)).toHaveLength(1);
  });

  it('concurrent subscribes to one URL leave exactly one active subscription, identical ones all get its id', async () => {
    const { zap, workspace } = await fresh();
    const url = `${receiver.url}/concurrent-same`;
    const same = await Promise.all(
      Array.from({ length: 24 }, () =>
        zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: url }),
      ),
    );
    expect(same.filter((r) => r.status === 201)).toHaveLength(1);
    expect(same.filter((r) => r.status === 200)).toHaveLength(23);
    expect(new Set(same.map((r) => r.body.id))).toEqual(new Set(await activeAt(workspace.id, url)));

    const types = ['lead.captured', 'ticket.created', 'ticket.assigned', 'ticket.status_changed'] as const;
    const url2 = `${receiver.url}/concurrent-mixed`;
    const mixed = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        zap.post('/v1/subscriptions', { event_type: types[i % 4], target_url: url2 }),
      ),
    );
    expect(mixed.every((r) => r.status === 200 || r.status === 201)).toBe(true);
    expect(await activeAt(workspace.id, url2)).toHaveLength(1);
  });
});

describe('DELETE /v1/subscriptions?target_url=… (unsubscribe by hook URL)', () => {
  it('deactivates the active subscription at exactly that URL and answers as DELETE by id; then 404', async () => {
    const { zap } = await fresh();
    const url = `${receiver.url}/by-url?zap=1&step=a%20b`;
    const sub = (await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: url })).body;
    const near = (
      await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: `${receiver.url}/by-url?zap=1` })
    ).body;
    const res = await zap.delete(`/v1/subscriptions?target_url=${encodeURIComponent(url)}`);
    expect(res).toMatchObject({ status: 200, body: { id: sub.id, active: false } });
    expect(res.body).toEqual((await zap.delete(`/v1/subscriptions/${sub.id}`)).body);
    expect(await subscription(sub.id)).toMatchObject({ active: 0, deactivated_reason: 'unsubscribed' });
    expect((await subscription(near.id)).active).toBe(1);
    const again = await zap.delete(`/v1/subscriptions?target_url=${encodeURIComponent(url)}`);
    expect(again).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
  });

  it('another workspace’s URL is 404 and stays active; a missing or extra query parameter is 422', async () => {
    const a = await fresh();
    const b = await fresh();
    const url = `${receiver.url}/theirs-by-url`;
    const sub = (await b.zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: url })).body;
    expect((await a.zap.delete(`/v1/subscriptions?target_url=${encodeURIComponent(url)}`)).status).toBe(404);
    expect((await subscription(sub.id)).active).toBe(1);
    for (const q of ['', '?target_url=', `?target_url=${encodeURIComponent(url)}&id=${sub.id}`]) {
      const res = await a.zap.delete(`/v1/subscriptions${q}`);
      expect({ q, status: res.status, code: res.body.error.code }).toEqual({
        q,
        status: 422,
        code: 'validation_failed',
      });
    }
  });
});

describe('the cap on active subscriptions per workspace', () => {
  let capped: ApiServer;
  const CAP = 5;
  beforeAll(async () => {
    capped = await startApiServer({ config: { maxSubscriptionsPerWorkspace: CAP } });
  });
  afterAll(async () => await capped.close());

  it(`one more than ${CAP} is 409 subscription_limit_reached; a repeat, a replacement and room made by unsubscribing still work`, async () => {
    const { key } = await capped.setup();
    const zap = api(capped.url, key);
    const subs = [];
    for (let i = 0; i < CAP; i++)
      subs.push(
        (
          await zap.post('/v1/subscriptions', {
            event_type: 'ticket.created',
            target_url: `http://127.0.0.1:9/cap/${i}`,
          })
        ).body,
      );
    const over = await zap.post('/v1/subscriptions', {
      event_type: 'ticket.created',
      target_url: 'http://127.0.0.1:9/cap/over',
    });
    expect(over.status).toBe(409);
    expect(over.body.error).toMatchObject({
      code: 'subscription_limit_reached',
      limit: CAP,
      message: expect.stringContaining(String(CAP)),
    });
    expect(
      (await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: 'http://127.0.0.1:9/cap/0' }))
        .status,
    ).toBe(200);
    expect(
      (await zap.post('/v1/subscriptions', { event_type: 'lead.captured', target_url: 'http://127.0.0.1:9/cap/1' }))
        .status,
    ).toBe(201);
    await zap.delete(`/v1/subscriptions/${subs[2].id}`);
    expect(
      (await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: 'http://127.0.0.1:9/cap/over' }))
        .status,
    ).toBe(201);
  });

  it('holds under concurrent subscribes: 40 at once leave exactly the cap active, the rest 409', async () => {
    const { key, workspace } = await capped.setup();
    const zap = api(capped.url, key);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: `http://127.0.0.1:9/burst/${i}` }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(CAP);
    expect(results.filter((r) => r.status === 409 && r.body.error.code === 'subscription_limit_reached')).toHaveLength(
      40 - CAP,
    );
    expect(
      await capped.ctx.db.value(
        'SELECT COUNT(*) FROM subscriptions WHERE workspace_id = ? AND active = 1',
        workspace.id,
      ),
    ).toBe(CAP);
  });

  it('defaults to 100, set by ILLUMICHAT_MAX_SUBSCRIPTIONS_PER_WORKSPACE', () => {
    expect(loadConfig({}).maxSubscriptionsPerWorkspace).toBe(100);
    expect(loadConfig({ ILLUMICHAT_MAX_SUBSCRIPTIONS_PER_WORKSPACE: '7' }).maxSubscriptionsPerWorkspace).toBe(7);
    expect(() => loadConfig({ ILLUMICHAT_MAX_SUBSCRIPTIONS_PER_WORKSPACE: '0' })).toThrow();
  });
});

describe('a workspace below Pro', () => {
  it('queues no deliveries, cancels those queued, still unsubscribes by id and by URL; the rest is 403; an upgrade resumes without backfill', async () => {
    const s = await startApiServer(); // no worker: what is owed stays visible as pending rows
    try {
      const { workspace, key } = await s.setup();
      const agent = await s.createAgent(workspace.id);
      const zap = api(s.url, key);
      const owed = async (subId: string, status = 'pending'): Promise<number> =>
        (await s.ctx.db.value<number>(
          'SELECT COUNT(*) FROM deliveries WHERE subscription_id = ? AND status = ?',
          subId,
          status,
        ))!;
      const a = (
        await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: 'http://127.0.0.1:9/a' })
      ).body;
      const b = (
        await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: 'http://127.0.0.1:9/b' })
      ).body;
      const c = (
        await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: 'http://127.0.0.1:9/c' })
      ).body;
      await zap.post('/v1/tickets', { subject: 'while pro' });
      await s.fanOut();
      expect(await owed(c.id)).toBe(1);

      await s.setPlan(workspace.id, 'free');
      expect(await owed(c.id)).toBe(0);
      expect(await owed(c.id, 'cancelled')).toBe(1);
      await api(s.url, agent.token).post('/v1/agent/tickets', { subject: 'while free' });
      await s.fanOut();
      expect(await s.ctx.db.value('SELECT COUNT(*) FROM events WHERE workspace_id = ?', workspace.id)).toBe(2);
      expect(await owed(c.id)).toBe(0);

      for (const path of ['/v1/me', '/v1/subscriptions', '/v1/samples?event_type=ticket.created']) {
        expect((await zap.get(path)).body.error.code).toBe('plan_upgrade_required');
      }
      expect(
        (await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: 'http://127.0.0.1:9/d' }))
          .status,
      ).toBe(403);
      expect((await zap.post('/v1/tickets', { subject: 'action' })).status).toBe(403);
      expect(await zap.delete(`/v1/subscriptions/${a.id}`)).toMatchObject({
        status: 200,
        body: { id: a.id, active: false },
      });
      expect(
        await zap.delete(`/v1/subscriptions?target_url=${encodeURIComponent('http://127.0.0.1:9/b')}`),
      ).toMatchObject({ status: 200, body: { id: b.id } });

      await s.setPlan(workspace.id, 'pro');
      expect(await owed(c.id)).toBe(0); // no backfill of what happened below Pro
      await zap.post('/v1/tickets', { subject: 'pro again' });
      await s.fanOut();
      expect(await owed(c.id)).toBe(1);
      expect((await owed(a.id)) + (await owed(b.id))).toBe(0);
    } finally {
      await s.close();
    }
  });
});

describe('GET /v1/samples', () => {
  it.each(EVENT_TYPES)('shows the %s fixture to a workspace with no such event yet', async (type) => {
    const { zap } = await fresh();
    const res = await zap.get(`/v1/samples?event_type=${type}`);
    expect(res.body).toEqual({ data: [fixtureFor(type)], source: 'fixture' });
  });

  it('shows the most recent real events, newest first, 3 by default and at most 10', async () => {
    const { zap, workspace } = await fresh();
    for (let i = 1; i <= 12; i++) await zap.post('/v1/tickets', { subject: `S${i}` });
    const recorded = (await recordedEvents(server, { type: 'ticket.created', workspaceId: workspace.id }))
      .map((e) => e.payload)
      .reverse();
    expect((await zap.get('/v1/samples?event_type=ticket.created')).body).toEqual({
      data: recorded.slice(0, 3),
      source: 'live',
    });
    expect((await zap.get('/v1/samples?event_type=ticket.created&limit=10')).body.data).toEqual(recorded.slice(0, 10));
    expect((await zap.get('/v1/samples?event_type=ticket.created&limit=11')).status).toBe(422);
  });

  it('filters by assistant: another assistant’s events are not samples of this one', async () => {
    const { zap, workspace, assistant } = await fresh();
    const quiet = await server.createAssistant(workspace.id, 'Quiet Bot');
    const started = (
      await api(server.url).post(`/v1/widget/assistants/${assistant.id}/conversations`, { message: 'hi' })
    ).body;
    const mine = await zap.get(`/v1/samples?event_type=widget.conversation_started&assistant_id=${assistant.id}`);
    expect(mine.body.source).toBe('live');
    expect(mine.body.data.map((e: any) => e.data.conversation.id)).toEqual([started.id]);
    const none = await zap.get(`/v1/samples?event_type=widget.conversation_started&assistant_id=${quiet.id}`);
    expect(none.body).toEqual({ data: [fixtureFor('widget.conversation_started')], source: 'fixture' });
  });

  it('never shows another workspace’s events', async () => {
    const a = await fresh();
    const b = await fresh();
    await b.zap.post('/v1/tickets', { subject: 'B only' });
    expect((await a.zap.get('/v1/samples?event_type=ticket.created')).body.source).toBe('fixture');
  });

  it('needs a catalog event type', async () => {
    const { zap } = await fresh();
    for (const q of ['', '?event_type=nope', '?event_type=ticket.created&limit=0']) {
      const res = await zap.get(`/v1/samples${q}`);
      expect(res.status).toBe(422);
    }
  });
});

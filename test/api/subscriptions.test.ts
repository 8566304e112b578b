/**
 * REST-hook subscriptions as Zapier makes them, what they receive, what the sample list shows, and what
 * unsubscribing and revoking a key stop. Deliveries go to in-process receivers through the real worker.
 */
import { fixtureFor } from '../../fixtures';
import { EVENT_TYPES } from '../../catalog/events';
import { recordedEvents, tableCounts } from '../support/api-events';
import { api, startApiServer, type ApiServer } from '../support/api-server';
import { startReceiver, type Receiver } from '../support/receiver';

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

const subscription = (id: string) =>
  server.ctx.db.prepare('SELECT active, deactivated_reason, api_key_id FROM subscriptions WHERE id = ?').get(id) as {
    active: number;
    deactivated_reason: string | null;
    api_key_id: string;
  };

describe('POST /v1/subscriptions', () => {
  it('subscribes (201) with a Standard Webhooks secret, shown once, tied to the key that made it', async () => {
    const { zap, keyId, assistant } = await fresh();
    const res = await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: receiver.url, assistant_id: assistant.id });
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
    expect(subscription(res.body.id)).toMatchObject({ active: 1, api_key_id: keyId });
  });

  it.each(EVENT_TYPES)('accepts the catalog event type %s', async (type) => {
    const { zap } = await fresh();
    expect((await zap.post('/v1/subscriptions', { event_type: type, target_url: receiver.url })).status).toBe(201);
  });

  it('refuses an unknown event type, another workspace’s assistant, or bad fields with 422, storing nothing', async () => {
    const { zap } = await fresh();
    const other = await fresh();
    const before = tableCounts(server);
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
    expect(tableCounts(server)).toEqual(before);
  });

  it('refuses targets that are not https or not public with 422 target_url_refused and the reason', async () => {
    const strict = await startApiServer({ allowPrivateTargets: false });
    try {
      const { key } = await strict.setup();
      const zap = api(strict.url, key);
      for (const target of ['http://93.184.216.34/hook', 'https://127.0.0.1/hook', 'https://10.0.0.5/hook', 'https://169.254.169.254/latest', 'not a url']) {
        const res = await zap.post('/v1/subscriptions', { event_type: 'lead.captured', target_url: target });
        expect(res.status).toBe(422);
        expect(res.body.error).toMatchObject({ code: 'target_url_refused', details: [{ path: 'target_url', message: expect.any(String) }] });
        expect(res.body.error.message).toContain(res.body.error.details[0].message);
      }
      expect((await zap.post('/v1/subscriptions', { event_type: 'lead.captured', target_url: 'https://93.184.216.34/hook' })).status).toBe(201);
      expect(tableCounts(strict).subscriptions).toBe(1);
      // What the development setting allows (http, loopback, private) names it; what it would not allow does not.
      const hint = 'ILLUMICHAT_ALLOW_PRIVATE_TARGETS=1';
      for (const target of ['http://93.184.216.34/hook', 'http://localhost:4000/hook', 'https://127.0.0.1/hook', 'https://[::1]/hook', 'https://192.168.1.20/hook']) {
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
      const [delivered] = await rx.waitFor(1);
      const [event] = recordedEvents(server, { type: 'lead.captured', workspaceId: workspace.id });
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
    const otherAssistant = server.createAssistant(workspace.id, 'Other Bot');
    const sub = (await zap.post('/v1/subscriptions', { event_type: 'widget.conversation_started', target_url: receiver.url, assistant_id: assistant.id })).body;
    await api(server.url).post(`/v1/widget/assistants/${otherAssistant.id}/conversations`, { message: 'other' });
    const mine = (await api(server.url).post(`/v1/widget/assistants/${assistant.id}/conversations`, { message: 'mine' })).body;
    const owed = server.ctx.db
      .prepare('SELECT e.payload FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.subscription_id = ?')
      .pluck()
      .all(sub.id) as string[];
    expect(owed.map((p) => JSON.parse(p).data.conversation.id)).toEqual([mine.id]);
  });
});

describe('DELETE /v1/subscriptions/:id', () => {
  it('unsubscribes (200, active false) and nothing more is owed to it; a repeat or an unknown id is still 200', async () => {
    const { zap } = await fresh();
    const sub = (await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: receiver.url })).body;
    const res = await zap.delete(`/v1/subscriptions/${sub.id}`);
    expect(res).toMatchObject({ status: 200, body: { id: sub.id, active: false } });
    expect(subscription(sub.id)).toMatchObject({ active: 0, deactivated_reason: 'unsubscribed' });
    await zap.post('/v1/tickets', { subject: 'after unsubscribe' });
    expect(server.ctx.db.prepare('SELECT COUNT(*) FROM deliveries WHERE subscription_id = ?').pluck().get(sub.id)).toBe(0);
    expect((await zap.delete(`/v1/subscriptions/${sub.id}`)).body).toEqual({ id: sub.id, active: false });
    expect((await zap.delete('/v1/subscriptions/sub_neverexisted')).body).toEqual({ id: 'sub_neverexisted', active: false });
  });

  it('another workspace’s subscription id answers the same and stays active', async () => {
    const a = await fresh();
    const b = await fresh();
    const sub = (await b.zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: receiver.url })).body;
    const res = await a.zap.delete(`/v1/subscriptions/${sub.id}`);
    expect(res).toMatchObject({ status: 200, body: { id: sub.id, active: false } });
    expect(subscription(sub.id).active).toBe(1);
  });
});

describe('revoking a key', () => {
  it('deactivates every subscription made with it and cancels what they still had pending', async () => {
    // No worker here, so deliveries stay pending until the revocation cancels them.
    const s = await startApiServer();
    try {
      const { workspace, key, keyId } = await s.setup();
      const other = s.createKeyRecord(workspace.id);
      const zap = api(s.url, key);
      const mine = (await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: receiver.url })).body;
      const theirs = (await api(s.url, other.key).post('/v1/subscriptions', { event_type: 'ticket.created', target_url: receiver.url })).body;
      await zap.post('/v1/tickets', { subject: 'pending' });
      const statuses = (subId: string) =>
        s.ctx.db.prepare('SELECT status FROM deliveries WHERE subscription_id = ?').pluck().all(subId);
      expect(statuses(mine.id)).toEqual(['pending']);

      s.revokeKey(keyId);
      const row = s.ctx.db.prepare('SELECT active, deactivated_reason FROM subscriptions WHERE id = ?');
      expect(row.get(mine.id)).toEqual({ active: 0, deactivated_reason: 'key_revoked' });
      expect(statuses(mine.id)).toEqual(['cancelled']);
      expect(row.get(theirs.id)).toEqual({ active: 1, deactivated_reason: null });
      expect(statuses(theirs.id)).toEqual(['pending']);
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
      server.revokeKey(keyId);
      const agent = server.createAgent(workspace.id);
      await api(server.url, agent.token).post('/v1/agent/tickets', { subject: 'after' });
      await server.worker!.runOnce();
      await server.worker!.idle();
      expect(rx.requests).toHaveLength(1);
    } finally {
      await rx.close();
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
    const recorded = recordedEvents(server, { type: 'ticket.created', workspaceId: workspace.id }).map((e) => e.payload).reverse();
    expect((await zap.get('/v1/samples?event_type=ticket.created')).body).toEqual({ data: recorded.slice(0, 3), source: 'live' });
    expect((await zap.get('/v1/samples?event_type=ticket.created&limit=10')).body.data).toEqual(recorded.slice(0, 10));
    expect((await zap.get('/v1/samples?event_type=ticket.created&limit=11')).status).toBe(422);
  });

  it('filters by assistant: another assistant’s events are not samples of this one', async () => {
    const { zap, workspace, assistant } = await fresh();
    const quiet = server.createAssistant(workspace.id, 'Quiet Bot');
    const started = (await api(server.url).post(`/v1/widget/assistants/${assistant.id}/conversations`, { message: 'hi' })).body;
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


/**
 * The delivery log and replay in the versioned API (issue 11 §2–3): GET /v1/deliveries (filters, cursors:
 * the merge over a workspace's subscriptions loses and repeats nothing), GET /v1/deliveries/:id,
 * GET /v1/events/:id, and replay: the same webhook-id and a valid signature, a manual attempt, the
 * worker's target policy, and refusals for a delivery still pending or a subscription that may not receive.
 */
import fc from 'fast-check';

import { loadConfig, RETRY_SCHEDULE_MS } from '../../partner-api/config';
import { verifySignature } from '../../partner-api/delivery/signing';
import { createAgent } from '../../partner-api/domain/workspaces';
import {
  api,
  type ApiClient,
  type ApiResponse,
  type ApiServer,
  deliveriesSettled,
  startApiServer,
  waitUntil,
} from '../support/api-server';
import { type Receiver, reply, startReceiver } from '../support/receiver';
import { signInAs } from '../support/settings-session';

/** One attempt and done: a failure is final at once, so tests see failed deliveries without waiting. */
const NO_RETRIES = { delivery: { ...loadConfig({}).delivery, retryScheduleMs: [] } };

let server: ApiServer;
let rx: Receiver;
beforeAll(async () => {
  rx = await startReceiver();
  server = await startApiServer({ delivery: true, config: NO_RETRIES });
});
afterAll(async () => {
  await server.close();
  await rx.close();
});
afterEach(() => rx.setDefault(reply(200)));

const settled = () => deliveriesSettled(server, 10_000);

async function subscribe(zap: ApiClient, eventType: string, path: string): Promise<{ id: string; secret: string }> {
  const res = await zap.post('/v1/subscriptions', { event_type: eventType, target_url: `${rx.url}/${path}` });
  if (res.status !== 201) throw new Error(JSON.stringify(res.body));
  return res.body;
}

interface Delivery {
  id: string;
  eventId: string;
  eventType: string;
  subscriptionId: string;
  status: string;
  createdAt: string;
  lastAttempt: { statusCode: number | null; responseExcerpt: string | null; manual: boolean } | null;
}

async function allPages(zap: ApiClient, query: string, limit: number): Promise<Delivery[]> {
  const seen: Delivery[] = [];
  let cursor: string | null = null;
  do {
    const res: ApiResponse = await zap.get(
      `/v1/deliveries?${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    expect(res.status).toBe(200);
    seen.push(...(res.body.data as Delivery[]));
    cursor = res.body.nextCursor;
  } while (cursor);
  return seen;
}

describe('the delivery log', () => {
  it('pages through every delivery of every subscription, newest first, once each, with each filter', async () => {
    const { key } = await server.setup();
    const zap = api(server.url, key);
    const leads = await subscribe(zap, 'lead.captured', 'log-leads');
    const tickets = await subscribe(zap, 'ticket.created', 'log-tickets');
    await subscribe(zap, 'ticket.status_changed', 'log-status');
    rx.setDefault((req) => (req.path.endsWith('log-tickets') ? reply(500, { body: 'down' }) : reply(200)));
    for (let i = 0; i < 4; i++) {
      await zap.post('/v1/contacts', { email: `log${i}@example.com` });
      const ticket = (await zap.post('/v1/tickets', { subject: `T${i}` })).body;
      await zap.patch(`/v1/tickets/${ticket.id}`, { status: 'open' });
    }
    await settled();
    const everything = await allPages(zap, '', 100);
    expect(everything).toHaveLength(12);
    const order = (d: Delivery[]) => d.map((x) => x.id);
    const sorted = [...everything].sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
    expect(everything.map((d) => d.createdAt)).toEqual(sorted.map((d) => d.createdAt));

    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 7 }), async (limit) => {
        expect(order(await allPages(zap, '', limit))).toEqual(order(everything));
        const failed = await allPages(zap, 'status=failed', limit);
        expect(order(failed)).toEqual(order(everything.filter((d) => d.status === 'failed')));
        expect(failed.every((d) => d.subscriptionId === tickets.id)).toBe(true);
        const ofLeads = await allPages(zap, `subscription_id=${leads.id}`, limit);
        expect(order(ofLeads)).toEqual(order(everything.filter((d) => d.subscriptionId === leads.id)));
        const byType = await allPages(zap, 'event_type=ticket.status_changed&status=succeeded', limit);
        expect(order(byType)).toEqual(order(everything.filter((d) => d.eventType === 'ticket.status_changed')));
      }),
      { numRuns: 7 },
    );
    const failed = everything.find((d) => d.status === 'failed')!;
    expect(failed.lastAttempt).toMatchObject({ statusCode: 500, responseExcerpt: 'down', manual: false });
  });

  it('shows one delivery with its attempts and its event, and another workspace’s as unknown', async () => {
    const a = await server.setup();
    const b = await server.setup();
    const zapA = api(server.url, a.key);
    await subscribe(zapA, 'lead.captured', 'detail');
    await zapA.post('/v1/contacts', { email: 'detail@example.com', name: 'Dee Tail' });
    await settled();
    const [delivery] = (await zapA.get('/v1/deliveries')).body.data as Delivery[];
    const detail = await zapA.get(`/v1/deliveries/${delivery!.id}`);
    expect(detail.body).toMatchObject({
      id: delivery!.id,
      status: 'succeeded',
      attempts: [{ attempt: 1, statusCode: 200 }],
    });
    const event = await zapA.get(`/v1/events/${delivery!.eventId}`);
    expect(event.body).toMatchObject({ id: delivery!.eventId, type: 'lead.captured', payload: { name: 'Dee Tail' } });

    const zapB = api(server.url, b.key);
    for (const path of [`/v1/deliveries/${delivery!.id}`, `/v1/events/${delivery!.eventId}`])
      expect((await zapB.get(path)).body.error.code).toBe('not_found');
    expect((await zapB.post(`/v1/deliveries/${delivery!.id}/replay`, {})).status).toBe(404);
    expect((await zapB.get('/v1/deliveries')).body.data).toEqual([]);
    expect((await zapB.get(`/v1/deliveries?subscription_id=${delivery!.subscriptionId}`)).body.data).toEqual([]);
  });

  it('refuses a filter or cursor it does not know', async () => {
    const zap = api(server.url, (await server.setup()).key);
    for (const query of ['status=done', 'event_type=nope', 'limit=0', 'cursor=abc', 'extra=1']) {
      expect((await zap.get(`/v1/deliveries?${query}`)).body.error.code).toBe('validation_failed');
    }
    expect((await zap.get('/v1/deliveries?event_type=&status=&subscription_id=')).status).toBe(200); // blank is any
  });
});

describe('replay', () => {
  it('sends the same webhook-id, signed, records a manual attempt, and marks the delivery succeeded', async () => {
    const zap = api(server.url, (await server.setup()).key);
    const sub = await subscribe(zap, 'lead.captured', 'replay');
    rx.setDefault(reply(503, { body: 'maintenance' }));
    await zap.post('/v1/contacts', { email: 'replay@example.com' });
    await settled();
    const [failed] = (await zap.get('/v1/deliveries?status=failed')).body.data as Delivery[];
    const before = rx.requests.length;
    rx.setDefault(reply(200, { body: 'thanks' }));
    const res = await zap.post(`/v1/deliveries/${failed!.id}/replay`, {});
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'succeeded', attemptCount: 1, lastError: null });
    expect(res.body.attempts).toMatchObject([
      { attempt: 1, statusCode: 503, manual: false, responseExcerpt: 'maintenance' },
      { attempt: 2, statusCode: 200, manual: true, outcome: 'succeeded', responseExcerpt: 'thanks' },
    ]);
    const sent = rx.requests.slice(before);
    expect(sent).toHaveLength(1);
    const original = rx.requests.find((r) => r.headers['webhook-id'] === failed!.eventId && r !== sent[0]);
    expect(sent[0]!.headers['webhook-id']).toBe(failed!.eventId);
    expect(sent[0]!.text).toBe(original!.text);
    expect(verifySignature(sub.secret, sent[0]!.headers, sent[0]!.body)).toBe(true);
    // A replay that fails is recorded too, leaves the delivery as it was, and schedules nothing.
    rx.setDefault(reply(500, { body: 'again' }));
    const again = await zap.post(`/v1/deliveries/${failed!.id}/replay`, {});
    expect(again.body).toMatchObject({ status: 'succeeded', nextAttemptAt: null });
    expect(again.body.attempts.at(-1)).toMatchObject({ attempt: 3, manual: true, statusCode: 500, outcome: 'failed' });
  });

  it('a key revoked while its replay is in flight: the answer is 401, and the attempt that went out is in the log', async () => {
    const { workspace, key, keyId } = await server.setup();
    const zap = api(server.url, key);
    const sub = await subscribe(zap, 'lead.captured', 'in-flight');
    rx.setDefault(reply(500));
    await zap.post('/v1/contacts', { email: 'in-flight@example.com' });
    await settled();
    const [failed] = (await zap.get(`/v1/deliveries?subscription_id=${sub.id}`)).body.data as Delivery[];
    const sent = rx.requests.length;
    rx.setDefault(reply(200, { delayMs: 300 }));
    const replaying = zap.post(`/v1/deliveries/${failed!.id}/replay`, {});
    await waitUntil(() => rx.requests.length > sent, 5_000, 'the replay to arrive');
    await server.revokeKey(keyId);
    expect((await replaying).body.error.code).toBe('api_key_revoked');
    const other = api(server.url, await server.createKey(workspace.id));
    const after = (await other.get(`/v1/deliveries/${failed!.id}`)).body;
    expect(after.attempts.at(-1)).toMatchObject({ manual: true, statusCode: 200, outcome: 'succeeded' });
  });

  it('a 410 to a replay ends the subscription, as it would from the worker', async () => {
    const zap = api(server.url, (await server.setup()).key);
    const sub = await subscribe(zap, 'lead.captured', 'gone');
    rx.setDefault(reply(500));
    await zap.post('/v1/contacts', { email: 'gone@example.com' });
    await settled();
    const [failed] = (await zap.get(`/v1/deliveries?subscription_id=${sub.id}`)).body.data as Delivery[];
    rx.setDefault(reply(410));
    const res = await zap.post(`/v1/deliveries/${failed!.id}/replay`, {});
    expect(res.body.attempts.at(-1)).toMatchObject({ manual: true, statusCode: 410, outcome: 'gone' });
    const [status] = (await zap.get('/v1/subscriptions')).body.data as { id: string; deactivatedReason: string }[];
    expect(status).toMatchObject({ id: sub.id, active: false, deactivatedReason: 'gone' });
  });

  it('replays a subscription’s failed deliveries since a time, and only those', async () => {
    const zap = api(server.url, (await server.setup()).key);
    const sub = await subscribe(zap, 'ticket.created', 'bulk');
    rx.setDefault(reply(500));
    for (let i = 0; i < 3; i++) await zap.post('/v1/tickets', { subject: `Bulk ${i}` });
    await settled();
    const failed = (await zap.get(`/v1/deliveries?subscription_id=${sub.id}&status=failed`)).body.data as Delivery[];
    expect(failed).toHaveLength(3);
    const since = failed[1]!.createdAt; // the middle one's time (newest first): it and the newest are replayed
    rx.setDefault(reply(204));
    const res = await zap.post(`/v1/subscriptions/${sub.id}/replay`, { since });
    const expected = failed.filter((d) => d.createdAt >= since).length;
    expect(res.body).toEqual({
      subscriptionId: sub.id,
      replayed: expected,
      succeeded: expected,
      failed: 0,
      more: false,
    });
    const left = (await zap.get(`/v1/deliveries?subscription_id=${sub.id}&status=failed`)).body.data as Delivery[];
    expect(left.map((d) => d.id)).toEqual(failed.filter((d) => d.createdAt < since).map((d) => d.id));
    expect((await zap.post(`/v1/subscriptions/${sub.id}/replay`, { since: 'yesterday' })).status).toBe(422);
  });

  it('two replays of one delivery at once send it once: the second is refused while the first is in flight', async () => {
    const zap = api(server.url, (await server.setup()).key);
    const sub = await subscribe(zap, 'lead.captured', 'twice');
    rx.setDefault(reply(500));
    await zap.post('/v1/contacts', { email: 'twice@example.com' });
    await settled();
    const [failed] = (await zap.get(`/v1/deliveries?subscription_id=${sub.id}`)).body.data as Delivery[];
    const sentTo = () => rx.requests.filter((r) => r.path === '/hook/twice').length;
    const before = sentTo();
    rx.setDefault(reply(200, { delayMs: 300 }));
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => zap.post(`/v1/deliveries/${failed!.id}/replay`, {})),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409, 409, 409, 409]);
    for (const refused of answers.filter((a) => a.status === 409))
      expect(refused.body.error).toMatchObject({ code: 'replay_refused', message: expect.stringMatching(/right now/) });
    expect(sentTo() - before).toBe(1);
    const after = (await zap.get(`/v1/deliveries/${failed!.id}`)).body;
    expect(after.attempts.filter((a: { manual: boolean }) => a.manual)).toHaveLength(1);
    // Once it is answered, it may be replayed again.
    expect((await zap.post(`/v1/deliveries/${failed!.id}/replay`, {})).status).toBe(200);
    expect(sentTo() - before).toBe(2);
  });

  it('a bulk replay sent twice at once (a double click) sends each failed delivery once', async () => {
    const zap = api(server.url, (await server.setup()).key);
    const sub = await subscribe(zap, 'ticket.created', 'double-click');
    rx.setDefault(reply(500));
    for (let i = 0; i < 12; i++) await zap.post('/v1/tickets', { subject: `Double ${i}` });
    await settled();
    const sentTo = () => rx.requests.filter((r) => r.path === '/hook/double-click');
    const before = sentTo().length;
    rx.setDefault(reply(200, { delayMs: 300 }));
    const since = '2000-01-01T00:00:00Z';
    const [a, b] = await Promise.all([
      zap.post(`/v1/subscriptions/${sub.id}/replay`, { since }),
      zap.post(`/v1/subscriptions/${sub.id}/replay`, { since }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body.replayed + b.body.replayed).toBe(12);
    const replayedIds = sentTo()
      .slice(before)
      .map((r) => r.headers['webhook-id']);
    expect(replayedIds).toHaveLength(12);
    expect(new Set(replayedIds).size).toBe(12);
    expect((await zap.get(`/v1/deliveries?subscription_id=${sub.id}&status=failed`)).body.data).toEqual([]);
  });

  it('a delivery is replayed 20 times at most: the 21st is refused and sends nothing; a bulk replay skips it', async () => {
    const zap = api(server.url, (await server.setup()).key);
    const sub = await subscribe(zap, 'lead.captured', 'capped');
    rx.setDefault(reply(500));
    await zap.post('/v1/contacts', { email: 'capped@example.com' });
    await zap.post('/v1/contacts', { email: 'capped2@example.com' });
    await settled();
    const [, capped] = (await zap.get(`/v1/deliveries?subscription_id=${sub.id}`)).body.data as Delivery[];
    const sentTo = () => rx.requests.filter((r) => r.path === '/hook/capped').length;
    for (let i = 0; i < 20; i++) expect((await zap.post(`/v1/deliveries/${capped!.id}/replay`, {})).status).toBe(200);
    const before = sentTo();
    const refused = await zap.post(`/v1/deliveries/${capped!.id}/replay`, {});
    expect(refused).toMatchObject({ status: 409, body: { error: { code: 'replay_refused' } } });
    expect(refused.body.error.message).toMatch(/already replayed 20 times/);
    expect(sentTo()).toBe(before);
    const detail = (await zap.get(`/v1/deliveries/${capped!.id}`)).body;
    expect({ shown: detail.attempts.length, total: detail.attemptsTotal }).toEqual({ shown: 21, total: 21 });

    rx.setDefault(reply(200));
    const bulk = { since: '2000-01-01T00:00:00Z' };
    expect((await zap.post(`/v1/subscriptions/${sub.id}/replay`, bulk)).body).toMatchObject({
      replayed: 1,
      more: false,
    });
    expect(sentTo()).toBe(before + 1);
    expect((await zap.post(`/v1/subscriptions/${sub.id}/replay`, bulk)).body).toMatchObject({
      replayed: 0,
      more: false,
    });
    expect(sentTo()).toBe(before + 1);
  });

  it('one delivery with thousands of attempts (replayed before the cap) shows its latest 30, and how many in all', async () => {
    const { workspace, key } = await server.setup();
    const zap = api(server.url, key);
    await subscribe(zap, 'lead.captured', 'many-attempts');
    rx.setDefault(reply(500));
    await zap.post('/v1/contacts', { email: 'many@example.com' });
    await settled();
    const [delivery] = (await zap.get('/v1/deliveries')).body.data as Delivery[];
    const excerpt = 'x'.repeat(4096);
    await server.ctx.db.write(async (tx) => {
      for (let n = 2; n <= 2001; n++)
        await tx.run(
          `INSERT INTO delivery_attempts (id, delivery_id, attempt, started_at, duration_ms, status_code, outcome, response_body, manual)
           VALUES (?, ?, ?, ?, 5, 500, 'failed', ?, 1)`,
          `att_many${n}`,
          delivery!.id,
          n,
          new Date().toISOString(),
          excerpt,
        );
    });
    const res = await zap.get(`/v1/deliveries/${delivery!.id}`);
    expect(res.status).toBe(200);
    expect(res.body.attemptsTotal).toBe(2001);
    expect(res.body.attempts.map((a: { attempt: number }) => a.attempt)).toEqual(
      Array.from({ length: 30 }, (_, i) => 1972 + i),
    );
    expect(JSON.stringify(res.body).length).toBeLessThan(31 * 4096 + 20_000);

    const owner = await createAgent(server.ctx, workspace.id, {
      name: 'Olive',
      email: 'olive@example.com',
      role: 'owner',
    });
    const page = await (await signInAs(server, owner.id)).get(`/settings/deliveries/${delivery!.id}`);
    expect(page.status).toBe(200);
    expect(page.html).toContain('The latest 30 of 2001 attempts');
    expect(page.html.match(/<pre class="excerpt">/g)).toHaveLength(30);
  });

  it('is refused while the delivery is pending, and for a subscription turned off or a revoked key; nothing is sent', async () => {
    const { workspace, key, keyId } = await server.setup();
    const zap = api(server.url, key);
    const sub = await subscribe(zap, 'lead.captured', 'refused');
    await zap.post('/v1/contacts', { email: 'refused@example.com' });
    await settled();
    const [done] = (await zap.get('/v1/deliveries')).body.data as Delivery[];
    const sent = () => rx.requests.filter((r) => r.path.endsWith('/refused')).length;
    const count = sent();

    await server.ctx.db.run(
      `UPDATE deliveries SET status = 'pending', next_attempt_ms = ? WHERE id = ?`,
      Date.now() + 3_600_000,
      done!.id,
    );
    const pending = await zap.post(`/v1/deliveries/${done!.id}/replay`, {});
    expect(pending).toMatchObject({ status: 409, body: { error: { code: 'replay_refused' } } });
    expect(pending.body.error.message).toContain('still pending');
    await server.ctx.db.run(`UPDATE deliveries SET status = 'succeeded' WHERE id = ?`, done!.id);

    await zap.delete(`/v1/subscriptions/${sub.id}`);
    const off = await zap.post(`/v1/deliveries/${done!.id}/replay`, {});
    expect(off).toMatchObject({ status: 409, body: { error: { code: 'replay_refused' } } });
    expect((await zap.post(`/v1/subscriptions/${sub.id}/replay`, { since: '2020-01-01T00:00:00Z' })).status).toBe(200);

    // A revoked key: the replay comes from another key of the workspace, the subscription is the revoked one's.
    const other = await server.createKey(workspace.id);
    const sub2 = await subscribe(zap, 'lead.captured', 'refused');
    await zap.post('/v1/contacts', { email: 'refused2@example.com' });
    await settled();
    const [second] = (await zap.get(`/v1/deliveries?subscription_id=${sub2.id}`)).body.data as Delivery[];
    const countBeforeRevoke = sent();
    await server.revokeKey(keyId);
    const revoked = await api(server.url, other).post(`/v1/deliveries/${second!.id}/replay`, {});
    expect(revoked).toMatchObject({ status: 409, body: { error: { code: 'replay_refused' } } });
    expect(sent()).toBe(countBeforeRevoke);
    expect(countBeforeRevoke).toBe(count + 1);
  });

  it('goes through the worker’s target policy: a loopback target is refused where private targets are not allowed', async () => {
    const strict = await startApiServer({ allowPrivateTargets: false });
    try {
      const { workspace, key, keyId } = await strict.setup();
      // As if made while the setting allowed it (or by DNS that later pointed inside): the row is there.
      const db = strict.ctx.db;
      const now = new Date().toISOString();
      await db.run(
        `INSERT INTO subscriptions (id, workspace_id, api_key_id, event_type, target_url, secret, active, created_at) VALUES ('sub_private', ?, ?, 'lead.captured', ?, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 1, ?)`,
        workspace.id,
        keyId,
        `${rx.url}/private`,
        now,
      );
      await db.run(
        `INSERT INTO events (id, workspace_id, type, payload, created_at) VALUES ('evt_private', ?, 'lead.captured', '{}', ?)`,
        workspace.id,
        now,
      );
      await db.run(
        `INSERT INTO deliveries (id, event_id, subscription_id, workspace_id, event_type, status, next_attempt_ms, created_at) VALUES ('dlv_private', 'evt_private', 'sub_private', ?, 'lead.captured', 'failed', 0, ?)`,
        workspace.id,
        now,
      );
      const before = rx.requests.length;
      const res = await api(strict.url, key).post('/v1/deliveries/dlv_private/replay', {});
      expect(res.status).toBe(200);
      expect(res.body.attempts.at(-1)).toMatchObject({ manual: true, outcome: 'refused', statusCode: null });
      expect(res.body.attempts.at(-1).error).toMatch(/https|private|loopback/);
      expect(rx.requests.length).toBe(before);
    } finally {
      await strict.close();
    }
  });
});

describe('ILLUMICHAT_RETRY_SCHEDULE_MS', () => {
  it('sets the retry delays, or none when empty, so a failed delivery can be replayed locally at once', () => {
    expect(loadConfig({}).delivery.retryScheduleMs).toEqual(RETRY_SCHEDULE_MS);
    expect(loadConfig({ ILLUMICHAT_RETRY_SCHEDULE_MS: '1000,5000' }).delivery.retryScheduleMs).toEqual([1000, 5000]);
    expect(loadConfig({ ILLUMICHAT_RETRY_SCHEDULE_MS: '' }).delivery.retryScheduleMs).toEqual([]);
    for (const bad of ['5s', '1000,', ',1000', '-1', '1 000', Array.from({ length: 21 }, () => '1').join(',')])
      expect(() => loadConfig({ ILLUMICHAT_RETRY_SCHEDULE_MS: bad })).toThrow(/ILLUMICHAT_RETRY_SCHEDULE_MS|delays/);
  });
});

/**
 * PostgreSQL's connection pool under exhaustion (issue 13): a request that finds every connection taken waits
 * at most `databasePool.waitMs`, then answers 503 storage_unavailable with Retry-After in the error shape,
 * having stored nothing; and no request holds one connection while it waits for a second (on a pool of one
 * connection that would wait for itself until the bound, and answer 503 instead of its result).
 */
import { tableCounts } from '../support/api-events';
import { api, type ApiResponse, type ApiServer, startApiServer, waitUntil } from '../support/api-server';
import { PG_SETUP_TIMEOUT_MS } from '../support/pg';
import { type Receiver, startReceiver } from '../support/receiver';
import { describeEngine } from '../support/test-store';

describeEngine('postgres', 'the connection pool is the PostgreSQL engine’s', 'the connection pool', () => {
  function expectDatabaseBusy(res: ApiResponse): void {
    expect({ status: res.status, retryAfter: res.headers.get('retry-after'), body: res.body }).toEqual({
      status: 503,
      retryAfter: '5',
      body: { error: { code: 'storage_unavailable', message: expect.stringMatching(/no free database connection/) } },
    });
  }

  describe('every connection taken for longer than the wait', () => {
    const WAIT_MS = 300;
    let server: ApiServer;
    beforeAll(async () => {
      server = await startApiServer({ config: { databasePool: { size: 2, workerSize: 1, waitMs: WAIT_MS } } });
    }, PG_SETUP_TIMEOUT_MS);
    afterAll(async () => await server.close());

    /** Runs `fn` while both connections are held by transactions that wait for the caller's signal. */
    async function withPoolTaken<T>(fn: () => Promise<T>): Promise<T> {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let holding = 0;
      const holders = [0, 1].map(() =>
        server.ctx.store.write(async (tx) => {
          await tx.value('SELECT 1');
          holding++;
          await released;
        }),
      );
      try {
        await waitUntil(() => holding === 2, 5000, 'both connections held');
        return await fn();
      } finally {
        release();
        await Promise.all(holders);
      }
    }

    it('reads and writes, keyed, idempotent, agent and public, answer 503 with Retry-After, storing nothing; then work', async () => {
      const { workspace, assistant, key } = await server.setup();
      const agent = await server.createAgent(workspace.id);
      const requests: [string, () => Promise<ApiResponse>][] = [
        ['GET /v1/tickets', () => api(server.url, key).get('/v1/tickets')],
        ['POST /v1/contacts', () => api(server.url, key).post('/v1/contacts', { email: 'busy@example.com' })],
        [
          'POST /v1/tickets with an Idempotency-Key',
          () => api(server.url, key).post('/v1/tickets', { subject: 'Busy' }, { 'idempotency-key': 'busy-1' }),
        ],
        ['POST /v1/agent/tickets', () => api(server.url, agent.token).post('/v1/agent/tickets', { subject: 'Busy' })],
        [
          'POST /v1/widget/…/conversations (public)',
          () => api(server.url).post(`/v1/widget/assistants/${assistant.id}/conversations`, { message: 'Hi' }),
        ],
      ];
      const before = await tableCounts(server);
      const refused = await withPoolTaken(async () => {
        const answers: Record<string, ApiResponse> = {};
        for (const [name, request] of requests) {
          const startedAt = Date.now();
          answers[name] = await request();
          // Bounded: about one wait per statement tried, never the holders' whole hold.
          expect({ name, tookMs: Date.now() - startedAt < 20 * WAIT_MS }).toEqual({ name, tookMs: true });
        }
        return answers;
      });
      for (const res of Object.values(refused)) expectDatabaseBusy(res);
      expect(await tableCounts(server)).toEqual(before);
      // Once connections are free again, the same requests succeed (the idempotent one is not a replay).
      for (const [name, request] of requests) {
        const res = await request();
        expect({ name, ok: res.status < 300 }).toEqual({ name, ok: true });
        expect(res.headers.get('idempotent-replayed')).toBeNull();
      }
      const refusals = server.logs.filter((l) => l.message === 'storage unavailable: request refused');
      expect(refusals.length).toBeGreaterThanOrEqual(requests.length);
      expect(server.logs.filter((l) => l.message === 'unhandled error')).toEqual([]);
    });
  });

  // A transaction that asks the store (not itself) for a statement needs a second connection while it holds
  // one: under a full pool every holder waits for another, and nothing moves. On a pool of one it waits for
  // itself, so each of these flows would answer 503 (or its delivery never arrive) instead of succeeding.
  describe('a pool of one connection: no request or delivery needs two at once', () => {
    let server: ApiServer;
    let rx: Receiver;
    beforeAll(async () => {
      server = await startApiServer({
        delivery: true,
        config: { databasePool: { size: 1, workerSize: 1, waitMs: 3_000 } },
      });
      rx = await startReceiver();
    }, PG_SETUP_TIMEOUT_MS);
    afterAll(async () => {
      await server.close();
      await rx.close();
    });

    it('subscribe, events delivered, idempotent writes and their replays, unsubscribe, key revocation', async () => {
      const { workspace, key, keyId } = await server.setup();
      const agent = await server.createAgent(workspace.id);
      const zap = api(server.url, key);
      const sub = await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: `${rx.url}/one` });
      expect({ status: sub.status, body: sub.body }).toEqual({ status: 201, body: sub.body });
      expect((await api(server.url, agent.token).post('/v1/agent/tickets', { subject: 'one' })).status).toBe(201);
      const created = await zap.post('/v1/tickets', { subject: 'two' }, { 'idempotency-key': 'one-conn' });
      expect(created.status).toBe(201);
      const replay = await zap.post('/v1/tickets', { subject: 'two' }, { 'idempotency-key': 'one-conn' });
      expect({ status: replay.status, replayed: replay.headers.get('idempotent-replayed') }).toEqual({
        status: 201,
        replayed: 'true',
      });
      await waitUntil(() => rx.requests.length >= 2, 20_000, 'both deliveries on one connection');
      expect((await zap.delete(`/v1/subscriptions/${sub.body.id}`)).status).toBe(200);
      await server.revokeKey(keyId);
      expect((await zap.get('/v1/tickets')).body.error.code).toBe('api_key_revoked');
      expect(server.logs.filter((l) => l.level === 'error')).toEqual([]);
    }, 60_000);
  });
});

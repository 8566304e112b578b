/**
 * Idempotency-Key: replays, conflicts, a request still running, a crashed request's stale claim, and
 * the 24-hour memory. The clock is the test's, so expiry and staleness are exact.
 */
import crypto from 'node:crypto';

import { inTransaction } from '../../partner-api/context';
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  IDEMPOTENCY_KEEP_MS,
  IDEMPOTENCY_STALE_RUNNING_MS,
  purgeExpiredIdempotencyKeys,
  releaseIdempotencyKey,
  requestHash,
} from '../../partner-api/domain/idempotency';
import { recordedEvents, tableCounts } from '../support/api-events';
import { api, type ApiServer, startApiServer } from '../support/api-server';
import { testClock } from '../support/helpers';

const clock = testClock();
let server: ApiServer;
beforeAll(async () => {
  server = await startApiServer({ clock });
});
afterAll(async () => await server.close());

async function fresh() {
  const { workspace, key, assistant } = await server.setup();
  return { workspace, assistant, zap: api(server.url, key) };
}

const ticketCount = async (workspaceId: string) =>
  await server.ctx.db.value('SELECT COUNT(*) FROM tickets WHERE workspace_id = ?', workspaceId);

describe('replay', () => {
  it('the same key and request replays the first response, and the change happens once', async () => {
    const { workspace, zap } = await fresh();
    const first = await zap.post(
      '/v1/tickets',
      { subject: 'Once', priority: 'high' },
      { 'Idempotency-Key': 'zap-step-1' },
    );
    const again = await zap.post(
      '/v1/tickets',
      { priority: 'high', subject: 'Once' },
      { 'Idempotency-Key': 'zap-step-1' },
    );
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await ticketCount(workspace.id)).toBe(1);
    expect(await recordedEvents(server, { type: 'ticket.created', workspaceId: workspace.id })).toHaveLength(1);
  });

  it('accepts X-Idempotency-Key as well', async () => {
    const { workspace, zap } = await fresh();
    await zap.post('/v1/contacts', { email: 'x@example.com' }, { 'X-Idempotency-Key': 'alt' });
    const again = await zap.post('/v1/contacts', { email: 'x@example.com' }, { 'X-Idempotency-Key': 'alt' });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await recordedEvents(server, { type: 'lead.captured', workspaceId: workspace.id })).toHaveLength(1);
  });

  it('replays the stored response even after the resource changed (PATCH)', async () => {
    const { zap } = await fresh();
    const { id } = (await zap.post('/v1/tickets', { subject: 'x' })).body;
    const first = await zap.patch(`/v1/tickets/${id}`, { status: 'open' }, { 'Idempotency-Key': 'p1' });
    await zap.patch(`/v1/tickets/${id}`, { status: 'closed' });
    const replay = await zap.patch(`/v1/tickets/${id}`, { status: 'open' }, { 'Idempotency-Key': 'p1' });
    expect(replay.body).toEqual(first.body);
    expect((await zap.get('/v1/tickets')).body.data[0].status).toBe('closed');
  });

  it('replays a subscription with the same secret instead of making a second one', async () => {
    const { zap } = await fresh();
    const body = { event_type: 'lead.captured', target_url: 'http://127.0.0.1:9/hook' };
    const first = await zap.post('/v1/subscriptions', body, { 'Idempotency-Key': 'sub-1' });
    const before = (await tableCounts(server)).subscriptions;
    const again = await zap.post('/v1/subscriptions', body, { 'Idempotency-Key': 'sub-1' });
    expect(again.body).toEqual(first.body);
    expect((await tableCounts(server)).subscriptions).toBe(before);
  });

  it('is scoped to the workspace: another workspace’s same key is its own request', async () => {
    const a = await fresh();
    const b = await fresh();
    await a.zap.post('/v1/tickets', { subject: 'A' }, { 'Idempotency-Key': 'shared' });
    const res = await b.zap.post('/v1/tickets', { subject: 'B' }, { 'Idempotency-Key': 'shared' });
    expect(res.status).toBe(201);
    expect(res.body.subject).toBe('B');
    expect(res.headers.get('idempotent-replayed')).toBeNull();
  });
});

describe('conflict', () => {
  it('the same key with another body or path is 422 idempotency_key_conflict, and changes nothing', async () => {
    const { zap } = await fresh();
    await zap.post('/v1/tickets', { subject: 'First' }, { 'Idempotency-Key': 'k' });
    const before = await tableCounts(server);
    const otherBody = await zap.post('/v1/tickets', { subject: 'Second' }, { 'Idempotency-Key': 'k' });
    expect(otherBody.status).toBe(422);
    expect(otherBody.body.error.code).toBe('idempotency_key_conflict');
    const otherPath = await zap.post('/v1/contacts', { email: 'k@example.com' }, { 'Idempotency-Key': 'k' });
    expect(otherPath.body.error.code).toBe('idempotency_key_conflict');
    expect(await tableCounts(server)).toEqual(before);
  });

  it('refuses a key that is empty, too long or not printable ASCII', async () => {
    const { zap } = await fresh();
    for (const key of ['x'.repeat(256), 'tab\tinside']) {
      const res = await zap.post('/v1/tickets', { subject: 'x' }, { 'Idempotency-Key': key });
      expect(res.status).toBe(422);
      expect(res.body.error.details).toEqual([{ path: 'Idempotency-Key', message: expect.any(String) }]);
    }
    expect((await zap.post('/v1/tickets', { subject: 'x' }, { 'Idempotency-Key': 'x'.repeat(255) })).status).toBe(201);
  });
});

describe('a failed request', () => {
  it('stores no response, so a corrected retry with the same key runs', async () => {
    const { workspace, zap } = await fresh();
    const body = { subject: 'Needs contact', contact_email: 'later@example.com' };
    const failed = await zap.post('/v1/tickets', body, { 'Idempotency-Key': 'retry-me' });
    expect(failed.body.error.code).toBe('contact_not_found');
    expect(
      await server.ctx.db.value('SELECT COUNT(*) FROM idempotency_keys WHERE workspace_id = ?', workspace.id),
    ).toBe(0);
    await zap.post('/v1/contacts', { email: 'later@example.com' });
    const retried = await zap.post('/v1/tickets', body, { 'Idempotency-Key': 'retry-me' });
    expect(retried.status).toBe(201);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
  });
});

describe('a request still running, or whose process died', () => {
  async function leaveRunningClaim(workspaceId: string, key: string, path: string, body: unknown): Promise<void> {
    // What a process that died mid-request leaves: the claim, and no change (they commit together).
    await claimIdempotencyKey(server.ctx, workspaceId, key, requestHash('POST', path, body));
  }

  it('answers 409 idempotency_request_in_progress while the claim is fresh, then runs exactly once', async () => {
    const { workspace, zap } = await fresh();
    const body = { subject: 'Crashed once' };
    await leaveRunningClaim(workspace.id, 'crash-1', '/v1/tickets', body);
    const busy = await zap.post('/v1/tickets', body, { 'Idempotency-Key': 'crash-1' });
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('idempotency_request_in_progress');
    expect(busy.headers.get('retry-after')).toBe('1');
    clock.advance(29_000);
    expect((await zap.post('/v1/tickets', body, { 'Idempotency-Key': 'crash-1' })).status).toBe(409);
    expect(await ticketCount(workspace.id)).toBe(0);

    clock.advance(1_500);
    const retried = await zap.post('/v1/tickets', body, { 'Idempotency-Key': 'crash-1' });
    expect(retried.status).toBe(201);
    const replayed = await zap.post('/v1/tickets', body, { 'Idempotency-Key': 'crash-1' });
    expect(replayed.body).toEqual(retried.body);
    expect(await ticketCount(workspace.id)).toBe(1);
  });

  it('a different request is a conflict even while the first is running', async () => {
    const { workspace, zap } = await fresh();
    await leaveRunningClaim(workspace.id, 'busy', '/v1/tickets', { subject: 'One' });
    const res = await zap.post('/v1/tickets', { subject: 'Two' }, { 'Idempotency-Key': 'busy' });
    expect(res.body.error.code).toBe('idempotency_key_conflict');
  });

  it('a slow original whose stale claim was taken over cannot commit a second time', async () => {
    const { workspace } = await fresh();
    const hash = requestHash('POST', '/v1/tickets', { subject: 'slow' });
    const original = await claimIdempotencyKey(server.ctx, workspace.id, 'slow', hash);
    clock.advance(31_000);
    const takeover = await claimIdempotencyKey(server.ctx, workspace.id, 'slow', hash);
    expect(takeover.kind).toBe('claimed');
    if (original.kind !== 'claimed') throw new Error('expected a claim');
    const lateCommit = async () =>
      await inTransaction(server.ctx, async (ctx) => {
        await ctx.db.run(
          "INSERT INTO assistants (id, workspace_id, name, created_at) VALUES ('ast_late', ?, 'late', 'x')",
          workspace.id,
        );
        await completeIdempotencyKey(ctx, workspace.id, 'slow', original.token, { status: 201, body: {} });
      });
    let thrown: unknown;
    try {
      await lateCommit();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ status: 409, code: 'idempotency_request_in_progress' });
    // The late change was rolled back with it.
    expect(await server.ctx.db.value("SELECT COUNT(*) FROM assistants WHERE id = 'ast_late'")).toBe(0);
  });
});

describe('24 hours', () => {
  it('keeps a key for 24 hours, then forgets it (a new request with it runs) and purges old records', async () => {
    const { workspace, zap } = await fresh();
    await zap.post('/v1/tickets', { subject: 'Day one' }, { 'Idempotency-Key': 'daily' });
    clock.advance(IDEMPOTENCY_KEEP_MS - 1_000);
    expect(
      (await zap.post('/v1/tickets', { subject: 'Day two' }, { 'Idempotency-Key': 'daily' })).body.error.code,
    ).toBe('idempotency_key_conflict');
    clock.advance(2_000);
    const reused = await zap.post('/v1/tickets', { subject: 'Day two' }, { 'Idempotency-Key': 'daily' });
    expect(reused.status).toBe(201);
    expect(reused.body.subject).toBe('Day two');

    await zap.post('/v1/tickets', { subject: 'old' }, { 'Idempotency-Key': 'will-expire' });
    clock.advance(IDEMPOTENCY_KEEP_MS + 11 * 60_000);
    await zap.post('/v1/tickets', { subject: 'later' }, { 'Idempotency-Key': 'fresh' });
    const keys = await server.ctx.db.values(
      'SELECT key FROM idempotency_keys WHERE workspace_id = ? ORDER BY key',
      workspace.id,
    );
    expect(keys).toEqual(['fresh']);
  });
});

describe('the request hash', () => {
  const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest('hex');

  it('is SHA-256 of method, path and the body as canonical JSON (keys sorted at every level)', () => {
    const body = { b: [1, { d: null, c: 'x' }], a: true, e: { g: 2, f: [] } };
    const canonical = '{"a":true,"b":[1,{"c":"x","d":null}],"e":{"f":[],"g":2}}';
    expect(requestHash('POST', '/v1/tickets', body)).toBe(sha256(`POST\n/v1/tickets\n${canonical}`));
    expect(requestHash('POST', '/v1/tickets', { e: { f: [], g: 2 }, a: true, b: [1, { c: 'x', d: null }] })).toBe(
      requestHash('POST', '/v1/tickets', body),
    );
    expect(requestHash('GET', '/v1/tickets', undefined)).toBe(sha256('GET\n/v1/tickets\nnull'));
    expect(requestHash('GET', '/v1/tickets', null)).toBe(sha256('GET\n/v1/tickets\nnull'));
  });

  it('differs when the method, the path, an array’s order or any value differs', () => {
    const hash = requestHash('POST', '/v1/tickets', { tags: ['a', 'b'], n: 1 });
    expect(requestHash('PATCH', '/v1/tickets', { tags: ['a', 'b'], n: 1 })).not.toBe(hash);
    expect(requestHash('POST', '/v1/contacts', { tags: ['a', 'b'], n: 1 })).not.toBe(hash);
    expect(requestHash('POST', '/v1/tickets', { tags: ['b', 'a'], n: 1 })).not.toBe(hash);
    expect(requestHash('POST', '/v1/tickets', { tags: ['a', 'b'], n: '1' })).not.toBe(hash);
  });
});

describe('claims, directly', () => {
  let workspaceId: string;
  beforeAll(async () => {
    workspaceId = (await fresh()).workspace.id;
  });
  const hashOf = (subject: string) => requestHash('POST', '/v1/tickets', { subject });
  const rowCount = async (key: string) =>
    await server.ctx.db.value(
      'SELECT COUNT(*) FROM idempotency_keys WHERE workspace_id = ? AND key = ?',
      workspaceId,
      key,
    );
  const complete = async (key: string, token: number, response: { status: number; body: unknown }) =>
    await inTransaction(
      server.ctx,
      async (ctx) => await completeIdempotencyKey(ctx, workspaceId, key, token, response),
    );

  it('replays the stored status and body, and claims with the current time as the token', async () => {
    const claim = await claimIdempotencyKey(server.ctx, workspaceId, 'direct-1', hashOf('one'));
    expect(claim).toEqual({ kind: 'claimed', token: clock.now() });
    if (claim.kind !== 'claimed') throw new Error('expected a claim');
    await complete('direct-1', claim.token, { status: 201, body: { id: 'tkt_1', tags: ['a'] } });
    expect(await claimIdempotencyKey(server.ctx, workspaceId, 'direct-1', hashOf('one'))).toEqual({
      kind: 'replay',
      response: { status: 201, body: { id: 'tkt_1', tags: ['a'] } },
    });
  });

  it('says what the conflict is', async () => {
    await expect(claimIdempotencyKey(server.ctx, workspaceId, 'direct-1', hashOf('two'))).rejects.toThrow(
      expect.objectContaining({
        status: 422,
        code: 'idempotency_key_conflict',
        message: 'This Idempotency-Key was already used with a different request. Use a new key for a new request.',
      }),
    );
  });

  it('may take over a running claim exactly when it has been running for the stale limit', async () => {
    const first = await claimIdempotencyKey(server.ctx, workspaceId, 'direct-stale', hashOf('stale'));
    clock.advance(IDEMPOTENCY_STALE_RUNNING_MS - 1);
    await expect(claimIdempotencyKey(server.ctx, workspaceId, 'direct-stale', hashOf('stale'))).rejects.toThrow(
      expect.objectContaining({
        status: 409,
        code: 'idempotency_request_in_progress',
        message: 'A request with this Idempotency-Key is still being processed. Retry in a few seconds.',
        options: { headers: { 'Retry-After': '1' } },
      }),
    );
    clock.advance(1);
    const takeover = await claimIdempotencyKey(server.ctx, workspaceId, 'direct-stale', hashOf('stale'));
    expect(takeover).toEqual({ kind: 'claimed', token: clock.now() });
    expect(takeover).not.toEqual(first);
  });

  it('keeps a key exactly 24 hours, and forgets it one millisecond later', async () => {
    const claim = await claimIdempotencyKey(server.ctx, workspaceId, 'direct-day', hashOf('day'));
    if (claim.kind !== 'claimed') throw new Error('expected a claim');
    await complete('direct-day', claim.token, { status: 201, body: {} });
    clock.advance(IDEMPOTENCY_KEEP_MS);
    expect((await claimIdempotencyKey(server.ctx, workspaceId, 'direct-day', hashOf('day'))).kind).toBe('replay');
    clock.advance(1);
    expect(await claimIdempotencyKey(server.ctx, workspaceId, 'direct-day', hashOf('another day'))).toEqual({
      kind: 'claimed',
      token: clock.now(),
    });
  });

  it('completes only inside the transaction of the change', async () => {
    const claim = await claimIdempotencyKey(server.ctx, workspaceId, 'direct-tx', hashOf('tx'));
    if (claim.kind !== 'claimed') throw new Error('expected a claim');
    await expect(
      completeIdempotencyKey(server.ctx, workspaceId, 'direct-tx', claim.token, { status: 201, body: {} }),
    ).rejects.toThrow('completeIdempotencyKey must run inside the transaction of the change');
    expect(
      await server.ctx.db.value(
        "SELECT state FROM idempotency_keys WHERE workspace_id = ? AND key = 'direct-tx'",
        workspaceId,
      ),
    ).toBe('running');
  });

  it('releases only the claim the caller holds, and never a stored response', async () => {
    const original = await claimIdempotencyKey(server.ctx, workspaceId, 'direct-release', hashOf('r'));
    if (original.kind !== 'claimed') throw new Error('expected a claim');
    clock.advance(IDEMPOTENCY_STALE_RUNNING_MS);
    const takeover = await claimIdempotencyKey(server.ctx, workspaceId, 'direct-release', hashOf('r'));
    if (takeover.kind !== 'claimed') throw new Error('expected a claim');
    await releaseIdempotencyKey(server.ctx, workspaceId, 'direct-release', original.token);
    expect(await rowCount('direct-release')).toBe(1);
    await releaseIdempotencyKey(server.ctx, workspaceId, 'direct-release', takeover.token);
    expect(await rowCount('direct-release')).toBe(0);

    const done = await claimIdempotencyKey(server.ctx, workspaceId, 'direct-done', hashOf('d'));
    if (done.kind !== 'claimed') throw new Error('expected a claim');
    await complete('direct-done', done.token, { status: 200, body: {} });
    await releaseIdempotencyKey(server.ctx, workspaceId, 'direct-done', done.token);
    expect(await rowCount('direct-done')).toBe(1);
  });

  it('purges records older than 24 hours, keeping one exactly 24 hours old, and says how many', async () => {
    const insert = (...params: unknown[]) =>
      server.ctx.db.run(
        "INSERT INTO idempotency_keys (workspace_id, key, request_hash, state, created_at_ms) VALUES (?, ?, 'h', 'done', ?)",
        ...params,
      );
    const now = clock.now();
    await purgeExpiredIdempotencyKeys(server.ctx, now); // what earlier tests left
    await insert(workspaceId, 'purge-old-1', now - IDEMPOTENCY_KEEP_MS - 1);
    await insert(workspaceId, 'purge-old-2', now - IDEMPOTENCY_KEEP_MS - 60_000);
    await insert(workspaceId, 'purge-edge', now - IDEMPOTENCY_KEEP_MS);
    expect(await purgeExpiredIdempotencyKeys(server.ctx, now)).toBe(2);
    expect([await rowCount('purge-old-1'), await rowCount('purge-old-2'), await rowCount('purge-edge')]).toEqual([
      0, 0, 1,
    ]);
    expect(await purgeExpiredIdempotencyKeys(server.ctx)).toBe(0); // the clock's own time by default
    clock.advance(1);
    expect(await purgeExpiredIdempotencyKeys(server.ctx)).toBe(1);
  });

  it('purges on a claim at most every 10 minutes, and again at once when the clock went back', async () => {
    const plant = async (key: string, ageMs = IDEMPOTENCY_KEEP_MS + 1) =>
      await server.ctx.db.run(
        "INSERT INTO idempotency_keys (workspace_id, key, request_hash, state, created_at_ms) VALUES (?, ?, 'h', 'done', ?)",
        workspaceId,
        key,
        clock.now() - ageMs,
      );
    clock.advance(10 * 60_000);
    await claimIdempotencyKey(server.ctx, workspaceId, 'purge-tick-1', hashOf('t1')); // purges now
    await plant('purge-expired-a');
    await claimIdempotencyKey(server.ctx, workspaceId, 'purge-tick-same-ms', hashOf('t0'));
    expect(await rowCount('purge-expired-a')).toBe(1); // the same millisecond as the last purge
    clock.advance(10 * 60_000 - 1);
    await claimIdempotencyKey(server.ctx, workspaceId, 'purge-tick-2', hashOf('t2'));
    expect(await rowCount('purge-expired-a')).toBe(1); // within 10 minutes of the last purge
    clock.advance(1);
    await claimIdempotencyKey(server.ctx, workspaceId, 'purge-tick-3', hashOf('t3'));
    expect(await rowCount('purge-expired-a')).toBe(0);

    await plant('purge-expired-b', IDEMPOTENCY_KEEP_MS + 120_000); // expired also a minute earlier
    clock.set(clock.now() - 60_000);
    await claimIdempotencyKey(server.ctx, workspaceId, 'purge-tick-4', hashOf('t4'));
    expect(await rowCount('purge-expired-b')).toBe(0);
    clock.advance(60_000);
  });
});

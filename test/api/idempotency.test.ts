/**
 * Idempotency-Key: replays, conflicts, a request still running, a crashed request's stale claim, and
 * the 24-hour memory. The clock is the test's, so expiry and staleness are exact.
 */
import { claimIdempotencyKey, completeIdempotencyKey, IDEMPOTENCY_KEEP_MS, requestHash } from '../../partner-api/domain/idempotency';
import { writeTransaction } from '../../partner-api/lib/statements';
import { recordedEvents, tableCounts } from '../support/api-events';
import { api, type ApiServer, manualClock, startApiServer } from '../support/api-server';

const clock = manualClock();
let server: ApiServer;
beforeAll(async () => {
  server = await startApiServer({ clock });
});
afterAll(() => server.close());

async function fresh() {
  const { workspace, key, assistant } = await server.setup();
  return { workspace, assistant, zap: api(server.url, key) };
}

const ticketCount = (workspaceId: string) =>
  server.ctx.db.prepare('SELECT COUNT(*) FROM tickets WHERE workspace_id = ?').pluck().get(workspaceId);

describe('replay', () => {
  it('the same key and request replays the first response, and the change happens once', async () => {
    const { workspace, zap } = await fresh();
    const first = await zap.post('/v1/tickets', { subject: 'Once', priority: 'high' }, { 'Idempotency-Key': 'zap-step-1' });
    const again = await zap.post('/v1/tickets', { priority: 'high', subject: 'Once' }, { 'Idempotency-Key': 'zap-step-1' });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(ticketCount(workspace.id)).toBe(1);
    expect(recordedEvents(server, { type: 'ticket.created', workspaceId: workspace.id })).toHaveLength(1);
  });

  it('accepts X-Idempotency-Key as well', async () => {
    const { workspace, zap } = await fresh();
    await zap.post('/v1/contacts', { email: 'x@example.com' }, { 'X-Idempotency-Key': 'alt' });
    const again = await zap.post('/v1/contacts', { email: 'x@example.com' }, { 'X-Idempotency-Key': 'alt' });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(recordedEvents(server, { type: 'lead.captured', workspaceId: workspace.id })).toHaveLength(1);
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
    const before = tableCounts(server).subscriptions;
    const again = await zap.post('/v1/subscriptions', body, { 'Idempotency-Key': 'sub-1' });
    expect(again.body).toEqual(first.body);
    expect(tableCounts(server).subscriptions).toBe(before);
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
    const before = tableCounts(server);
    const otherBody = await zap.post('/v1/tickets', { subject: 'Second' }, { 'Idempotency-Key': 'k' });
    expect(otherBody.status).toBe(422);
    expect(otherBody.body.error.code).toBe('idempotency_key_conflict');
    const otherPath = await zap.post('/v1/contacts', { email: 'k@example.com' }, { 'Idempotency-Key': 'k' });
    expect(otherPath.body.error.code).toBe('idempotency_key_conflict');
    expect(tableCounts(server)).toEqual(before);
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
    expect(server.ctx.db.prepare('SELECT COUNT(*) FROM idempotency_keys WHERE workspace_id = ?').pluck().get(workspace.id)).toBe(0);
    await zap.post('/v1/contacts', { email: 'later@example.com' });
    const retried = await zap.post('/v1/tickets', body, { 'Idempotency-Key': 'retry-me' });
    expect(retried.status).toBe(201);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
  });
});

describe('a request still running, or whose process died', () => {
  function leaveRunningClaim(workspaceId: string, key: string, path: string, body: unknown): void {
    // What a process that died mid-request leaves: the claim, and no change (they commit together).
    claimIdempotencyKey(server.ctx, workspaceId, key, requestHash('POST', path, body));
  }

  it('answers 409 idempotency_request_in_progress while the claim is fresh, then runs exactly once', async () => {
    const { workspace, zap } = await fresh();
    const body = { subject: 'Crashed once' };
    leaveRunningClaim(workspace.id, 'crash-1', '/v1/tickets', body);
    const busy = await zap.post('/v1/tickets', body, { 'Idempotency-Key': 'crash-1' });
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('idempotency_request_in_progress');
    expect(busy.headers.get('retry-after')).toBe('1');
    clock.advance(29_000);
    expect((await zap.post('/v1/tickets', body, { 'Idempotency-Key': 'crash-1' })).status).toBe(409);
    expect(ticketCount(workspace.id)).toBe(0);

    clock.advance(1_500);
    const retried = await zap.post('/v1/tickets', body, { 'Idempotency-Key': 'crash-1' });
    expect(retried.status).toBe(201);
    const replayed = await zap.post('/v1/tickets', body, { 'Idempotency-Key': 'crash-1' });
    expect(replayed.body).toEqual(retried.body);
    expect(ticketCount(workspace.id)).toBe(1);
  });

  it('a different request is a conflict even while the first is running', async () => {
    const { workspace, zap } = await fresh();
    leaveRunningClaim(workspace.id, 'busy', '/v1/tickets', { subject: 'One' });
    const res = await zap.post('/v1/tickets', { subject: 'Two' }, { 'Idempotency-Key': 'busy' });
    expect(res.body.error.code).toBe('idempotency_key_conflict');
  });

  it('a slow original whose stale claim was taken over cannot commit a second time', async () => {
    const { workspace } = await fresh();
    const hash = requestHash('POST', '/v1/tickets', { subject: 'slow' });
    const original = claimIdempotencyKey(server.ctx, workspace.id, 'slow', hash);
    clock.advance(31_000);
    const takeover = claimIdempotencyKey(server.ctx, workspace.id, 'slow', hash);
    expect(takeover.kind).toBe('claimed');
    if (original.kind !== 'claimed') throw new Error('expected a claim');
    const lateCommit = () =>
      writeTransaction(server.ctx.db, () => {
        server.ctx.db.prepare("INSERT INTO assistants (id, workspace_id, name, created_at) VALUES ('ast_late', ?, 'late', 'x')").run(workspace.id);
        completeIdempotencyKey(server.ctx, workspace.id, 'slow', original.token, { status: 201, body: {} });
      });
    let thrown: unknown;
    try {
      lateCommit();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ status: 409, code: 'idempotency_request_in_progress' });
    // The late change was rolled back with it.
    expect(server.ctx.db.prepare("SELECT COUNT(*) FROM assistants WHERE id = 'ast_late'").pluck().get()).toBe(0);
  });
});

describe('24 hours', () => {
  it('keeps a key for 24 hours, then forgets it (a new request with it runs) and purges old records', async () => {
    const { workspace, zap } = await fresh();
    await zap.post('/v1/tickets', { subject: 'Day one' }, { 'Idempotency-Key': 'daily' });
    clock.advance(IDEMPOTENCY_KEEP_MS - 1_000);
    expect((await zap.post('/v1/tickets', { subject: 'Day two' }, { 'Idempotency-Key': 'daily' })).body.error.code).toBe(
      'idempotency_key_conflict',
    );
    clock.advance(2_000);
    const reused = await zap.post('/v1/tickets', { subject: 'Day two' }, { 'Idempotency-Key': 'daily' });
    expect(reused.status).toBe(201);
    expect(reused.body.subject).toBe('Day two');

    await zap.post('/v1/tickets', { subject: 'old' }, { 'Idempotency-Key': 'will-expire' });
    clock.advance(IDEMPOTENCY_KEEP_MS + 11 * 60_000);
    await zap.post('/v1/tickets', { subject: 'later' }, { 'Idempotency-Key': 'fresh' });
    const keys = server.ctx.db.prepare('SELECT key FROM idempotency_keys WHERE workspace_id = ? ORDER BY key').pluck().all(workspace.id);
    expect(keys).toEqual(['fresh']);
  });
});

/** Authentication in the documented order, the scope × plan matrix, and what a key leaves in logs. */
import { generateApiKey, SCOPES } from '../../partner-api/domain/credentials';
import { PLANS, revokeAgentToken, rotateAgentToken } from '../../partner-api/domain/workspaces';
import { AGENT_ENDPOINTS, KEYED_ENDPOINTS, type KeyedEndpoint } from '../support/api-endpoints';
import { tableCounts } from '../support/api-events';
import { api, type ApiServer, startApiServer } from '../support/api-server';
import { testClock } from '../support/helpers';
import { valueAt } from '../support/items';

const PLAN_MESSAGE =
  'The Zapier integration is gated to Pro and above. Upgrade your workspace plan, then reconnect the account in Zapier.';

let server: ApiServer;
beforeAll(async () => {
  server = await startApiServer();
});
afterAll(async () => await server.close());

function call(endpoint: KeyedEndpoint, headers: Record<string, string>) {
  const body = endpoint.body === undefined ? undefined : JSON.stringify(endpoint.body);
  return api(server.url).raw(endpoint.method, endpoint.path, {
    body,
    headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
  });
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('each failure has its own 401', () => {
  it('api_key_missing: no header, an empty Bearer, or another scheme', async () => {
    const cases: Record<string, string>[] = [
      {},
      { authorization: 'Bearer ' },
      { authorization: 'Basic dXNlcjpwYXNz' },
      { 'x-api-key': '' },
    ];
    for (const headers of cases) {
      const res = await api(server.url).raw('GET', '/v1/me', { headers });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('api_key_missing');
    }
  });

  it('api_key_malformed: wrong prefix, wrong length, or a checksum that does not match (a typo)', async () => {
    const key = generateApiKey();
    const typo = key.slice(0, 20) + (key[20] === 'a' ? 'b' : 'a') + key.slice(21);
    for (const bad of ['hello', key.replace('wsk_live_', 'sk_live_'), key.slice(0, -2), typo]) {
      const res = await api(server.url, bad).get('/v1/me');
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('api_key_malformed');
      expect(res.body.error.message).toContain('wsk_live_');
    }
  });

  it('api_key_invalid: well-formed, but no such key', async () => {
    const res = await api(server.url, generateApiKey()).get('/v1/me');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('api_key_invalid');
  });

  it('api_key_revoked: a revoked key, checked before the plan and the scope', async () => {
    const ws = await server.createWorkspace({ plan: 'free' });
    const { id, key } = await server.createKeyRecord(ws.id, ['chat:write']);
    await server.revokeKey(id);
    const res = await api(server.url, key).get('/v1/me');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('api_key_revoked');
  });
});

describe('the plan gate', () => {
  it.each(PLANS)('%s', async (plan) => {
    const ws = await server.createWorkspace({ plan });
    const res = await api(server.url, await server.createKey(ws.id)).get('/v1/me');
    if (plan === 'free' || plan === 'starter') {
      expect(res.status).toBe(403);
      expect(res.body.error).toEqual({ code: 'plan_upgrade_required', message: PLAN_MESSAGE });
    } else {
      expect(res.status).toBe(200);
      expect(res.body.plan).toBe(plan);
    }
  });

  it('comes before the scope check', async () => {
    const ws = await server.createWorkspace({ plan: 'starter' });
    const res = await api(server.url, await server.createKey(ws.id, ['chat:write'])).get('/v1/me');
    expect(res.body.error.code).toBe('plan_upgrade_required');
  });

  it('follows the workspace: a downgrade locks the key out at once, an upgrade lets it back in', async () => {
    const ws = await server.createWorkspace({ plan: 'pro' });
    const client = api(server.url, await server.createKey(ws.id));
    expect((await client.get('/v1/me')).status).toBe(200);
    await server.setPlan(ws.id, 'starter');
    expect((await client.get('/v1/me')).body.error.code).toBe('plan_upgrade_required');
    await server.setPlan(ws.id, 'business');
    expect((await client.get('/v1/me')).status).toBe(200);
  });
});

describe('the scope matrix: every Zapier-facing endpoint × every single-scope key', () => {
  let keys: Record<string, string>;
  beforeAll(async () => {
    const ws = await server.createWorkspace({ plan: 'pro' });
    keys = Object.fromEntries(await Promise.all(SCOPES.map(async (s) => [s, await server.createKey(ws.id, [s])])));
  });

  for (const endpoint of KEYED_ENDPOINTS) {
    it(`${endpoint.method} ${endpoint.path.split('?')[0]} needs ${endpoint.scope}`, async () => {
      for (const scope of SCOPES) {
        const res = await call(endpoint, bearer(valueAt(keys, scope)));
        if (scope === endpoint.scope) {
          expect([401, 403]).not.toContain(res.status);
          expect(res.status).toBeLessThan(500);
        } else {
          expect(res.status).toBe(403);
          expect(res.body.error).toEqual({
            code: 'insufficient_scope',
            message: expect.stringContaining(endpoint.scope),
            requiredScope: endpoint.scope,
          });
        }
      }
    });
  }

  it('every endpoint refuses a request without a key, and changes nothing', async () => {
    const before = await tableCounts(server);
    for (const endpoint of KEYED_ENDPOINTS) {
      const res = await call(endpoint, {});
      expect(res.status).toBe(401);
    }
    expect(await tableCounts(server)).toEqual(before);
  });
});

describe('where the key may be', () => {
  it('accepts X-API-Key, and prefers Authorization when both are sent', async () => {
    const ws = await server.createWorkspace();
    const key = await server.createKey(ws.id);
    expect((await api(server.url).get('/v1/me', { 'x-api-key': key })).status).toBe(200);
    const both = await api(server.url).get('/v1/me', { authorization: `Bearer ${generateApiKey()}`, 'x-api-key': key });
    expect(both.body.error.code).toBe('api_key_invalid');
  });

  it('accepts the Bearer scheme in any case', async () => {
    const ws = await server.createWorkspace();
    const res = await api(server.url).get('/v1/me', { authorization: `bearer ${await server.createKey(ws.id)}` });
    expect(res.status).toBe(200);
  });
});

describe('GET /v1/me, the connection test', () => {
  it('returns the workspace and the key, never the secret', async () => {
    const ws = await server.createWorkspace({ name: 'Acme Support', plan: 'enterprise' });
    const { id, key } = await server.createKeyRecord(ws.id, ['events:read', 'tickets:write']);
    const res = await api(server.url, key).get('/v1/me');
    expect(res.body).toEqual({
      id: ws.id,
      name: 'Acme Support',
      plan: 'enterprise',
      key: { id, prefix: key.slice(0, 13), scopes: ['events:read', 'tickets:write'] },
    });
    expect(JSON.stringify(res.body)).not.toContain(key.slice(13));
  });
});

describe('agent tokens', () => {
  it('guard every agent console endpoint: missing, invalid, and a workspace key are refused', async () => {
    const ws = await server.createWorkspace();
    const apiKey = await server.createKey(ws.id);
    for (const endpoint of AGENT_ENDPOINTS) {
      const body = endpoint.body === undefined ? undefined : JSON.stringify(endpoint.body);
      const headers: Record<string, string> = body ? { 'content-type': 'application/json' } : {};
      const missing = await api(server.url).raw(endpoint.method, endpoint.path, { body, headers });
      expect(missing.body.error.code).toBe('agent_token_missing');
      for (const wrong of ['agt_tok_nope', apiKey]) {
        const res = await api(server.url).raw(endpoint.method, endpoint.path, {
          body,
          headers: { ...headers, ...bearer(wrong) },
        });
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe('agent_token_invalid');
      }
    }
  });

  it('a revoked token is refused with agent_token_revoked, a rotated-away one with agent_token_invalid, on every endpoint', async () => {
    const ws = await server.createWorkspace();
    const revoked = await server.createAgent(ws.id);
    await revokeAgentToken(server.ctx, revoked.id);
    const rotated = await server.createAgent(ws.id, { email: 'rotated@example.com' });
    await rotateAgentToken(server.ctx, rotated.id);
    const before = await tableCounts(server);
    for (const endpoint of AGENT_ENDPOINTS) {
      const body = endpoint.body === undefined ? undefined : JSON.stringify(endpoint.body);
      const headers: Record<string, string> = body ? { 'content-type': 'application/json' } : {};
      for (const [token, code] of [
        [revoked.token, 'agent_token_revoked'],
        [rotated.token, 'agent_token_invalid'],
      ] as const) {
        const res = await api(server.url).raw(endpoint.method, endpoint.path, {
          body,
          headers: { ...headers, ...bearer(token) },
        });
        expect({ path: endpoint.path, status: res.status, code: res.body.error.code }).toEqual({
          path: endpoint.path,
          status: 401,
          code,
        });
      }
    }
    expect(await tableCounts(server)).toEqual(before);
  });

  it('a valid agent token passes', async () => {
    const ws = await server.createWorkspace();
    const agent = await server.createAgent(ws.id);
    const res = await api(server.url, agent.token).post('/v1/agent/tickets', { subject: 'Printer on fire' });
    expect(res.status).toBe(201);
  });
});

describe('last used', () => {
  it('is written on an authorised request, at most once a minute, and not on a refused one', async () => {
    const clock = testClock();
    const s = await startApiServer({ clock });
    try {
      const ws = await s.createWorkspace();
      const { id, key } = await s.createKeyRecord(ws.id, ['events:read']);
      const lastUsed = async () => await s.ctx.db.value('SELECT last_used_at FROM api_keys WHERE id = ?', id);
      expect(await lastUsed()).toBeNull();
      await api(s.url, key).get('/v1/tickets'); // lacks tickets:write: refused
      expect(await lastUsed()).toBeNull();
      await api(s.url, key).get('/v1/me');
      const first = await lastUsed();
      expect(first).toBe(new Date(clock.now()).toISOString());
      clock.advance(59_000);
      await api(s.url, key).get('/v1/me');
      expect(await lastUsed()).toBe(first);
      clock.advance(2_000);
      await api(s.url, key).get('/v1/me');
      expect(await lastUsed()).toBe(new Date(clock.now()).toISOString());
    } finally {
      await s.close();
    }
  });
});

describe('logs', () => {
  it('never hold a full key, even at debug level and for refused keys', async () => {
    const s = await startApiServer({ config: { log: 'debug' } });
    try {
      const ws = await s.createWorkspace();
      const key = await s.createKey(ws.id);
      const unknown = generateApiKey();
      await api(s.url, key).get('/v1/me');
      await api(s.url, key).post('/v1/tickets', { subject: 'x', contact_email: 'nobody@example.com' });
      await api(s.url, unknown).get('/v1/me');
      await api(s.url, key.slice(0, -1)).get('/v1/me');
      const logged = JSON.stringify(s.logs);
      expect(s.logs.length).toBeGreaterThanOrEqual(4);
      for (const secret of [key, unknown, key.slice(13, 40), unknown.slice(13, 40)])
        expect(logged).not.toContain(secret);
    } finally {
      await s.close();
    }
  });
});

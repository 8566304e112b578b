/**
 * The guards of partner-api/http/auth.ts called directly on a real database, without a server, so mutation
 * testing can run this file for every mutant (docs/testing.md): where the credential is read from, each
 * refusal's status, code and exact message, the order of the checks, what an admitted request carries, and
 * `reverifyCaller`. test/api/auth.test.ts checks the same rules over HTTP on every endpoint.
 */
import type { Request, RequestHandler, Response } from 'express';

import type { AppContext } from '../../partner-api/context';
import { createApiKey, revokeApiKey } from '../../partner-api/domain/api-keys';
import { generateApiKey, type Scope } from '../../partner-api/domain/credentials';
import { ApiError } from '../../partner-api/domain/errors';
import {
  createAgent,
  createWorkspace,
  type Plan,
  revokeAgentToken,
  rotateAgentToken,
  setWorkspacePlan,
} from '../../partner-api/domain/workspaces';
import { agentOf, keyOf, presentedCredential, requireAgentToken, requireScope } from '../../partner-api/http/auth';
import { makeContext, type TestContext } from '../delivery/helpers';

const MESSAGES = {
  keyMissing: 'Send your workspace API key as "Authorization: Bearer wsk_live_…".',
  keyMalformed:
    'This is not a valid IllumiChat API key: keys start with wsk_live_ and have 47 characters. Check it was copied whole.',
  keyInvalid: 'No such API key. Create one in Settings → API Keys.',
  keyRevoked: 'This API key was revoked in Settings → API Keys. Create a new key and reconnect.',
  tokenMissing: 'Send the agent console token as "Authorization: Bearer agt_tok_…".',
  tokenInvalid: 'No such agent token.',
  tokenRevoked: 'This agent token was revoked. Ask an administrator for a new one.',
  planUpgrade:
    'The Zapier integration is gated to Pro and above. Upgrade your workspace plan, then reconnect the account in Zapier.',
};

let ctx: TestContext;
beforeAll(async () => {
  ctx = await makeContext();
});
afterAll(async () => {
  await ctx.store.close();
});

/** A request carrying `headers` (names in any case), as Express's `req.get` reads them. */
function request(headers: Record<string, string> = {}): Request {
  const byName = new Map(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
  return { get: (name: string) => byName.get(name.toLowerCase()) } as unknown as Request;
}

/** Runs a guard on `req`: the arguments `next` was called with, or the ApiError the guard threw, as the client would see it. */
async function guard(handler: RequestHandler, req: Request): Promise<{ next: unknown[][] } | Refusal> {
  const next: unknown[][] = [];
  try {
    await handler(req, {} as Response, (...args: unknown[]) => void next.push(args));
  } catch (error) {
    return refusalOf(error);
  }
  return { next };
}

interface Refusal {
  status: number;
  code: string;
  message: string;
  fields?: Record<string, unknown>;
}

function refusalOf(error: unknown): Refusal {
  if (!(error instanceof ApiError)) throw error;
  return {
    status: error.status,
    code: error.code,
    message: error.message,
    ...(error.options.fields ? { fields: error.options.fields } : {}),
  };
}

/** What `fn` throws, as a refusal; `null` when it returns. */
async function thrownBy(fn: (ctx: AppContext) => Promise<void>): Promise<Refusal | null> {
  try {
    await fn(ctx);
  } catch (error) {
    return refusalOf(error);
  }
  return null;
}

async function newKey(plan: Plan = 'pro', scopes: readonly Scope[] = ['events:read']) {
  const workspace = await createWorkspace(ctx, { name: 'Acme Support', plan });
  const created = await createApiKey(ctx, { workspaceId: workspace.id, name: 'Zapier', scopes });
  return { workspace, keyId: created.id, key: created.key };
}

const bearer = (credential: string) => ({ Authorization: `Bearer ${credential}` });
const lastUsedAt = async (keyId: string) => await ctx.db.value('SELECT last_used_at FROM api_keys WHERE id = ?', keyId);

describe('presentedCredential', () => {
  it.each([
    ['a Bearer credential', { Authorization: 'Bearer wsk_live_abc' }, 'wsk_live_abc'],
    ['the scheme in any case', { Authorization: 'bEARER wsk_live_abc' }, 'wsk_live_abc'],
    ['spaces and tabs around it', { Authorization: ' \tBearer \t wsk_live_abc \t' }, 'wsk_live_abc'],
    ['X-API-Key, trimmed', { 'X-API-Key': '  wsk_live_abc ' }, 'wsk_live_abc'],
    [
      'Authorization before X-API-Key',
      { Authorization: 'Bearer from-bearer', 'X-API-Key': 'from-header' },
      'from-bearer',
    ],
    [
      'X-API-Key when Authorization is another scheme',
      { Authorization: 'Basic dXNlcjpwYXNz', 'X-API-Key': 'from-header' },
      'from-header',
    ],
  ])('reads %s', (_label, headers, expected) => {
    expect(presentedCredential(request(headers))).toBe(expected);
  });

  it.each([
    ['no header', {}],
    ['an empty Bearer', { Authorization: 'Bearer ' }],
    ['a Bearer of blanks', { Authorization: 'Bearer  \t ' }],
    ['another scheme', { Authorization: 'Basic dXNlcjpwYXNz' }],
    ['a scheme that only ends in Bearer', { Authorization: 'NotBearer wsk_live_abc' }],
    ['the scheme with no space before the credential', { Authorization: 'Bearerwsk_live_abc' }],
    ['an empty X-API-Key', { 'X-API-Key': '' }],
    ['an X-API-Key of blanks', { 'X-API-Key': '   ' }],
  ])('finds none in %s', (_label, headers) => {
    expect(presentedCredential(request(headers))).toBeUndefined();
  });
});

describe('requireScope: each refusal, in the documented order', () => {
  const guardFor = (opts?: { anyPlan?: boolean }) => requireScope(ctx, 'events:read', opts);

  it('401 api_key_missing when no key is presented', async () => {
    expect(await guard(guardFor(), request())).toEqual({
      status: 401,
      code: 'api_key_missing',
      message: MESSAGES.keyMissing,
    });
  });

  it('401 api_key_malformed for a wrong prefix, a wrong length or a checksum that does not match', async () => {
    const key = generateApiKey();
    const typo = key.slice(0, 20) + (key[20] === 'a' ? 'b' : 'a') + key.slice(21);
    for (const bad of ['hello', key.replace('wsk_live_', 'wsk_test_'), key.slice(0, -1), typo]) {
      expect(await guard(guardFor(), request(bearer(bad)))).toEqual({
        status: 401,
        code: 'api_key_malformed',
        message: MESSAGES.keyMalformed,
      });
    }
  });

  it('401 api_key_invalid for a well-formed key that does not exist', async () => {
    expect(await guard(guardFor(), request(bearer(generateApiKey())))).toEqual({
      status: 401,
      code: 'api_key_invalid',
      message: MESSAGES.keyInvalid,
    });
  });

  it('401 api_key_revoked for a revoked key, before the plan and the scope (even with anyPlan)', async () => {
    const { keyId, key } = await newKey('free', ['chat:write']);
    await revokeApiKey(ctx, keyId);
    for (const opts of [{}, { anyPlan: true }]) {
      expect(await guard(guardFor(opts), request(bearer(key)))).toEqual({
        status: 401,
        code: 'api_key_revoked',
        message: MESSAGES.keyRevoked,
      });
    }
  });

  it.each(['free', 'starter'] as const)('403 plan_upgrade_required on %s, before the scope', async (plan) => {
    const { key } = await newKey(plan, ['chat:write']);
    expect(await guard(guardFor(), request(bearer(key)))).toEqual({
      status: 403,
      code: 'plan_upgrade_required',
      message: MESSAGES.planUpgrade,
    });
  });

  it('anyPlan admits a key below Pro, and still checks its scope', async () => {
    const { key } = await newKey('free', ['events:read']);
    expect(await guard(guardFor({ anyPlan: true }), request(bearer(key)))).toEqual({ next: [[]] });
    const { key: otherScope } = await newKey('free', ['chat:write']);
    expect(await guard(guardFor({ anyPlan: true }), request(bearer(otherScope)))).toMatchObject({
      status: 403,
      code: 'insufficient_scope',
    });
  });

  it('403 insufficient_scope names the scope the route needs, in the message and as requiredScope', async () => {
    const { key } = await newKey('pro', ['events:read', 'contacts:write']);
    expect(await guard(requireScope(ctx, 'tickets:write'), request(bearer(key)))).toEqual({
      status: 403,
      code: 'insufficient_scope',
      message: 'This API key lacks the tickets:write scope. Create a key that has it and reconnect.',
      fields: { requiredScope: 'tickets:write' },
    });
  });
});

describe('requireScope: an admitted request', () => {
  it('calls next once, without an error, and carries the key for keyOf', async () => {
    const { workspace, keyId, key } = await newKey('business', ['events:read', 'chat:write']);
    const req = request(bearer(key));
    expect(await guard(requireScope(ctx, 'chat:write'), req)).toEqual({ next: [[]] });
    expect(keyOf(req)).toMatchObject({
      keyId,
      scopes: ['events:read', 'chat:write'],
      revoked: false,
      workspace: { id: workspace.id, name: 'Acme Support', plan: 'business' },
    });
  });

  it('records the key as used when admitted, not when refused', async () => {
    const { keyId, key } = await newKey('pro', ['events:read']);
    await guard(requireScope(ctx, 'chat:write'), request(bearer(key)));
    expect(await lastUsedAt(keyId)).toBeNull();
    await guard(requireScope(ctx, 'events:read'), request(bearer(key)));
    expect(await lastUsedAt(keyId)).toBe(new Date(ctx.clock.now()).toISOString());
  });

  it('reverifyCaller passes while nothing changed, and refuses once the key is revoked', async () => {
    const { keyId, key } = await newKey();
    const req = request(bearer(key));
    await guard(requireScope(ctx, 'events:read'), req);
    expect(await thrownBy(req.reverifyCaller!)).toBeNull();
    await revokeApiKey(ctx, keyId);
    expect(await thrownBy(req.reverifyCaller!)).toEqual({
      status: 401,
      code: 'api_key_revoked',
      message: MESSAGES.keyRevoked,
    });
  });

  it('reverifyCaller refuses once the plan is lowered, unless the route admits any plan', async () => {
    const { workspace, key } = await newKey('pro');
    const gated = request(bearer(key));
    const anyPlan = request(bearer(key));
    await guard(requireScope(ctx, 'events:read'), gated);
    await guard(requireScope(ctx, 'events:read', { anyPlan: true }), anyPlan);
    await setWorkspacePlan(ctx, workspace.id, 'starter');
    expect(await thrownBy(gated.reverifyCaller!)).toEqual({
      status: 403,
      code: 'plan_upgrade_required',
      message: MESSAGES.planUpgrade,
    });
    expect(await thrownBy(anyPlan.reverifyCaller!)).toBeNull();
  });

  it('keyOf refuses a route that has no requireScope', () => {
    expect(() => keyOf(request())).toThrow(new Error('route is missing requireScope'));
  });
});

describe('requireAgentToken', () => {
  async function newAgent() {
    const workspace = await createWorkspace(ctx, { name: 'Acme Support', plan: 'pro' });
    return await createAgent(ctx, workspace.id, { name: 'Alex Agent', email: 'alex@example.com' });
  }

  it('401 agent_token_missing when no token is presented', async () => {
    expect(await guard(requireAgentToken(ctx), request())).toEqual({
      status: 401,
      code: 'agent_token_missing',
      message: MESSAGES.tokenMissing,
    });
  });

  it('401 agent_token_invalid for an unknown token, a workspace API key, or a token rotated away', async () => {
    const { key: apiKey } = await newKey();
    const rotated = await newAgent();
    await rotateAgentToken(ctx, rotated.id);
    for (const token of ['agt_tok_nope', apiKey, rotated.token]) {
      expect(await guard(requireAgentToken(ctx), request(bearer(token)))).toEqual({
        status: 401,
        code: 'agent_token_invalid',
        message: MESSAGES.tokenInvalid,
      });
    }
  });

  it('401 agent_token_revoked for a revoked token', async () => {
    const agent = await newAgent();
    await revokeAgentToken(ctx, agent.id);
    expect(await guard(requireAgentToken(ctx), request(bearer(agent.token)))).toEqual({
      status: 401,
      code: 'agent_token_revoked',
      message: MESSAGES.tokenRevoked,
    });
  });

  it('admits a valid token (also from X-API-Key): calls next once and carries the agent for agentOf', async () => {
    const { token, ...agent } = await newAgent();
    for (const headers of [bearer(token), { 'X-API-Key': token }]) {
      const req = request(headers);
      expect(await guard(requireAgentToken(ctx), req)).toEqual({ next: [[]] });
      expect(agentOf(req)).toEqual(agent);
    }
  });

  it('reverifyCaller passes while the token holds, and refuses it once revoked or rotated', async () => {
    const revoked = await newAgent();
    const rotated = await newAgent();
    const requests = await Promise.all(
      [revoked, rotated].map(async (agent) => {
        const req = request(bearer(agent.token));
        await guard(requireAgentToken(ctx), req);
        expect(await thrownBy(req.reverifyCaller!)).toBeNull();
        return req;
      }),
    );
    await revokeAgentToken(ctx, revoked.id);
    await rotateAgentToken(ctx, rotated.id);
    expect(await thrownBy(requests[0]!.reverifyCaller!)).toEqual({
      status: 401,
      code: 'agent_token_revoked',
      message: MESSAGES.tokenRevoked,
    });
    expect(await thrownBy(requests[1]!.reverifyCaller!)).toEqual({
      status: 401,
      code: 'agent_token_invalid',
      message: MESSAGES.tokenInvalid,
    });
  });

  it('agentOf refuses a route that has no requireAgentToken', () => {
    expect(() => agentOf(request())).toThrow(new Error('route is missing requireAgentToken'));
  });
});

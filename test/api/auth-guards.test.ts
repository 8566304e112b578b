/**
 * The guards of partner-api/http/auth.ts called directly on a real database, without a server, so mutation
 * testing can run this file for every mutant (docs/testing.md): where the credential is read from, each
 * refusal's status, code and exact message, the order of the checks, what an admitted request carries, and
 * `reverifyCaller`. test/api/auth.test.ts checks the same rules over HTTP on every endpoint.
 */
import type { Request, RequestHandler, Response } from 'express';

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
import { makeContext, removeTempDirs, type TestContext } from '../delivery/helpers';

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
beforeAll(() => {
  ctx = makeContext();
});
afterAll(() => {
  ctx.db.close();
  removeTempDirs();
});

/** A request carrying `headers` (names in any case), as Express's `req.get` reads them. */
function request(headers: Record<string, string> = {}): Request {
  const byName = new Map(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
  return { get: (name: string) => byName.get(name.toLowerCase()) } as unknown as Request;
}

/** Runs a guard on `req`: the arguments `next` was called with, or the ApiError the guard threw, as the client would see it. */
function guard(handler: RequestHandler, req: Request): { next: unknown[][] } | Refusal {
  const next: unknown[][] = [];
  try {
    void handler(req, {} as Response, (...args: unknown[]) => void next.push(args));
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
function thrownBy(fn: () => void): Refusal | null {
  try {
    fn();
  } catch (error) {
    return refusalOf(error);
  }
  return null;
}

function newKey(plan: Plan = 'pro', scopes: readonly Scope[] = ['events:read']) {
  const workspace = createWorkspace(ctx, { name: 'Acme Support', plan });
  const created = createApiKey(ctx, { workspaceId: workspace.id, name: 'Zapier', scopes });
  return { workspace, keyId: created.id, key: created.key };
}

const bearer = (credential: string) => ({ Authorization: `Bearer ${credential}` });
const lastUsedAt = (keyId: string) =>
  ctx.db.prepare('SELECT last_used_at FROM api_keys WHERE id = ?').pluck().get(keyId);

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

  it('401 api_key_missing when no key is presented', () => {
    expect(guard(guardFor(), request())).toEqual({
      status: 401,
      code: 'api_key_missing',
      message: MESSAGES.keyMissing,
    });
  });

  it('401 api_key_malformed for a wrong prefix, a wrong length or a checksum that does not match', () => {
    const key = generateApiKey();
    const typo = key.slice(0, 20) + (key[20] === 'a' ? 'b' : 'a') + key.slice(21);
    for (const bad of ['hello', key.replace('wsk_live_', 'wsk_test_'), key.slice(0, -1), typo]) {
      expect(guard(guardFor(), request(bearer(bad)))).toEqual({
        status: 401,
        code: 'api_key_malformed',
        message: MESSAGES.keyMalformed,
      });
    }
  });

  it('401 api_key_invalid for a well-formed key that does not exist', () => {
    expect(guard(guardFor(), request(bearer(generateApiKey())))).toEqual({
      status: 401,
      code: 'api_key_invalid',
      message: MESSAGES.keyInvalid,
    });
  });

  it('401 api_key_revoked for a revoked key, before the plan and the scope (even with anyPlan)', () => {
    const { keyId, key } = newKey('free', ['chat:write']);
    revokeApiKey(ctx, keyId);
    for (const opts of [{}, { anyPlan: true }]) {
      expect(guard(guardFor(opts), request(bearer(key)))).toEqual({
        status: 401,
        code: 'api_key_revoked',
        message: MESSAGES.keyRevoked,
      });
    }
  });

  it.each(['free', 'starter'] as const)('403 plan_upgrade_required on %s, before the scope', (plan) => {
    const { key } = newKey(plan, ['chat:write']);
    expect(guard(guardFor(), request(bearer(key)))).toEqual({
      status: 403,
      code: 'plan_upgrade_required',
      message: MESSAGES.planUpgrade,
    });
  });

  it('anyPlan admits a key below Pro, and still checks its scope', () => {
    const { key } = newKey('free', ['events:read']);
    expect(guard(guardFor({ anyPlan: true }), request(bearer(key)))).toEqual({ next: [[]] });
    const { key: otherScope } = newKey('free', ['chat:write']);
    expect(guard(guardFor({ anyPlan: true }), request(bearer(otherScope)))).toMatchObject({
      status: 403,
      code: 'insufficient_scope',
    });
  });

  it('403 insufficient_scope names the scope the route needs, in the message and as requiredScope', () => {
    const { key } = newKey('pro', ['events:read', 'contacts:write']);
    expect(guard(requireScope(ctx, 'tickets:write'), request(bearer(key)))).toEqual({
      status: 403,
      code: 'insufficient_scope',
      message: 'This API key lacks the tickets:write scope. Create a key that has it and reconnect.',
      fields: { requiredScope: 'tickets:write' },
    });
  });
});

describe('requireScope: an admitted request', () => {
  it('calls next once, without an error, and carries the key for keyOf', () => {
    const { workspace, keyId, key } = newKey('business', ['events:read', 'chat:write']);
    const req = request(bearer(key));
    expect(guard(requireScope(ctx, 'chat:write'), req)).toEqual({ next: [[]] });
    expect(keyOf(req)).toMatchObject({
      keyId,
      scopes: ['events:read', 'chat:write'],
      revoked: false,
      workspace: { id: workspace.id, name: 'Acme Support', plan: 'business' },
    });
  });

  it('records the key as used when admitted, not when refused', () => {
    const { keyId, key } = newKey('pro', ['events:read']);
    guard(requireScope(ctx, 'chat:write'), request(bearer(key)));
    expect(lastUsedAt(keyId)).toBeNull();
    guard(requireScope(ctx, 'events:read'), request(bearer(key)));
    expect(lastUsedAt(keyId)).toBe(new Date(ctx.clock.now()).toISOString());
  });

  it('reverifyCaller passes while nothing changed, and refuses once the key is revoked', () => {
    const { keyId, key } = newKey();
    const req = request(bearer(key));
    guard(requireScope(ctx, 'events:read'), req);
    expect(thrownBy(req.reverifyCaller!)).toBeNull();
    revokeApiKey(ctx, keyId);
    expect(thrownBy(req.reverifyCaller!)).toEqual({
      status: 401,
      code: 'api_key_revoked',
      message: MESSAGES.keyRevoked,
    });
  });

  it('reverifyCaller refuses once the plan is lowered, unless the route admits any plan', () => {
    const { workspace, key } = newKey('pro');
    const gated = request(bearer(key));
    const anyPlan = request(bearer(key));
    guard(requireScope(ctx, 'events:read'), gated);
    guard(requireScope(ctx, 'events:read', { anyPlan: true }), anyPlan);
    setWorkspacePlan(ctx, workspace.id, 'starter');
    expect(thrownBy(gated.reverifyCaller!)).toEqual({
      status: 403,
      code: 'plan_upgrade_required',
      message: MESSAGES.planUpgrade,
    });
    expect(thrownBy(anyPlan.reverifyCaller!)).toBeNull();
  });

  it('keyOf refuses a route that has no requireScope', () => {
    expect(() => keyOf(request())).toThrow(new Error('route is missing requireScope'));
  });
});

describe('requireAgentToken', () => {
  function newAgent() {
    const workspace = createWorkspace(ctx, { name: 'Acme Support', plan: 'pro' });
    return createAgent(ctx, workspace.id, { name: 'Alex Agent', email: 'alex@example.com' });
  }

  it('401 agent_token_missing when no token is presented', () => {
    expect(guard(requireAgentToken(ctx), request())).toEqual({
      status: 401,
      code: 'agent_token_missing',
      message: MESSAGES.tokenMissing,
    });
  });

  it('401 agent_token_invalid for an unknown token, a workspace API key, or a token rotated away', () => {
    const { key: apiKey } = newKey();
    const rotated = newAgent();
    rotateAgentToken(ctx, rotated.id);
    for (const token of ['agt_tok_nope', apiKey, rotated.token]) {
      expect(guard(requireAgentToken(ctx), request(bearer(token)))).toEqual({
        status: 401,
        code: 'agent_token_invalid',
        message: MESSAGES.tokenInvalid,
      });
    }
  });

  it('401 agent_token_revoked for a revoked token', () => {
    const agent = newAgent();
    revokeAgentToken(ctx, agent.id);
    expect(guard(requireAgentToken(ctx), request(bearer(agent.token)))).toEqual({
      status: 401,
      code: 'agent_token_revoked',
      message: MESSAGES.tokenRevoked,
    });
  });

  it('admits a valid token (also from X-API-Key): calls next once and carries the agent for agentOf', () => {
    const { token, ...agent } = newAgent();
    for (const headers of [bearer(token), { 'X-API-Key': token }]) {
      const req = request(headers);
      expect(guard(requireAgentToken(ctx), req)).toEqual({ next: [[]] });
      expect(agentOf(req)).toEqual(agent);
    }
  });

  it('reverifyCaller passes while the token holds, and refuses it once revoked or rotated', () => {
    const revoked = newAgent();
    const rotated = newAgent();
    const requests = [revoked, rotated].map((agent) => {
      const req = request(bearer(agent.token));
      guard(requireAgentToken(ctx), req);
      expect(thrownBy(req.reverifyCaller!)).toBeNull();
      return req;
    });
    revokeAgentToken(ctx, revoked.id);
    rotateAgentToken(ctx, rotated.id);
    expect(thrownBy(requests[0]!.reverifyCaller!)).toEqual({
      status: 401,
      code: 'agent_token_revoked',
      message: MESSAGES.tokenRevoked,
    });
    expect(thrownBy(requests[1]!.reverifyCaller!)).toEqual({
      status: 401,
      code: 'agent_token_invalid',
      message: MESSAGES.tokenInvalid,
    });
  });

  it('agentOf refuses a route that has no requireAgentToken', () => {
    expect(() => agentOf(request())).toThrow(new Error('route is missing requireAgentToken'));
  });
});

/**
 * Authentication. Workspace API keys (the Zapier-facing endpoints) are checked in the documented order:
 * missing → malformed → unknown → revoked → plan → scope; each has its own code so the Zapier app can tell
 * a typo from a revoked key from a missing scope. Agent tokens guard the agent console's endpoints.
 * A full key or token is never logged or echoed.
 */
import type { Request, RequestHandler } from 'express';
import type { AppContext } from '../context';
import { findKeyBySecret, touchLastUsed, type KeyPrincipal } from '../domain/api-keys';
import { ApiError } from '../domain/errors';
import { AGENT_TOKEN_PREFIX, isWellFormedApiKey, type Scope } from '../domain/keys';
import { findAgentByToken, INTEGRATION_PLANS, type Agent } from '../domain/workspaces';

declare module 'express-serve-static-core' {
  interface Request {
    apiKey?: KeyPrincipal;
    agent?: Agent;
  }
}

export const PLAN_UPGRADE_MESSAGE =
  'The Zapier integration is gated to Pro and above. Upgrade your workspace plan, then reconnect the account in Zapier.';

/** The credential from `Authorization: Bearer …`, else `X-API-Key`; undefined when neither carries one. */
export function presentedCredential(req: Request): string | undefined {
  const authorization = req.get('authorization');
  const bearer = authorization && /^Bearer\s+(.+)$/i.exec(authorization.trim());
  const value = bearer ? bearer[1] : req.get('x-api-key');
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

export function authenticateKey(ctx: AppContext, req: Request): KeyPrincipal {
  const key = presentedCredential(req);
  if (!key) {
    throw new ApiError(401, 'api_key_missing', 'Send your workspace API key as "Authorization: Bearer wsk_live_…".');
  }
  if (!isWellFormedApiKey(key)) {
    throw new ApiError(
      401,
      'api_key_malformed',
      'This is not a valid IllumiChat API key: keys start with wsk_live_ and have 47 characters. Check it was copied whole.',
    );
  }
  const principal = findKeyBySecret(ctx, key);
  if (!principal) throw new ApiError(401, 'api_key_invalid', 'No such API key. Create one in Settings → API Keys.');
  if (principal.revoked) {
    throw new ApiError(401, 'api_key_revoked', 'This API key was revoked in Settings → API Keys. Create a new key and reconnect.');
  }
  if (!INTEGRATION_PLANS.includes(principal.workspace.plan)) {
    throw new ApiError(403, 'plan_upgrade_required', PLAN_UPGRADE_MESSAGE);
  }
  return principal;
}

/** Checks the key and that it carries `scope`; on success `req.apiKey` is set. */
export function requireScope(ctx: AppContext, scope: Scope): RequestHandler {
  return (req, _res, next) => {
    const principal = authenticateKey(ctx, req);
    if (!principal.scopes.includes(scope)) {
      throw new ApiError(403, 'insufficient_scope', `This API key lacks the ${scope} scope. Create a key that has it and reconnect.`, {
        fields: { requiredScope: scope },
      });
    }
    touchLastUsed(ctx, principal);
    req.apiKey = principal;
    next();
  };
}

export function requireAgentToken(ctx: AppContext): RequestHandler {
  return (req, _res, next) => {
    const token = presentedCredential(req);
    if (!token) throw new ApiError(401, 'agent_token_missing', 'Send the agent console token as "Authorization: Bearer agt_tok_…".');
    const agent = token.startsWith(AGENT_TOKEN_PREFIX) ? findAgentByToken(ctx, token) : null;
    if (!agent) throw new ApiError(401, 'agent_token_invalid', 'No such agent token.');
    req.agent = agent;
    next();
  };
}

/** The authenticated key of a route guarded by requireScope. */
export function keyOf(req: Request): KeyPrincipal {
  if (!req.apiKey) throw new Error('route is missing requireScope');
  return req.apiKey;
}

export function agentOf(req: Request): Agent {
  if (!req.agent) throw new Error('route is missing requireAgentToken');
  return req.agent;
}

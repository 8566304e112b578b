/**
 * Authentication. Workspace API keys (the Zapier-facing endpoints) are checked in the documented order:
 * missing → malformed → unknown → revoked → plan → scope; each has its own code so the Zapier app can tell
 * a typo from a revoked key from a missing scope. Agent tokens guard the agent console's endpoints.
 * Each guard also leaves `req.reverifyCaller`, the same checks again, which every write runs inside the
 * transaction that writes (http/write-handler.ts). A full key or token is never logged or echoed.
 */
import type { Request, RequestHandler } from 'express';

import type { AppContext } from '../context';
import { findKeyById, findKeyBySecret, type KeyPrincipal, touchLastUsed } from '../domain/api-keys';
import { AGENT_TOKEN_PREFIX, isWellFormedApiKey, type Scope } from '../domain/credentials';
import { ApiError, apiKeyRevoked } from '../domain/errors';
import { hasIntegration } from '../domain/plans';
import { type Agent, findAgentByToken } from '../domain/workspaces';

declare module 'express-serve-static-core' {
  interface Request {
    apiKey?: KeyPrincipal;
    agent?: Agent;
    /**
     * Runs again the checks that admitted this request's caller, against the database as it is now, and
     * throws what they throw. writeHandler calls it inside the transaction that writes, so a key revoked,
     * a plan lowered or an agent token revoked or rotated while the request was in flight stops the write
     * (issue 8 §1: authority holds at commit, not only at arrival). Unset on public routes.
     */
    reverifyCaller?: (ctx: AppContext) => Promise<void>;
  }
}

/** Options of a keyed route. */
export interface KeyRouteOptions {
  /** Admit keys of workspaces below Pro too: unsubscribing must always work, so a Zap can be turned off. */
  anyPlan?: boolean;
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

/** The key presented with `req`: throws 401 api_key_missing, api_key_malformed or api_key_invalid. */
async function presentedKey(ctx: AppContext, req: Request): Promise<KeyPrincipal> {
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
  const principal = await findKeyBySecret(ctx, key);
  if (!principal) throw new ApiError(401, 'api_key_invalid', 'No such API key. Create one in Settings → API Keys.');
  return principal;
}

/**
 * Whether the key may act on a route needing `scope`, in the documented order (revoked → plan → scope):
 * throws 401 api_key_revoked, 403 plan_upgrade_required (unless `anyPlan`) or 403 insufficient_scope.
 */
function admit(principal: KeyPrincipal, scope: Scope, opts: KeyRouteOptions): void {
  if (principal.revoked) throw apiKeyRevoked();
  if (!opts.anyPlan && !hasIntegration(principal.workspace.plan)) {
    throw new ApiError(403, 'plan_upgrade_required', PLAN_UPGRADE_MESSAGE);
  }
  if (!principal.scopes.includes(scope)) {
    throw new ApiError(
      403,
      'insufficient_scope',
      `This API key lacks the ${scope} scope. Create a key that has it and reconnect.`,
      {
        fields: { requiredScope: scope },
      },
    );
  }
}

/**
 * Checks the key and that it may act with `scope`; on success sets `req.apiKey`, and `req.reverifyCaller`,
 * which runs `admit` again on the key as the database holds it then (found by id: no second hash).
 */
export function requireScope(ctx: AppContext, scope: Scope, opts: KeyRouteOptions = {}): RequestHandler {
  return async (req, _res, next) => {
    const principal = await presentedKey(ctx, req);
    admit(principal, scope, opts);
    await touchLastUsed(ctx, principal);
    req.apiKey = principal;
    req.reverifyCaller = async (tx) => admit((await findKeyById(tx, principal.keyId))!, scope, opts); // keys are revoked, never deleted
    next();
  };
}

/** The agent whose console token `req` presents; throws 401 agent_token_missing, _invalid or _revoked. */
async function authenticateAgent(ctx: AppContext, req: Request): Promise<Agent> {
  const token = presentedCredential(req);
  if (!token)
    throw new ApiError(
      401,
      'agent_token_missing',
      'Send the agent console token as "Authorization: Bearer agt_tok_…".',
    );
  const found = token.startsWith(AGENT_TOKEN_PREFIX) ? await findAgentByToken(ctx, token) : null;
  if (!found) throw new ApiError(401, 'agent_token_invalid', 'No such agent token.');
  if (found.revoked)
    throw new ApiError(401, 'agent_token_revoked', 'This agent token was revoked. Ask an administrator for a new one.');
  return found.agent;
}

export function requireAgentToken(ctx: AppContext): RequestHandler {
  return async (req, _res, next) => {
    req.agent = await authenticateAgent(ctx, req);
    req.reverifyCaller = async (tx) => void (await authenticateAgent(tx, req));
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

/**
 * What each resource module is handed to declare its routes the same way as every other: the middleware
 * chains (API key, agent token, visitor) and the transactional write wrapper, and the answers they return.
 */
import type { Express, RequestHandler } from 'express';

import type { AppContext } from '../context';
import type { Scope } from '../domain/credentials';
import type { StoredResponse } from '../domain/idempotency';
import { type KeyRouteOptions, requireAgentToken, requireScope } from './auth';
import { rateLimitByAddress, rateLimitByKey, type RateLimiters } from './rate-limit';
import { type Action, writeHandler } from './write-handler';

export interface RouteBuilders {
  app: Express;
  ctx: AppContext;
  /** Workspace API key with `scope` (on a Pro plan or above unless `anyPlan`), then the per-key rate limit. */
  keyed: (scope: Scope, opts?: KeyRouteOptions) => RequestHandler[];
  /** An agent console token. */
  agent: RequestHandler;
  /** A public widget or in-app endpoint: no credential, limited per visitor address. */
  visitor: RequestHandler;
  /** A write: transactional, and idempotent when called with a key and an Idempotency-Key. */
  write: (action: Action) => RequestHandler;
}

export function createRouteBuilders(app: Express, ctx: AppContext, limiters: RateLimiters): RouteBuilders {
  const limit = rateLimitByKey(limiters.perKey);
  return {
    app,
    ctx,
    keyed: (scope, opts) => [requireScope(ctx, scope, opts), limit],
    agent: requireAgentToken(ctx),
    visitor: rateLimitByAddress(limiters.perAddress),
    write: (action) => writeHandler(ctx, action),
  };
}

export const created = (body: unknown): StoredResponse => ({ status: 201, body });
export const ok = (body: unknown): StoredResponse => ({ status: 200, body });

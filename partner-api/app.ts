/**
 * The partner API as an Express app, without listen(): the server, the tests and the benchmarks all
 * mount the same thing. Every route is registered on the app itself with its full path, so the route
 * table can be compared with the OpenAPI document (test/api/openapi.test.ts).
 */
import express from 'express';

import type { AppContext } from './context';
import { jsonBody } from './http/body';
import { registerContactRoutes } from './http/contacts';
import { registerConversationRoutes } from './http/conversations';
import { registerDeliveryRoutes } from './http/deliveries';
import { errorHandler, notFoundRoute } from './http/errors';
import { registerLiveChatRoutes } from './http/live-chat';
import { registerMetaRoutes } from './http/meta';
import { createRateLimiters, type RateLimiters } from './http/rate-limit';
import { requestLog } from './http/request-log';
import { createRouteBuilders } from './http/route-builders';
import { settingsPages } from './http/settings-pages';
import { registerSubscriptionRoutes } from './http/subscriptions';
import { registerTagRoutes } from './http/tags';
import { registerTicketRoutes } from './http/tickets';

/**
 * `limiters`: the rate limiters (http/rate-limit.ts); by default in this process's memory, as SQLite runs one
 * process. On PostgreSQL pass `createRateLimiters(ctx.config, { engine: 'postgres', pool })`, so that every
 * instance counts against one limit.
 */
export function createApp(ctx: AppContext, limiters: RateLimiters = createRateLimiters(ctx.config)): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  // Behind a load balancer every socket is the balancer's: req.ip must come from X-Forwarded-For, but only
  // as many hops deep as there are proxies we run, or a visitor could name any address to dodge the limit.
  if (ctx.config.trustProxyHops > 0) app.set('trust proxy', ctx.config.trustProxyHops);
  app.use(requestLog(ctx)); // first, so a body the parser refuses is logged too
  // The settings pages (HTML forms, their own session and CSRF checks) before the JSON-only body parser.
  app.use(settingsPages(ctx));
  app.use(jsonBody);

  const routes = createRouteBuilders(app, ctx, limiters);
  registerMetaRoutes(routes);
  registerContactRoutes(routes);
  registerTicketRoutes(routes);
  registerConversationRoutes(routes);
  registerLiveChatRoutes(routes);
  registerSubscriptionRoutes(routes);
  registerDeliveryRoutes(routes);
  registerTagRoutes(routes);

  app.use(notFoundRoute);
  app.use(errorHandler(ctx));
  return app;
}

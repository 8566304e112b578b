/**
 * The request log an operator reads: one `request` line per request at info level, written when the
 * response is finished (or the client went away first). Fields:
 *   method, route (the route pattern, e.g. `/v1/tickets/:id`; null when no route matched), status,
 *   ms (duration, milliseconds, to 0.1 ms), keyId (the API key that was accepted, when one was),
 *   agentId (for agent console tokens), zapierOperation (the Zapier app's `X-IllumiChat-Zapier-Operation`
 *   header, e.g. `creates.create_ticket.perform`, when present; docs/zapier-app.md), aborted (only when the
 *   client closed the connection before the response was finished).
 * At debug level the same line also carries path (the concrete path), bytesIn and bytesOut (Content-Length,
 * bytes, when known) and userAgent. Headers holding credentials, bodies and query values are never logged;
 * every client-supplied string passes through redactPath (http/redact.ts) first.
 */
import type { RequestHandler } from 'express';

import type { AppContext } from '../context';
import { redactPath } from './redact';

/** The header the Zapier app sets on every call (zapier-app/http/middleware.ts OPERATION_HEADER). */
export const ZAPIER_OPERATION_HEADER = 'x-illumichat-zapier-operation';

/** A client-supplied value is logged at most this long (characters), so a header cannot flood the log. */
const MAX_LOGGED_CHARS = 200;

function clientText(value: string | undefined): string | undefined {
  return value === undefined ? undefined : redactPath(value.slice(0, MAX_LOGGED_CHARS));
}

export function requestLog(ctx: AppContext): RequestHandler {
  const debug = ctx.config.log === 'debug';
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('close', () => {
      const fields: Record<string, unknown> = {
        method: req.method,
        route: routePath(req.route),
        status: res.statusCode,
        ms: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10,
      };
      if (req.apiKey) fields.keyId = req.apiKey.keyId;
      if (req.agent) fields.agentId = req.agent.id;
      const operation = clientText(req.get(ZAPIER_OPERATION_HEADER));
      if (operation) fields.zapierOperation = operation;
      if (!res.writableFinished) fields.aborted = true;
      if (debug) {
        fields.path = redactPath(req.path);
        fields.bytesIn = numberOrUndefined(req.get('content-length'));
        fields.bytesOut = numberOrUndefined(res.getHeader('content-length'));
        fields.userAgent = clientText(req.get('user-agent'));
      }
      ctx.log.info('request', fields);
    });
    next();
  };
}

function numberOrUndefined(value: unknown): number | undefined {
  const n = Number(value);
  return value !== undefined && Number.isFinite(n) ? n : undefined;
}

/** The matched route's pattern (`/v1/contacts/:id`), or null when no route matched; Express types it `any`. */
function routePath(route: unknown): string | null {
  const path = typeof route === 'object' && route !== null ? (route as { path?: unknown }).path : undefined;
  return typeof path === 'string' ? path : null;
}

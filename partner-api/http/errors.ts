/**
 * One error shape everywhere: `{ "error": { code, message, details? } }`. Known failures (ApiError, the
 * JSON parser's own errors) are rendered as they are; a storage fault (disk full or failing, db/faults.ts)
 * is a 503 with Retry-After and one log line; anything else is a bug, logged with its stack and answered
 * with a bare 500 so nothing internal leaks.
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';

import type { AppContext } from '../context';
import {
  CONNECTION_WAIT_RETRY_AFTER_SECONDS,
  isConnectionWaitTimeout,
  isStorageFault,
  STORAGE_RETRY_AFTER_SECONDS,
} from '../db/faults';
import { ApiError } from '../domain/errors';
import { redactFields } from './redact';

export function sendError(res: Response, error: ApiError): void {
  for (const [name, value] of Object.entries(error.options.headers ?? {})) res.setHeader(name, value);
  const body: Record<string, unknown> = { code: error.code, message: error.message, ...error.options.fields };
  if (error.options.details) body.details = error.options.details;
  res.status(error.status).json({ error: body });
}

/** The body parser's failures, by its `type`, in our words. */
function fromBodyParser(err: unknown): ApiError | null {
  const type = typeof err === 'object' && err !== null ? (err as { type?: unknown }).type : undefined;
  switch (type) {
    case 'entity.too.large':
      return new ApiError(413, 'payload_too_large', 'The request body is larger than 256 KiB.');
    case 'entity.parse.failed':
      return new ApiError(400, 'invalid_json', 'The request body is not valid JSON (an object or array was expected).');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new ApiError(
        415,
        'unsupported_media_type',
        'Send the body as UTF-8 JSON (Content-Type: application/json).',
      );
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new ApiError(400, 'bad_request', 'The request body could not be read.');
    default:
      return null;
  }
}

/**
 * The router's failure to decode a path parameter (`%ff`, a cut-off `%E0%A4%A`): no id can be spelt that
 * way, so there is no such resource. Without this it was an unhandled error and a 500.
 */
function fromRouter(err: unknown): ApiError | null {
  if (err instanceof URIError && (err as { status?: unknown }).status === 400) {
    return new ApiError(404, 'not_found', 'No such resource: the path is not valid percent-encoding.');
  }
  return null;
}

/**
 * Runs `fn`; an ApiError with `code` that it throws is thrown again with `advice` after its message. The
 * domain says what is wrong; the route says what its caller should do next, in the caller's terms.
 */
export async function withAdvice<T>(code: string, advice: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof ApiError && error.code === code) {
      throw new ApiError(error.status, error.code, `${error.message} ${advice}`, error.options);
    }
    throw error;
  }
}

/**
 * 503 `storage_unavailable`: nothing of the request was stored (its transaction rolled back, or its statement
 * never ran), so a retry is safe. `fault` is the storage fault (db/faults.ts): PostgreSQL's pool giving up
 * its bounded wait for a connection (config.ts `databasePool.waitMs`) is said as such, with a shorter
 * Retry-After, since a burst soon passes.
 */
export function storageUnavailable(fault?: unknown): ApiError {
  const busy = isConnectionWaitTimeout(fault);
  return new ApiError(
    503,
    'storage_unavailable',
    busy
      ? 'The API has no free database connection right now (all are busy). Nothing of this request was saved; retry shortly.'
      : 'The API cannot store anything right now (its disk is full or failing, or its database cannot be reached). Nothing of this request was saved; retry later.',
    {
      headers: {
        'Retry-After': String(busy ? CONNECTION_WAIT_RETRY_AFTER_SECONDS : STORAGE_RETRY_AFTER_SECONDS),
      },
    },
  );
}

export function errorHandler(ctx: AppContext): ErrorRequestHandler {
  // Express tells an error handler by its four parameters, so `_next` stays though it is not called.
  return (err: unknown, req, res, _next) => {
    const known = err instanceof ApiError ? err : (fromRouter(err) ?? fromBodyParser(err));
    if (res.headersSent) {
      ctx.log.error(
        'error after the response started',
        redactFields({ method: req.method, path: req.path, error: describe(err) }),
      );
      res.end();
      return;
    }
    if (known) {
      sendError(res, known);
      return;
    }
    if (isStorageFault(err)) {
      // An operating condition, not a bug: one line with SQLite's code, no stack.
      ctx.log.error(
        'storage unavailable: request refused',
        redactFields({ method: req.method, path: req.path, code: err.code, error: err.message }),
      );
      sendError(res, storageUnavailable(err));
      return;
    }
    ctx.log.error('unhandled error', redactFields({ method: req.method, path: req.path, error: describe(err) }));
    sendError(res, new ApiError(500, 'internal_error', 'Something went wrong on our side. Try again shortly.'));
  };
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
}

export const notFoundRoute: RequestHandler = (req, res) => {
  sendError(res, new ApiError(404, 'not_found', `No route ${req.method} ${req.path}.`));
};

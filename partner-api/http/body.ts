/**
 * JSON bodies only, at most 256 KiB and at most MAX_JSON_DEPTH levels deep. A request that carries a body
 * of another type is refused with 415 before anything reads it; a request without a body gets `{}`, so
 * handlers always validate an object.
 */
import express, { type RequestHandler } from 'express';

import { ApiError } from '../domain/errors';

export const BODY_LIMIT_BYTES = 256 * 1024;
/**
 * Every route's body is one flat object (depth 1); 32 leaves room for what may come and still keeps every
 * recursive walk of a body after this point (the idempotency fingerprint, zod, JSON.stringify) far from the
 * stack's limit. 256 KiB of `[` would otherwise be 262,144 levels.
 */
export const MAX_JSON_DEPTH = 32;
const JSON_TYPES = ['application/json', 'application/*+json'];

const requireJsonType: RequestHandler = (req, _res, next) => {
  // req.is: null when there is no body, false when the body's type is not one we parse. An empty body
  // (Content-Length: 0, as clients send on a bare POST) carries no type to refuse.
  if (req.get('content-length') !== '0' && req.is(JSON_TYPES) === false) {
    next(new ApiError(415, 'unsupported_media_type', 'Send the body as JSON with Content-Type: application/json.'));
    return;
  }
  next();
};

const parseJson = express.json({ limit: BODY_LIMIT_BYTES, type: JSON_TYPES, strict: true });

/**
 * How deep `value` nests (a scalar is 0, `{}` and `[]` are 1), walked with an explicit stack so that
 * measuring cannot overflow; stops as soon as `limit` is exceeded and answers `limit + 1` then.
 */
export function jsonDepth(value: unknown, limit: number): number {
  if (value === null || typeof value !== 'object') return 0;
  let deepest = 0;
  // Two parallel stacks, and scalars never pushed: a wide 256 KiB body is measured in about a millisecond.
  const nodes: object[] = [value];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop()!;
    const depth = depths.pop()!;
    if (depth > limit) return limit + 1;
    if (depth > deepest) deepest = depth;
    const children: unknown[] = Array.isArray(node) ? node : Object.values(node);
    for (let i = 0; i < children.length; i++) {
      const child = children[i];
      if (child !== null && typeof child === 'object') {
        nodes.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return deepest;
}

/**
 * V8's JSON.parse is iterative, so parsing a deep body is safe; what comes after it recurses. Refused
 * here, before any route (or the idempotency fingerprint) sees the body: 400 `body_too_deep`.
 */
const refuseDeepBodies: RequestHandler = (req, _res, next) => {
  if (jsonDepth(req.body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    next(
      new ApiError(
        400,
        'body_too_deep',
        `The request body nests deeper than ${MAX_JSON_DEPTH} levels of objects and arrays.`,
      ),
    );
    return;
  }
  next();
};

const defaultToEmpty: RequestHandler = (req, _res, next) => {
  if (req.body === undefined) req.body = {};
  next();
};

export const jsonBody: RequestHandler[] = [requireJsonType, parseJson, refuseDeepBodies, defaultToEmpty];

/**
 * JSON bodies only, at most 256 KiB. A request that carries a body of another type is refused with 415
 * before anything reads it; a request without a body gets `{}`, so handlers always validate an object.
 */
import express, { type RequestHandler } from 'express';
import { ApiError } from '../domain/errors';

export const BODY_LIMIT_BYTES = 256 * 1024;
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

const defaultToEmpty: RequestHandler = (req, _res, next) => {
  if (req.body === undefined) req.body = {};
  next();
};

export const jsonBody: RequestHandler[] = [requireJsonType, parseJson, defaultToEmpty];

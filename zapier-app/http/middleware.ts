/**
 * The one place requests to IllumiChat are shaped and their errors translated. Operations call
 * `z.request({ url: '/v1/…' })` with a path; this module adds the base URL, the key and the operation tag.
 */
import type {
  AfterResponseMiddleware,
  BeforeRequestMiddleware,
  HttpRequestOptions,
  HttpResponse,
  ZObject,
} from 'zapier-platform-core';

import { API_KEY_PREFIX, API_KEYS_SETTINGS_URL, apiBaseUrl } from '../config';
import { parseApiError, toZapierError } from './errors';

export const OPERATION_HEADER = 'X-IllumiChat-Zapier-Operation';

export const KEY_PREFIX_MESSAGE =
  `IllumiChat API keys start with ${API_KEY_PREFIX}, and this one does not. ` +
  `Copy the whole key from Settings → API Keys (${API_KEYS_SETTINGS_URL}) and try again.`;

/** What core's inject-input middleware adds to every request: the running invocation. */
interface RequestWithInput extends HttpRequestOptions {
  input?: { _zapier?: { event?: { method?: string } } };
}

/**
 * `triggers.lead_captured.operation.performSubscribe` → `triggers.lead_captured.performSubscribe`, so the
 * partner API's logs say which step of which Zap made each call.
 */
export function operationName(method: string | undefined): string {
  return method ? method.replace('.operation.', '.') : 'unknown';
}

export const addApiContext: BeforeRequestMiddleware = (request, z, bundle) => {
  const base = apiBaseUrl();
  const url = request.url.startsWith('/') ? base + request.url : request.url;
  // The key goes to IllumiChat only, never to a URL some other code path might request.
  if (new URL(url).origin !== new URL(base).origin) return { ...request, url };

  const apiKey = String(bundle.authData?.apiKey ?? '').trim();
  if (!apiKey.startsWith(API_KEY_PREFIX)) {
    throw new z.errors.ExpiredAuthError(KEY_PREFIX_MESSAGE);
  }
  return {
    ...request,
    url,
    headers: {
      Accept: 'application/json',
      ...request.headers,
      Authorization: `Bearer ${apiKey}`,
      [OPERATION_HEADER]: operationName((request as RequestWithInput).input?._zapier?.event?.method),
    },
  };
};

/**
 * Throws the translated error for any status of 400 and up. A caller that handles some statuses itself
 * (unsubscribe treats "already gone" as done) sets `skipThrowForStatus`.
 * Runs for 429 too: the app sets the `throwForThrottlingEarly: false` flag, so the ThrottledError carries
 * IllumiChat's code and Retry-After rather than core's generic text.
 */
export const translateApiErrors: AfterResponseMiddleware = (response, z) => {
  if (response.status < 400 || response.skipThrowForStatus) return response;
  return throwApiError(z, response);
};

/** For callers that skipped the middleware's throw and found a status they do not handle themselves. */
export function throwApiError(z: ZObject, response: HttpResponse): never {
  const apiError = parseApiError(response.status, response.content, response.getHeader('retry-after'));
  throw toZapierError(z.errors, apiError);
}

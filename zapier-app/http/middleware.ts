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

export const DOT_SEGMENT_VALUE =
  'An ID or tag mapped into this step is only “.” or “..”, which cannot be sent to IllumiChat: web addresses drop ' +
  'such a part. Check the value mapped here (it should be an ID such as con_…, or a tag with other characters).';

/** A path segment `.` or `..`, also percent-encoded (`%2E`): WHATWG URL and RFC 3986 remove it. */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

export const BLANK_PATH_VALUE =
  'An ID mapped into this step is blank in this run, so there is nothing to send it to. Check the step that ' +
  'should provide it (a search that found nothing, or a field left empty in the trigger’s data).';

/**
 * Throws (before any request) when a path built from mapped values cannot reach the record it names: a
 * blank value leaves an empty segment (`/v1/contacts//tags`, `/v1/tickets/`), and a dot segment is removed by
 * the URL parser, so the request would reach another route (`/v1/tickets/.` is the ticket list,
 * `/v1/contacts/../tags` is `/v1/tags`) and an operation would act on, or return, something it never asked for.
 * No path of ours has an empty segment after its leading `/`.
 */
function refuseUnsendablePath(z: ZObject, path: string): void {
  const segments = (path.split(/[?#]/, 1)[0] ?? '').split('/').slice(1);
  if (segments.some((segment) => segment === '')) {
    throw new z.errors.Error(BLANK_PATH_VALUE, 'blank_path_value', 400);
  }
  if (segments.some((segment) => DOT_SEGMENT.test(segment))) {
    throw new z.errors.Error(DOT_SEGMENT_VALUE, 'invalid_path_value', 400);
  }
}

export const addApiContext: BeforeRequestMiddleware = (request, z, bundle) => {
  if (request.url.startsWith('/')) refuseUnsendablePath(z, request.url);
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

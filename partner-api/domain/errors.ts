/**
 * The API's one error type. Its status and code are part of the public contract (docs/api.md), so domain
 * services raise them directly: a service knows whether something is missing or in the wrong state, and
 * the HTTP layer only renders `{ "error": { code, message, details? } }`.
 *
 * What the domain's public functions say they throw is the ApiErrors they raise themselves ("Throws 404
 * not_found …"). Besides those, any function that reads or writes may throw a SQLite storage fault (a full or
 * failing disk, db/faults.ts), which the API answers 503 `storage_unavailable` with Retry-After, and a write run
 * through the HTTP layer may be refused at commit by the caller's re-check (401/403, http/auth.ts). Times are
 * the clock's milliseconds since the epoch unless a name says otherwise; stored times are ISO-8601 strings.
 */
export interface ErrorDetail {
  path: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly options: {
      details?: ErrorDetail[];
      /** Extra fields of the error object, e.g. `requiredScope`. */
      fields?: Record<string, unknown>;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** 404 not_found, worded for a resource looked up by id within the caller's workspace. */
export function notFound(what: string): ApiError {
  return new ApiError(404, 'not_found', `No ${what} with this id in this workspace.`);
}

/** 422 validation_failed with one detail per rejected field (`path` names the field as the client sent it). */
export function validationFailed(details: ErrorDetail[], message = 'The request is not valid. See details.'): ApiError {
  return new ApiError(422, 'validation_failed', message, { details });
}

/** 409 invalid_state: the object exists but is not in a state that allows this (a closed conversation…). */
export function invalidState(message: string): ApiError {
  return new ApiError(409, 'invalid_state', message);
}

/** 401 api_key_revoked: the key was revoked in Settings → API Keys (before the request, or while it ran). */
export function apiKeyRevoked(): ApiError {
  return new ApiError(
    401,
    'api_key_revoked',
    'This API key was revoked in Settings → API Keys. Create a new key and reconnect.',
  );
}

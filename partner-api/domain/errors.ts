/**
 * The API's one error type. Its status and code are part of the public contract (docs/api.md), so domain
 * services raise them directly: a service knows whether something is missing or in the wrong state, and
 * the HTTP layer only renders `{ "error": { code, message, details? } }`.
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

export function notFound(what: string): ApiError {
  return new ApiError(404, 'not_found', `No ${what} with this id in this workspace.`);
}

export function validationFailed(details: ErrorDetail[], message = 'The request is not valid. See details.'): ApiError {
  return new ApiError(422, 'validation_failed', message, { details });
}

export function invalidState(message: string): ApiError {
  return new ApiError(409, 'invalid_state', message);
}

/**
 * Turns the partner API's error shape, `{ error: { code, message, details? } }`, into the Zapier error that
 * tells a Zap builder what to do. The class decides what Zapier does with the run (Zapier's CLI docs,
 * "General Errors", and docs.zapier.com/platform/manage/api-outage):
 * - ExpiredAuthError: the key is dead; Zapier marks the connection and asks the user to reconnect.
 * - Error: the builder must fix something (the plan, the key's scopes, a mapped value IllumiChat rejects, a
 *   contact or an id that does not exist): the run errors and its owner is alerted. Zapier pauses a Zap only
 *   when nearly all its runs error, which is what a misconfigured Zap should come to.
 * - ThrottledError: try again later (rate limit, IllumiChat busy or down); Zapier reschedules the step and
 *   does not count it against the Zap.
 * - HaltedError: the run should quietly stop, alerting nobody. No API answer means that: it is used only by
 *   the app itself (a request to the hook URL IllumiChat did not sign; Update Ticket with nothing to change).
 * API_ERROR_CLASSES is the table; docs/zapier-app.md carries the same table and a test holds them equal.
 * Every message ends with the HTTP status and the API's code, so support can grep logs for it.
 */
import type { ZObject } from 'zapier-platform-core';

import { type Scope, SCOPES } from '../config';

export interface ApiErrorDetail {
  path: string;
  message: string;
}

export interface ApiError {
  status: number;
  code: string;
  message: string;
  details: ApiErrorDetail[];
  requiredScope: string | null;
  /** Seconds, from the Retry-After header. */
  retryAfter: number | null;
}

/** Zapier cuts error messages at 250 characters; the code at the end must survive. */
export const MAX_MESSAGE_LENGTH = 250;

/** When IllumiChat says to slow down or is unavailable without saying for how long. */
export const DEFAULT_RETRY_SECONDS = 60;

/** A request still running under the same Idempotency-Key holds it for at most 30 seconds (docs/api.md). */
export const IN_PROGRESS_RETRY_SECONDS = 30;

export const MESSAGES = {
  revoked:
    'This API key was revoked in IllumiChat (Settings → API Keys). Reconnect your IllumiChat account with a new key.',
  malformed:
    'This is not a complete IllumiChat API key: a character may be missing or mistyped. Copy the whole key from Settings → API Keys and reconnect.',
  unknownKey:
    'IllumiChat does not recognise this API key. Reconnect your IllumiChat account with a key from Settings → API Keys.',
  missingKey: 'No API key reached IllumiChat. Reconnect your IllumiChat account with a key from Settings → API Keys.',
  planUpgrade:
    'The Zapier integration is gated to Pro and above. Upgrade your workspace plan, then reconnect the account in Zapier.',
  contactNotFound:
    'No contact in your IllumiChat CRM has this Contact Email. Add a Find or Create Contact step before this one, or leave Contact Email blank to create the ticket without a contact.',
  notInTakeover:
    'This conversation is not in live-chat takeover: the assistant still handles it, so a message cannot be posted. Pick a conversation a human agent has taken over.',
  inProgress: 'IllumiChat is still working on the first attempt of this step; Zapier will retry it shortly.',
  tooLarge: 'The data sent to IllumiChat is larger than 256 KiB. Shorten the values mapped into this step.',
} as const;

/** What each of the API's 401 codes means to the person who pasted the key. */
const KEY_PROBLEMS: Record<string, string> = {
  api_key_revoked: MESSAGES.revoked,
  api_key_malformed: MESSAGES.malformed,
  api_key_invalid: MESSAGES.unknownKey,
  api_key_missing: MESSAGES.missingKey,
};

export function scopeMessage(scope: string): string {
  const usedBy = (SCOPES as Record<string, string>)[scope];
  // What to do comes first: a message too long for Zapier loses its last sentence, never a word.
  return (
    `This API key lacks the ${scope} scope. Create a key with it under Settings → API Keys and reconnect.` +
    `${usedBy ? ` It is needed for ${usedBy}.` : ''}`
  );
}

type ZapierErrors = ZObject['errors'];

/** Reads the API's error body; a non-JSON answer (a proxy's HTML page) still yields a code and a message. */
export function parseApiError(status: number, content: string, retryAfterHeader: string | null | undefined): ApiError {
  let body: unknown;
  try {
    body = JSON.parse(content);
  } catch {
    body = undefined;
  }
  const error = isRecord(body) && isRecord(body.error) ? body.error : {};
  const code = typeof error.code === 'string' && error.code ? error.code : `http_${status}`;
  const message = typeof error.message === 'string' && error.message ? error.message : fallbackMessage(status, content);
  const details = Array.isArray(error.details)
    ? error.details.filter(isRecord).map((d) => ({ path: textOf(d.path), message: textOf(d.message) }))
    : [];
  const scope = error.requiredScope ?? (isRecord(body) ? body.requiredScope : undefined);
  return {
    status,
    code,
    message,
    details,
    requiredScope: typeof scope === 'string' ? scope : scopeNamedIn(message),
    retryAfter: parseRetryAfter(retryAfterHeader),
  };
}

export type ZapierErrorClass = 'ExpiredAuthError' | 'Error' | 'HaltedError' | 'ThrottledError';

/**
 * Every error code the partner API answers with (its `new ApiError(...)` calls, and the codes the parallel
 * branches add), its status, and the Zapier error class it becomes. A code not listed becomes `Error`, or
 * by its status: 401 ExpiredAuthError, 429 and 5xx ThrottledError.
 */
export const API_ERROR_CLASSES = {
  api_key_missing: { status: 401, errorClass: 'ExpiredAuthError' },
  api_key_malformed: { status: 401, errorClass: 'ExpiredAuthError' },
  api_key_invalid: { status: 401, errorClass: 'ExpiredAuthError' },
  api_key_revoked: { status: 401, errorClass: 'ExpiredAuthError' },
  agent_token_missing: { status: 401, errorClass: 'ExpiredAuthError' },
  agent_token_invalid: { status: 401, errorClass: 'ExpiredAuthError' },
  agent_token_revoked: { status: 401, errorClass: 'ExpiredAuthError' },
  plan_upgrade_required: { status: 403, errorClass: 'Error' },
  insufficient_scope: { status: 403, errorClass: 'Error' },
  contact_not_found: { status: 422, errorClass: 'Error' },
  validation_failed: { status: 422, errorClass: 'Error' },
  not_found: { status: 404, errorClass: 'Error' },
  conversation_not_in_takeover: { status: 409, errorClass: 'Error' },
  invalid_state: { status: 409, errorClass: 'Error' },
  subscription_limit_reached: { status: 409, errorClass: 'Error' },
  replay_refused: { status: 409, errorClass: 'Error' },
  tag_limit_reached: { status: 409, errorClass: 'Error' },
  attribute_limit_reached: { status: 409, errorClass: 'Error' },
  target_url_refused: { status: 422, errorClass: 'Error' },
  idempotency_key_conflict: { status: 422, errorClass: 'Error' },
  payload_too_large: { status: 413, errorClass: 'Error' },
  body_too_deep: { status: 400, errorClass: 'Error' },
  invalid_json: { status: 400, errorClass: 'Error' },
  bad_request: { status: 400, errorClass: 'Error' },
  unsupported_media_type: { status: 415, errorClass: 'Error' },
  idempotency_request_in_progress: { status: 409, errorClass: 'ThrottledError' },
  rate_limited: { status: 429, errorClass: 'ThrottledError' },
  storage_unavailable: { status: 503, errorClass: 'ThrottledError' },
  internal_error: { status: 500, errorClass: 'ThrottledError' },
} as const satisfies Record<string, { status: number; errorClass: ZapierErrorClass }>;

/** The class an API error becomes: its code's row in API_ERROR_CLASSES, else by its status. */
export function errorClassOf(apiError: Pick<ApiError, 'status' | 'code'>): ZapierErrorClass {
  const row = (API_ERROR_CLASSES as Record<string, { errorClass: ZapierErrorClass }>)[apiError.code];
  if (row) return row.errorClass;
  if (apiError.status === 401) return 'ExpiredAuthError';
  if (apiError.status === 429 || apiError.status >= 500) return 'ThrottledError';
  return 'Error';
}

/**
 * What the builder reads for each code, before it is fitted to Zapier's length (withCode): the instruction
 * first, so only the least useful tail is ever dropped.
 */
export function messageText(apiError: ApiError): string {
  const { status, code } = apiError;
  if (status === 401) {
    return (
      KEY_PROBLEMS[code] ?? `${apiError.message} Reconnect your IllumiChat account with a key from Settings → API Keys.`
    );
  }
  switch (code) {
    case 'plan_upgrade_required':
      return MESSAGES.planUpgrade;
    case 'insufficient_scope':
      return apiError.requiredScope ? scopeMessage(apiError.requiredScope) : apiError.message;
    case 'contact_not_found':
      return MESSAGES.contactNotFound;
    case 'conversation_not_in_takeover':
      return MESSAGES.notInTakeover;
    case 'idempotency_request_in_progress':
      return MESSAGES.inProgress;
    case 'validation_failed':
      return validationMessage(apiError);
    case 'not_found':
      return `${apiError.message} Check the ID mapped into this step: it must exist in the connected workspace.`;
    case 'payload_too_large':
      return MESSAGES.tooLarge;
  }
  if (status === 429) return `IllumiChat's rate limit for this API key was reached: ${apiError.message}`;
  if (status >= 500)
    return `IllumiChat could not complete the request right now; Zapier will retry. ${apiError.message}`;
  // Anything else: IllumiChat's own words, which say what was wrong with the request.
  return apiError.message;
}

/** The Zapier error for an API error; see the module comment for why each class. */
export function toZapierError(errors: ZapierErrors, apiError: ApiError): Error {
  const message = withCode(messageText(apiError), apiError);
  switch (errorClassOf(apiError)) {
    case 'ExpiredAuthError':
      return new errors.ExpiredAuthError(message);
    case 'ThrottledError': {
      const fallback =
        apiError.code === 'idempotency_request_in_progress' ? IN_PROGRESS_RETRY_SECONDS : DEFAULT_RETRY_SECONDS;
      return new errors.ThrottledError(message, apiError.retryAfter ?? fallback);
    }
    case 'HaltedError':
      return new errors.HaltedError(message);
    case 'Error':
      return new errors.Error(message, apiError.code, apiError.status);
  }
}

function validationMessage(apiError: ApiError): string {
  const fields = apiError.details.map((d) => (d.path ? `${d.path}: ${d.message}` : d.message)).join('; ');
  // The API's message ends in a full stop, as does this sentence: one is enough.
  const said = apiError.message.replace(/\.$/, '');
  return `IllumiChat rejected a value in this step${fields ? ` (${fields})` : `: ${said}`}. Check the fields mapped here.`;
}

/**
 * Appends `(IllumiChat <status> <code>)` and fits the whole into Zapier's 250 characters without cutting a
 * word: whole sentences are dropped from the end first; only a first sentence that is itself too long is
 * shortened, at a word boundary, with an ellipsis.
 */
export function withCode(text: string, apiError: Pick<ApiError, 'status' | 'code'>): string {
  const suffix = ` (IllumiChat ${apiError.status} ${apiError.code})`;
  return fitWords(text.trim(), MAX_MESSAGE_LENGTH - suffix.length) + suffix;
}

/** `text` if it fits in `room` characters; else its leading whole sentences; else its leading whole words and `…`. */
export function fitWords(text: string, room: number): string {
  if (text.length <= room) return text;
  const sentences = text.split(/(?<=[.!?])\s+/);
  let kept = '';
  for (const sentence of sentences) {
    const next = kept ? `${kept} ${sentence}` : sentence;
    if (next.length > room) break;
    kept = next;
  }
  if (kept) return kept;
  // At most room - 1 characters of whole words, then the ellipsis.
  const lastSpace = text.lastIndexOf(' ', room - 1);
  const words = (lastSpace > 0 ? text.slice(0, lastSpace) : '').replace(/[\s,;:]+$/, '');
  return `${words}…`;
}

function fallbackMessage(status: number, content: string): string {
  const snippet = fitWords(
    content
      .replace(/<[^>]*>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim(),
    120,
  );
  return snippet ? `HTTP ${status}: ${snippet}` : `HTTP ${status} with no error body.`;
}

function scopeNamedIn(message: string): string | null {
  return (Object.keys(SCOPES) as Scope[]).find((scope) => message.includes(scope)) ?? null;
}

/** The shape all three HTTP-date forms share (RFC 9110 §5.6.7): the day's name first, then hh:mm:ss and a space. */
const HTTP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? .*\d\d:\d\d:\d\d /;

/**
 * Retry-After as seconds: delay-seconds, or an HTTP-date counted from now (RFC 9110 §10.2.3); null when absent
 * or neither, so the caller's default applies.
 */
function parseRetryAfter(header: string | null | undefined): number | null {
  if (!header) return null;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  // Date.parse alone takes "-5", "1.5" or "Sun 12" as a date long past, which would read as "retry now".
  if (!HTTP_DATE.test(trimmed)) return null;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A detail's field as text: the API sends strings; anything else is shown as JSON, never as [object Object]. */
function textOf(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * Turns the partner API's error shape, `{ error: { code, message, details? } }`, into the Zapier error that
 * tells a Zap builder what to do. The class decides what Zapier does with the run:
 * - ExpiredAuthError: the key is dead; Zapier asks the user to reconnect.
 * - HaltedError: this run's data cannot work (a contact that does not exist, a conversation not in takeover, a
 *   bad mapped value). The run stops softly and the Zap is never switched off for it, since the next record
 *   may be fine.
 * - ThrottledError: try again later (rate limit, IllumiChat busy or down); Zapier reschedules the step.
 * - Error: the setup is wrong (plan, scope) or something is broken; the run errors so someone fixes it.
 * Every message ends with the HTTP status and the API's code, so support can grep logs for it.
 */
import type { ZObject } from 'zapier-platform-core';
import { SCOPES, type Scope } from '../config';

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
  // What to do comes first: Zapier cuts long messages, and the list of steps is the part to lose.
  return (
    `This API key lacks the ${scope} scope. Create a key with ${scope} in IllumiChat under Settings → API Keys ` +
    `and reconnect your account in Zapier with it.${usedBy ? ` It is needed for ${usedBy}.` : ''}`
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
  const message =
    typeof error.message === 'string' && error.message ? error.message : fallbackMessage(status, content);
  const details = Array.isArray(error.details)
    ? error.details.filter(isRecord).map((d) => ({ path: String(d.path ?? ''), message: String(d.message ?? '') }))
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

/** The Zapier error for an API error; see the module comment for why each class. */
export function toZapierError(errors: ZapierErrors, apiError: ApiError): Error {
  const { status, code } = apiError;
  const say = (text: string) => withCode(text, apiError);

  if (status === 401) {
    const text =
      KEY_PROBLEMS[code] ?? `${apiError.message} Reconnect your IllumiChat account with a key from Settings → API Keys.`;
    return new errors.ExpiredAuthError(say(text));
  }
  if (status === 429) {
    return new errors.ThrottledError(
      say(`IllumiChat's rate limit for this API key was reached: ${apiError.message}`),
      apiError.retryAfter ?? DEFAULT_RETRY_SECONDS,
    );
  }
  if (status >= 500) {
    return new errors.ThrottledError(
      say(`IllumiChat could not complete the request right now; Zapier will retry. ${apiError.message}`),
      apiError.retryAfter ?? DEFAULT_RETRY_SECONDS,
    );
  }
  switch (code) {
    case 'plan_upgrade_required':
      return new errors.Error(say(MESSAGES.planUpgrade), code, status);
    case 'insufficient_scope':
      return new errors.Error(
        say(apiError.requiredScope ? scopeMessage(apiError.requiredScope) : apiError.message),
        code,
        status,
      );
    case 'contact_not_found':
      return new errors.HaltedError(say(MESSAGES.contactNotFound));
    case 'conversation_not_in_takeover':
      return new errors.HaltedError(say(MESSAGES.notInTakeover));
    case 'idempotency_request_in_progress':
      return new errors.ThrottledError(say(MESSAGES.inProgress), apiError.retryAfter ?? IN_PROGRESS_RETRY_SECONDS);
    case 'validation_failed':
      return new errors.HaltedError(say(validationMessage(apiError)));
    case 'not_found':
      return new errors.HaltedError(
        say(`${apiError.message} Check the ID mapped into this step: it must exist in the connected workspace.`),
      );
    case 'payload_too_large':
      return new errors.HaltedError(say(MESSAGES.tooLarge));
    case 'invalid_state':
      return new errors.HaltedError(say(apiError.message));
    default:
      // invalid_json, unsupported_media_type, idempotency_key_conflict, target_url_refused and anything new:
      // nothing the builder's data can fix, so the run errors and shows IllumiChat's own words.
      return new errors.Error(say(apiError.message), code, status);
  }
}

function validationMessage(apiError: ApiError): string {
  const fields = apiError.details.map((d) => (d.path ? `${d.path}: ${d.message}` : d.message)).join('; ');
  return `IllumiChat rejected a value in this step${fields ? ` (${fields})` : `: ${apiError.message}`}. Check the fields mapped here.`;
}

/** Appends `(IllumiChat <status> <code>)`, shortening the text so the whole fits Zapier's 250 characters. */
export function withCode(text: string, apiError: Pick<ApiError, 'status' | 'code'>): string {
  const suffix = ` (IllumiChat ${apiError.status} ${apiError.code})`;
  const room = MAX_MESSAGE_LENGTH - suffix.length;
  const body = text.length > room ? `${text.slice(0, room - 1).trimEnd()}…` : text;
  return body + suffix;
}

function fallbackMessage(status: number, content: string): string {
  const snippet = content.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 120);
  return snippet ? `HTTP ${status}: ${snippet}` : `HTTP ${status} with no error body.`;
}

function scopeNamedIn(message: string): string | null {
  return (Object.keys(SCOPES) as Scope[]).find((scope) => message.includes(scope)) ?? null;
}

/** Retry-After as seconds; an HTTP date counts from now. */
function parseRetryAfter(header: string | null | undefined): number | null {
  if (!header) return null;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

import type { ZObject } from 'zapier-platform-core';
import {
  DEFAULT_RETRY_SECONDS,
  IN_PROGRESS_RETRY_SECONDS,
  MAX_MESSAGE_LENGTH,
  MESSAGES,
  parseApiError,
  withCode,
} from '../../zapier-app/http/errors';
import { api, appTester, bundle, rejectionOf, useMockedApi } from './support/app';

useMockedApi();

/** Any operation would do: every request goes through the same afterResponse. */
const callApi = async (z: ZObject) => (await z.request({ method: 'POST', url: '/v1/tickets', body: {} })).data;

function answer(status: number, code: string, message = `API says ${code}.`, extra: Record<string, unknown> = {}) {
  return { status, body: { error: { code, message, ...extra } } };
}

interface Case {
  name: string;
  reply: { status: number; body: unknown; headers?: Record<string, string> };
  error: string;
  says: RegExp | string;
  delay?: number;
}

const cases: Case[] = [
  { name: 'a revoked key', reply: answer(401, 'api_key_revoked'), error: 'ExpiredAuthError', says: MESSAGES.revoked },
  { name: 'a mistyped key', reply: answer(401, 'api_key_malformed'), error: 'ExpiredAuthError', says: MESSAGES.malformed },
  { name: 'an unknown key', reply: answer(401, 'api_key_invalid'), error: 'ExpiredAuthError', says: MESSAGES.unknownKey },
  { name: 'no key', reply: answer(401, 'api_key_missing'), error: 'ExpiredAuthError', says: MESSAGES.missingKey },
  {
    name: 'a plan below Pro',
    reply: answer(403, 'plan_upgrade_required'),
    error: 'AppError',
    says: 'The Zapier integration is gated to Pro and above. Upgrade your workspace plan, then reconnect the account in Zapier.',
  },
  {
    name: 'a missing scope',
    reply: answer(403, 'insufficient_scope', 'Needs tickets:write.', { requiredScope: 'tickets:write' }),
    error: 'AppError',
    says: /lacks the tickets:write scope\. Create a key with tickets:write .*reconnect your account in Zapier/,
  },
  {
    name: 'a missing scope named only in the message',
    reply: answer(403, 'insufficient_scope', 'This key lacks the chat:write scope.'),
    error: 'AppError',
    says: /lacks the chat:write scope/,
  },
  {
    name: 'an unknown contact email',
    reply: answer(422, 'contact_not_found'),
    error: 'HaltedError',
    says: /Add a Find or Create Contact step before this one, or leave Contact Email blank/,
  },
  {
    name: 'a conversation not in takeover',
    reply: answer(409, 'conversation_not_in_takeover'),
    error: 'HaltedError',
    says: /not in live-chat takeover/,
  },
  {
    name: 'a bad value',
    reply: answer(422, 'validation_failed', 'Invalid input.', {
      details: [
        { path: 'email', message: 'Invalid email address' },
        { path: 'priority', message: 'Invalid option' },
      ],
    }),
    error: 'HaltedError',
    says: 'IllumiChat rejected a value in this step (email: Invalid email address; priority: Invalid option). Check the fields mapped here.',
  },
  {
    name: 'an id that is not in the workspace',
    reply: answer(404, 'not_found', 'No ticket tkt_9 in this workspace.'),
    error: 'HaltedError',
    says: /No ticket tkt_9 in this workspace\. Check the ID mapped into this step/,
  },
  { name: 'a body over 256 KiB', reply: answer(413, 'payload_too_large'), error: 'HaltedError', says: MESSAGES.tooLarge },
  {
    name: 'the first attempt still running',
    reply: answer(409, 'idempotency_request_in_progress'),
    error: 'ThrottledError',
    says: MESSAGES.inProgress,
    delay: IN_PROGRESS_RETRY_SECONDS,
  },
  {
    name: 'a reused idempotency key',
    reply: answer(422, 'idempotency_key_conflict', 'This Idempotency-Key was used with another request.'),
    error: 'AppError',
    says: 'This Idempotency-Key was used with another request.',
  },
  {
    name: 'the rate limit',
    reply: { ...answer(429, 'rate_limited', 'Too many requests for this key.'), headers: { 'Retry-After': '17' } },
    error: 'ThrottledError',
    says: /rate limit .*Too many requests for this key\./,
    delay: 17,
  },
  {
    name: 'a server error',
    reply: answer(500, 'internal_error', 'Something went wrong on our side.'),
    error: 'ThrottledError',
    says: /Zapier will retry\. Something went wrong on our side\./,
    delay: DEFAULT_RETRY_SECONDS,
  },
  {
    name: 'a proxy’s HTML 503 with Retry-After',
    reply: { status: 503, body: '<html><body><h1>503 Service Unavailable</h1></body></html>', headers: { 'Retry-After': '120' } },
    error: 'ThrottledError',
    says: /HTTP 503: 503 Service Unavailable/,
    delay: 120,
  },
];

describe('IllumiChat’s errors, as Zapier shows them', () => {
  it.each(cases)('$name → $error', async ({ reply, error, says, delay }) => {
    api().post('/v1/tickets').reply(reply.status, reply.body as object, reply.headers);

    const thrown = await rejectionOf(appTester(callApi, bundle()));

    expect(thrown.name).toBe(error);
    if (typeof says === 'string') expect(thrown.message).toContain(says);
    else expect(thrown.message).toMatch(says);
    const code = (reply.body as { error?: { code: string } }).error?.code ?? `http_${reply.status}`;
    // Support greps for the code: every message ends with the status and the code, within Zapier's 250.
    expect(thrown.message.endsWith(`(IllumiChat ${reply.status} ${code})`)).toBe(true);
    expect(thrown.message.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
    if (delay !== undefined) expect(thrown.delay).toBe(delay);
  });
});

describe('reading an error answer', () => {
  it('takes the code, message, details and required scope from the API’s shape', () => {
    const body = JSON.stringify({
      error: { code: 'insufficient_scope', message: 'Nope', requiredScope: 'chat:write', details: [{ path: 'a', message: 'b' }] },
    });
    expect(parseApiError(403, body, null)).toEqual({
      status: 403,
      code: 'insufficient_scope',
      message: 'Nope',
      details: [{ path: 'a', message: 'b' }],
      requiredScope: 'chat:write',
      retryAfter: null,
    });
  });

  it('reads Retry-After given as an HTTP date', () => {
    const inTwoMinutes = new Date(Date.now() + 120_000).toUTCString();
    const retryAfter = parseApiError(429, '', inTwoMinutes).retryAfter;
    expect(retryAfter).toBeGreaterThan(100);
    expect(retryAfter).toBeLessThanOrEqual(120);
  });

  it('survives an empty answer', () => {
    expect(parseApiError(502, '', undefined)).toMatchObject({ code: 'http_502', message: 'HTTP 502 with no error body.' });
  });

  it('shortens a long message but keeps the code whole', () => {
    const text = withCode('x'.repeat(400), { status: 422, code: 'validation_failed' });
    expect(text).toHaveLength(MAX_MESSAGE_LENGTH);
    expect(text.endsWith('… (IllumiChat 422 validation_failed)')).toBe(true);
  });
});

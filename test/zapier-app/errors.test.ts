import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { errors as coreErrors, type ZObject } from 'zapier-platform-core';

import { SCOPES } from '../../zapier-app/config';
import {
  API_ERROR_CLASSES,
  DEFAULT_RETRY_SECONDS,
  errorClassOf,
  fitWords,
  IN_PROGRESS_RETRY_SECONDS,
  MAX_MESSAGE_LENGTH,
  MESSAGES,
  messageText,
  parseApiError,
  scopeMessage,
  toZapierError,
  withCode,
} from '../../zapier-app/http/errors';
import { at } from '../support/items';
import { api, appTester, bundle, errorText, rejectionOf, useMockedApi } from './support/app';

const zapierErrors = coreErrors;

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
  {
    name: 'a mistyped key',
    reply: answer(401, 'api_key_malformed'),
    error: 'ExpiredAuthError',
    says: MESSAGES.malformed,
  },
  {
    name: 'an unknown key',
    reply: answer(401, 'api_key_invalid'),
    error: 'ExpiredAuthError',
    says: MESSAGES.unknownKey,
  },
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
    says: /lacks the tickets:write scope\. Create a key with it under Settings → API Keys and reconnect\. It is needed for Create Ticket/,
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
    error: 'AppError',
    says: /Add a Find or Create Contact step before this one, or leave Contact Email blank/,
  },
  {
    name: 'a conversation not in takeover',
    reply: answer(409, 'conversation_not_in_takeover'),
    error: 'AppError',
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
    error: 'AppError',
    says: 'IllumiChat rejected a value in this step (email: Invalid email address; priority: Invalid option). Check the fields mapped here.',
  },
  {
    name: 'an id that is not in the workspace',
    reply: answer(404, 'not_found', 'No ticket tkt_9 in this workspace.'),
    error: 'AppError',
    says: /No ticket tkt_9 in this workspace\. Check the ID mapped into this step/,
  },
  { name: 'a body over 256 KiB', reply: answer(413, 'payload_too_large'), error: 'AppError', says: MESSAGES.tooLarge },
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
    name: 'storage unavailable, with Retry-After',
    reply: {
      ...answer(503, 'storage_unavailable', 'Storage is unavailable right now.'),
      headers: { 'Retry-After': '30' },
    },
    error: 'ThrottledError',
    says: /Zapier will retry\. Storage is unavailable right now\./,
    delay: 30,
  },
  {
    name: 'the workspace’s subscription cap',
    reply: answer(409, 'subscription_limit_reached', 'This workspace has reached its limit of active subscriptions.'),
    error: 'AppError',
    says: 'This workspace has reached its limit of active subscriptions.',
  },
  {
    name: 'a body nested too deep',
    reply: answer(400, 'body_too_deep', 'The JSON body is nested too deeply.'),
    error: 'AppError',
    says: 'The JSON body is nested too deeply.',
  },
  {
    name: 'a proxy’s HTML 503 with Retry-After',
    reply: {
      status: 503,
      body: '<html><body><h1>503 Service Unavailable</h1></body></html>',
      headers: { 'Retry-After': '120' },
    },
    error: 'ThrottledError',
    says: /HTTP 503: 503 Service Unavailable/,
    delay: 120,
  },
];

describe('IllumiChat’s errors, as Zapier shows them', () => {
  it.each(cases)('$name → $error', async ({ reply, error, says, delay }) => {
    api()
      .post('/v1/tickets')
      .reply(reply.status, reply.body as object, reply.headers);

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
      error: {
        code: 'insufficient_scope',
        message: 'Nope',
        requiredScope: 'chat:write',
        details: [{ path: 'a', message: 'b' }],
      },
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

  it('quotes a long non-JSON answer by whole words', () => {
    const page = `<html><body>${'Service temporarily unavailable, please retry '.repeat(10)}</body></html>`;
    const { message } = parseApiError(502, page, null);
    expect(message.length).toBeLessThanOrEqual('HTTP 502: '.length + 120);
    const text = 'Service temporarily unavailable, please retry '.repeat(10).trim();
    expect(cutAtWord(text, message.replace(/^HTTP 502: /, ''))).toBe(true);
    expect(message).toMatch(/(Service|temporarily|unavailable|please|retry)…$/);
  });

  it('survives an empty answer', () => {
    expect(parseApiError(502, '', undefined)).toMatchObject({
      code: 'http_502',
      message: 'HTTP 502 with no error body.',
    });
  });

  it('shortens a long message at a word, never inside one, and keeps the code whole', () => {
    const text = withCode('x'.repeat(400), { status: 422, code: 'validation_failed' });
    expect(text).toBe('… (IllumiChat 422 validation_failed)');
    const words = withCode('word '.repeat(80), { status: 422, code: 'validation_failed' });
    expect(words.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
    expect(words).toMatch(/^(word )*word… \(IllumiChat 422 validation_failed\)$/);
  });
});

describe('reading an answer that is not quite the API’s shape', () => {
  it.each([
    'null',
    '[]',
    '"Bad Gateway"',
    '42',
    '{"error": null}',
    '{"error": []}',
    '{"error": {"code": 7, "message": ""}}',
  ])('a body of %s still yields the status as code and the body as message', (content) => {
    expect(parseApiError(502, content, null)).toMatchObject({
      code: 'http_502',
      message: `HTTP 502: ${content}`,
      details: [],
    });
  });

  it('keeps only the details that are objects, and reads a missing path or message as empty', () => {
    const body = JSON.stringify({
      error: {
        code: 'validation_failed',
        message: 'Invalid.',
        details: [null, 'oops', ['a'], { message: 'Required' }, { path: 'email' }],
      },
    });
    expect(parseApiError(422, body, null).details).toEqual([
      { path: '', message: 'Required' },
      { path: 'email', message: '' },
    ]);
  });

  it('takes the required scope from the error, else from the top level, else from the message, else none', () => {
    const scopeOf = (body: unknown) => parseApiError(403, JSON.stringify(body), null).requiredScope;
    expect(scopeOf({ error: { code: 'insufficient_scope', message: 'No.' }, requiredScope: 'chat:write' })).toBe(
      'chat:write',
    );
    expect(
      scopeOf({ error: { code: 'insufficient_scope', message: 'This key lacks the contacts:write scope.' } }),
    ).toBe('contacts:write');
    expect(scopeOf({ error: { code: 'insufficient_scope', message: 'This key lacks a scope.' } })).toBeNull();
  });

  it('quotes an HTML page as its text: tags become spaces, runs of blanks one space', () => {
    const page = '<html>\n  <p>Bad</p><p>Gateway</p>\n\n\t<i>nginx</i>  1.25</html>';
    expect(parseApiError(502, page, null).message).toBe('HTTP 502: Bad Gateway nginx 1.25');
  });

  it('reads Retry-After as whole seconds, blanks around them allowed', () => {
    expect(parseApiError(429, '', '17').retryAfter).toBe(17);
    expect(parseApiError(429, '', ' 17 ').retryAfter).toBe(17);
    expect(parseApiError(429, '', '0').retryAfter).toBe(0);
  });

  it('reads Retry-After as an HTTP date on every day of the week', () => {
    for (let day = 1; day <= 7; day++) {
      const date = new Date(Date.now() + day * 86_400_000);
      const retryAfter = parseApiError(429, '', date.toUTCString()).retryAfter;
      expect({ date: date.toUTCString(), near: Math.abs(retryAfter! - day * 86_400) <= 2 }).toEqual({
        date: date.toUTCString(),
        near: true,
      });
    }
  });

  it('reads Retry-After in the obsolete HTTP-date forms, RFC 850 and asctime', () => {
    const until = (iso: string) => (Date.parse(iso) - Date.now()) / 1000;
    const rfc850 = parseApiError(429, '', 'Sunday, 06-Nov-33 08:49:37 GMT').retryAfter!;
    expect(Math.abs(rfc850 - until('2033-11-06T08:49:37Z'))).toBeLessThanOrEqual(2);
    // asctime has no zone; Date.parse reads it in the local one, so only the day is certain.
    const asctime = parseApiError(429, '', 'Sun Nov  6 08:49:37 2033').retryAfter!;
    expect(Math.abs(asctime - until('2033-11-06T08:49:37Z'))).toBeLessThanOrEqual(86_400);
  });

  it('counts a Retry-After date already past as 0 seconds', () => {
    expect(parseApiError(503, '', new Date(Date.now() - 60_000).toUTCString()).retryAfter).toBe(0);
  });

  // RFC 9110 §10.2.3: delay-seconds (digits only) or an HTTP-date. Anything else is ignored, so the step waits the
  // default, never 0 s: Date.parse alone takes "-5", "1.5" or "Sun 12" as a date long past, which read as "retry now".
  it.each([
    '120abc',
    'abc120',
    '1.5',
    '-5',
    '+10',
    '10 seconds',
    'Foo 12',
    'Sun 12',
    'x Sun 12',
    'Sunday 12',
    'x Sun, 06 Nov 2033 08:49:37 GMT',
    'soon',
    '',
  ])('ignores a Retry-After of %j, which is neither seconds nor an HTTP date', (header) => {
    expect(parseApiError(429, '', header).retryAfter).toBeNull();
    const apiError = parseApiError(
      429,
      JSON.stringify({ error: { code: 'rate_limited', message: 'Slow down.' } }),
      header,
    );
    expect(errorText(toZapierError(zapierErrors, apiError)).delay).toBe(DEFAULT_RETRY_SECONDS);
  });
});

describe('a code the table does not list', () => {
  const unknown = (status: number, message = 'The API says no.') =>
    parseApiError(status, JSON.stringify({ error: { code: 'brand_new_code', message } }), null);

  it.each([
    [401, 'ExpiredAuthError'],
    [400, 'Error'],
    [404, 'Error'],
    [428, 'Error'],
    [499, 'Error'],
    [429, 'ThrottledError'],
    [500, 'ThrottledError'],
    [503, 'ThrottledError'],
  ] as const)('at %i is %s', (status, errorClass) => {
    expect(errorClassOf({ status, code: 'brand_new_code' })).toBe(errorClass);
  });

  it('at 401 says what the API said, then to reconnect', () => {
    expect(messageText(unknown(401, 'This key has expired.'))).toBe(
      'This key has expired. Reconnect your IllumiChat account with a key from Settings → API Keys.',
    );
  });

  it('at another 4xx is the API’s own words, unchanged', () => {
    for (const status of [400, 404, 409, 422, 499]) expect(messageText(unknown(status))).toBe('The API says no.');
  });

  it('at 429 and 5xx says Zapier will try again', () => {
    expect(messageText(unknown(429))).toBe("IllumiChat's rate limit for this API key was reached: The API says no.");
    expect(messageText(unknown(500))).toBe(
      'IllumiChat could not complete the request right now; Zapier will retry. The API says no.',
    );
  });
});

describe('message text', () => {
  it('a validation failure without details quotes the API’s message, without doubling its full stop', () => {
    const apiError = parseApiError(
      422,
      JSON.stringify({ error: { code: 'validation_failed', message: 'The request is not valid. See details.' } }),
      null,
    );
    expect(messageText(apiError)).toBe(
      'IllumiChat rejected a value in this step: The request is not valid. See details. Check the fields mapped here.',
    );
  });

  it('a validation detail without a path is its message alone', () => {
    const body = {
      error: {
        code: 'validation_failed',
        message: 'x',
        details: [{ message: 'Body is empty' }, { path: 'email', message: 'Invalid' }],
      },
    };
    expect(messageText(parseApiError(422, JSON.stringify(body), null))).toBe(
      'IllumiChat rejected a value in this step (Body is empty; email: Invalid). Check the fields mapped here.',
    );
  });

  it('a scope no step of this app uses is named without saying which steps need it', () => {
    expect(scopeMessage('files:read')).toBe(
      'This API key lacks the files:read scope. Create a key with it under Settings → API Keys and reconnect.',
    );
  });

  it('withCode drops blanks around the text before adding the code', () => {
    expect(withCode('  Check the key. \n', { status: 401, code: 'api_key_invalid' })).toBe(
      'Check the key. (IllumiChat 401 api_key_invalid)',
    );
  });
});

describe('fitWords', () => {
  it('keeps a text that fits exactly as it is, blanks and all', () => {
    expect(fitWords('Exactly twenty chars', 20)).toBe('Exactly twenty chars');
    expect(fitWords('One.  Two.', 10)).toBe('One.  Two.');
  });

  it('keeps as many leading whole sentences as fit, joined by one space', () => {
    const text = 'First sentence. Second one!  Third? Fourth.';
    expect(fitWords(text, 34)).toBe('First sentence. Second one! Third?');
    expect(fitWords(text, 33)).toBe('First sentence. Second one!');
    expect(fitWords(text, 15)).toBe('First sentence.');
  });

  it('cuts a first sentence too long at the last whole word that fits, without trailing punctuation', () => {
    expect(fitWords('alpha beta,; gamma delta epsilon', 13)).toBe('alpha beta…');
    expect(fitWords('Word one,  two', 10)).toBe('Word one…');
    expect(fitWords('alpha beta,; gamma delta epsilon', 19)).toBe('alpha beta,; gamma…');
  });
});

/** A message's text before ` (IllumiChat <status> <code>)`. */
const bodyOf = (message: string) => message.replace(/ \(IllumiChat \d{3} [\w]+\)$/, '');

/** True when `shown` is `full`, or `full` cut only where a word or a sentence ends (then with `…` unless a whole sentence). */
function cutAtWord(full: string, shown: string): boolean {
  if (shown === full) return true;
  const kept = shown.endsWith('…') ? shown.slice(0, -1) : shown;
  return (
    full.startsWith(kept) && /^[\s,;:]/.test(full.slice(kept.length)) && (shown.endsWith('…') || /[.!?]$/.test(kept))
  );
}

describe('no message is cut inside a word', () => {
  /** Long API messages of many word lengths, so every cut position is tried. */
  const longMessages = Array.from(
    { length: 40 },
    (_, i) =>
      Array.from({ length: 60 }, (_, w) => 'abcdefghijklmnopqrstuvwxyz'.slice(0, 1 + ((w * 7 + i) % 13))).join(' ') +
      '.',
  );

  it.each(Object.entries(API_ERROR_CLASSES))('%s, however long the API’s words', (code, { status }) => {
    for (const message of longMessages) {
      const apiError = parseApiError(status, JSON.stringify({ error: { code, message } }), null);
      const thrown = errorText(toZapierError(zapierErrors, apiError));
      expect(thrown.message.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
      expect(thrown.message.endsWith(`(IllumiChat ${status} ${code})`)).toBe(true);
      const body = bodyOf(thrown.message);
      // The whole text the builder would have read, had Zapier no limit: the same mapping with room to spare.
      const full = messageText(apiError);
      expect({ code, body, ok: cutAtWord(full, body) }).toEqual({ code, body, ok: true });
    }
  });

  it.each(Object.keys(SCOPES))(
    'the refusal of a key lacking %s is whole: what to do, then which steps need it where Zapier leaves room',
    (scope) => {
      const apiError = parseApiError(
        403,
        JSON.stringify({ error: { code: 'insufficient_scope', message: 'x', requiredScope: scope } }),
        null,
      );
      const { message } = errorText(toZapierError(zapierErrors, apiError));
      const suffix = ' (IllumiChat 403 insufficient_scope)';
      const whole = `${scopeMessage(scope)}${suffix}`;
      const needs = ` It is needed for ${SCOPES[scope as keyof typeof SCOPES]}.`;
      // The list of steps is the last sentence: it is dropped whole when the message would pass Zapier's limit
      // (the help text and Settings → API Keys show it in full), never cut, and what to do always stays.
      expect(message).toBe(whole.length <= MAX_MESSAGE_LENGTH ? whole : whole.replace(needs, ''));
      expect(message).toContain(
        `This API key lacks the ${scope} scope. Create a key with it under Settings → API Keys`,
      );
      expect(message).not.toContain('…');
    },
  );

  it('names the steps in the refusal for the scopes whose list fits', () => {
    for (const scope of ['events:read', 'tickets:write', 'chat:write'] as const) {
      const apiError = parseApiError(
        403,
        JSON.stringify({ error: { code: 'insufficient_scope', message: 'x', requiredScope: scope } }),
        null,
      );
      expect(errorText(toZapierError(zapierErrors, apiError)).message).toContain(SCOPES[scope]);
    }
  });

  it('tells a key without events:read that the connection test needs it', () => {
    expect(scopeMessage('events:read')).toContain('the connection test');
  });
});

describe('the error table', () => {
  const partnerApi = join(__dirname, '..', '..', 'partner-api');
  /** Codes the parallel branches add (notes/contracts.md), so the app maps them before they ship. */
  const CONTRACT_CODES: [number, string][] = [
    [409, 'subscription_limit_reached'],
    [503, 'storage_unavailable'],
    [400, 'body_too_deep'],
  ];

  function apiErrorCodes(): [number, string][] {
    const found: [number, string][] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.ts')) {
          for (const m of readFileSync(path, 'utf8').matchAll(/new ApiError\(\s*(\d{3}),\s*'([a-z_]+)'/g))
            found.push([Number(at(m, 1)), at(m, 2)]);
        }
      }
    };
    walk(partnerApi);
    return found;
  }

  it('maps every code the partner API answers with, at its status', () => {
    const codes = [...apiErrorCodes(), ...CONTRACT_CODES];
    expect(codes.length).toBeGreaterThan(20);
    for (const [status, code] of codes) {
      expect({ code, status: (API_ERROR_CLASSES as Record<string, { status: number }>)[code]?.status }).toEqual({
        code,
        status,
      });
    }
  });

  it('gives each code the class the table names', () => {
    for (const [code, { status, errorClass }] of Object.entries(API_ERROR_CLASSES)) {
      const thrown = toZapierError(
        zapierErrors,
        parseApiError(status, JSON.stringify({ error: { code, message: 'm.' } }), null),
      );
      const name = errorClass === 'Error' ? 'AppError' : errorClass;
      expect({ code, name: thrown.name }).toEqual({ code, name });
    }
  });

  it('halts no API error: a misconfigured Zap must error, so its owner hears of it', () => {
    expect(Object.entries(API_ERROR_CLASSES).filter(([, row]) => (row.errorClass as string) === 'HaltedError')).toEqual(
      [],
    );
  });

  it('is the table docs/zapier-app.md shows, row for row', () => {
    const docs = readFileSync(join(__dirname, '..', '..', 'docs', 'zapier-app.md'), 'utf8');
    const rows = [...docs.matchAll(/^\| (\d{3}) `([a-z_]+)` \| (\w+)/gm)].map((m) => [m[2], Number(m[1]), m[3]]);
    const table = Object.entries(API_ERROR_CLASSES).map(([code, { status, errorClass }]) => [code, status, errorClass]);
    expect(rows.sort()).toEqual(table.sort());
  });
});

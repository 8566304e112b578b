import { loadConfig } from '../../partner-api/config';
import { judge, parseRetryAfter, retryDelayMs } from '../../partner-api/delivery/policy';
import type { SendResult } from '../../partner-api/delivery/send';

const settings = loadConfig({}).delivery;
const NOW = 1_800_000_000_000;
const response = (status: number, extra: Partial<Extract<SendResult, { kind: 'response' }>> = {}): SendResult => ({
  kind: 'response',
  status,
  retryAfter: undefined,
  location: undefined,
  body: '',
  durationMs: 5,
  ...extra,
});
const networkError = (flags: { refused?: boolean; timedOut?: boolean; aborted?: boolean } = {}): SendResult => ({
  kind: 'error',
  error: 'boom',
  refused: false,
  timedOut: false,
  aborted: false,
  durationMs: 5,
  ...flags,
});
const noJitter = () => 0.5;

describe('what an attempt result means', () => {
  it.each([200, 201, 202, 204, 299])('%i succeeds', (status) => {
    expect(judge(response(status), 1, settings, NOW)).toEqual({
      outcome: 'succeeded',
      next: { status: 'succeeded' },
      failure: false,
      error: null,
    });
  });

  it.each([100, 199, 300, 304, 399])('%i, outside 2xx, is not delivered: retried and counted as failing', (status) => {
    expect(judge(response(status), 1, settings, NOW, noJitter)).toMatchObject({
      outcome: 'retry',
      next: { status: 'pending', atMs: NOW + 5_000 },
      failure: true,
    });
  });

  it('410 ends the subscription, whatever the attempt, and counts as the receiver’s doing', () => {
    expect(judge(response(410), 3, settings, NOW, noJitter)).toEqual({
      outcome: 'gone',
      next: { status: 'gone' },
      failure: true,
      error: '410 Gone: the receiver ended this subscription',
    });
  });

  it('says in the error what the receiver answered, naming a redirect’s target', () => {
    const errorFor = (status: number, location?: string) =>
      judge(response(status, { location }), 1, settings, NOW, noJitter).error;
    expect(errorFor(301, 'https://elsewhere.example/hook')).toBe(
      '301 redirect to https://elsewhere.example/hook (redirects are not followed)',
    );
    expect(errorFor(300)).toBe('300 redirect (redirects are not followed)');
    expect(errorFor(399)).toBe('399 redirect (redirects are not followed)');
    expect(errorFor(299)).toBeNull();
    expect(errorFor(199)).toBe('199 response');
    expect(errorFor(400)).toBe('400 response');
    expect(errorFor(503)).toBe('503 response');
  });

  it.each([301, 302, 307, 308, 400, 401, 404, 409, 422, 429, 500, 502, 503, 504])(
    '%i is retried on the schedule and counts as failing',
    (status) => {
      expect(judge(response(status), 1, settings, NOW, noJitter)).toMatchObject({
        outcome: 'retry',
        next: { status: 'pending', atMs: NOW + 5_000 },
        failure: true,
      });
    },
  );

  it('network errors, timeouts and refused targets are retried; refused ones say so', () => {
    expect(judge(networkError(), 2, settings, NOW, noJitter)).toMatchObject({
      outcome: 'retry',
      next: { atMs: NOW + 300_000 },
    });
    expect(judge(networkError({ timedOut: true }), 1, settings, NOW, noJitter)).toMatchObject({ outcome: 'retry' });
    expect(judge(networkError({ refused: true }), 1, settings, NOW, noJitter)).toMatchObject({
      outcome: 'refused',
      next: { status: 'pending' },
      failure: true,
    });
  });

  it('an attempt cut off by the worker stopping is due again at once and is not the receiver’s failure', () => {
    expect(judge(networkError({ aborted: true }), 4, settings, NOW)).toMatchObject({
      outcome: 'retry',
      next: { status: 'pending', atMs: NOW },
      failure: false,
    });
  });

  it('gives up after the last scheduled retry', () => {
    const last = settings.retryScheduleMs.length + 1;
    expect(judge(response(500), last, settings, NOW)).toEqual({
      outcome: 'failed',
      next: { status: 'failed' },
      failure: true,
      error: '500 response',
    });
    expect(judge(networkError({ refused: true }), last, settings, NOW)).toEqual({
      outcome: 'refused',
      next: { status: 'failed' },
      failure: true,
      error: 'boom',
    });
  });

  it('does not honour Retry-After on a plain 4xx', () => {
    expect(judge(response(404, { retryAfter: '600' }), 1, settings, NOW, noJitter)).toMatchObject({
      next: { atMs: NOW + 5_000 },
    });
    expect(judge(response(503, { retryAfter: '600' }), 1, settings, NOW, noJitter)).toMatchObject({
      next: { atMs: NOW + 600_000 },
    });
  });

  it.each([429, 500, 502, 503, 599])('honours Retry-After on %i', (status) => {
    expect(judge(response(status, { retryAfter: '600' }), 1, settings, NOW, noJitter)).toMatchObject({
      next: { atMs: NOW + 600_000 },
    });
  });

  it.each(['120abc', '12 0', '1e3', '120.5', '-120', 'soon', 'Soon 5', ''])(
    'keeps to the schedule when Retry-After is %j, which is not a delay',
    (retryAfter) => {
      expect(judge(response(503, { retryAfter }), 1, settings, NOW, noJitter)).toMatchObject({
        next: { status: 'pending', atMs: NOW + 5_000 },
      });
    },
  );
});

describe('retry delays', () => {
  it('stay within ±20% of each scheduled delay', () => {
    settings.retryScheduleMs.forEach((planned, i) => {
      expect(retryDelayMs(i + 1, settings, () => 0)).toBe(Math.round(planned * 0.8));
      expect(retryDelayMs(i + 1, settings, () => 0.999999)).toBeLessThanOrEqual(planned * 1.2);
      expect(retryDelayMs(i + 1, settings, () => 0.999999)).toBeGreaterThan(planned * 1.19);
    });
    expect(retryDelayMs(settings.retryScheduleMs.length + 1, settings, () => 0.5)).toBeNull();
  });

  it('stretch to a Retry-After within [the scheduled delay, retryAfterMaxMs]', () => {
    expect(retryDelayMs(1, settings, noJitter, 60_000)).toBe(60_000);
    expect(retryDelayMs(1, settings, noJitter, 1_000)).toBe(5_000);
    expect(retryDelayMs(1, settings, noJitter, 10 * 3_600_000)).toBe(3_600_000);
    expect(retryDelayMs(7, settings, noJitter, 60_000)).toBe(36_000_000); // the schedule is never shortened
  });

  it('ignore a Retry-After that is not a number (never a NaN retry time) and cap an endless one', () => {
    expect(retryDelayMs(1, settings, noJitter, Number.NaN)).toBe(5_000);
    expect(retryDelayMs(1, settings, noJitter, Number.POSITIVE_INFINITY)).toBe(3_600_000);
    expect(judge(response(503, { retryAfter: '9'.repeat(400) }), 1, settings, NOW, noJitter)).toMatchObject({
      next: { atMs: NOW + 3_600_000 },
    });
  });

  it('read Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', NOW)).toBe(0);
    expect(parseRetryAfter(new Date(NOW + 90_000).toUTCString(), NOW)).toBe(90_000);
    expect(parseRetryAfter(new Date(NOW - 90_000).toUTCString(), NOW)).toBe(0);
    expect(parseRetryAfter('-5', NOW)).toBeUndefined();
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
    // Only whole seconds or an HTTP date, never a prefix of one: "120abc" would otherwise be NaN.
    expect(parseRetryAfter('120abc', NOW)).toBeUndefined();
    expect(parseRetryAfter('abc120', NOW)).toBeUndefined();
    expect(parseRetryAfter('1e3', NOW)).toBeUndefined();
    // An HTTP date starts with the day's name (RFC 9110 §5.6.7); Date.parse alone takes far looser text.
    expect(parseRetryAfter('1 Jan 2030 00:00:00 GMT', NOW)).toBeUndefined();
    expect(parseRetryAfter('Mo, 01 Jan 2030 00:00:00 GMT', NOW)).toBeUndefined();
    expect(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', 784_111_777_000 - 5_000)).toBe(5_000);
    expect(parseRetryAfter('Sun Nov  6 08:49:37 1994', 784_111_777_000 - 5_000)).toBe(5_000);
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
  });
});

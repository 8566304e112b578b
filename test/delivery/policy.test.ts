import { loadConfig } from '../../partner-api/config';
import { judge, parseRetryAfter, retryDelayMs } from '../../partner-api/delivery/policy';
import type { SendResult } from '../../partner-api/delivery/send';

const settings = loadConfig({}).delivery;
const NOW = 1_800_000_000_000;
const response = (status: number, extra: Partial<Extract<SendResult, { kind: 'response' }>> = {}): SendResult => ({
  kind: 'response', status, retryAfter: undefined, location: undefined, body: '', durationMs: 5, ...extra,
});
const networkError = (flags: { refused?: boolean; timedOut?: boolean; aborted?: boolean } = {}): SendResult => ({
  kind: 'error', error: 'boom', refused: false, timedOut: false, aborted: false, durationMs: 5, ...flags,
});
const noJitter = () => 0.5;

describe('what an attempt result means', () => {
  it.each([200, 201, 202, 204, 299])('%i succeeds', (status) => {
    expect(judge(response(status), 1, settings, NOW)).toEqual({ outcome: 'succeeded', next: { status: 'succeeded' }, failure: false, error: null });
  });

  it('410 ends the subscription, whatever the attempt', () => {
    expect(judge(response(410), 3, settings, NOW, noJitter)).toMatchObject({ outcome: 'gone', next: { status: 'gone' } });
  });

  it.each([301, 302, 307, 308, 400, 401, 404, 409, 422, 429, 500, 502, 503, 504])('%i is retried on the schedule and counts as failing', (status) => {
    expect(judge(response(status), 1, settings, NOW, noJitter)).toMatchObject({
      outcome: 'retry', next: { status: 'pending', atMs: NOW + 5_000 }, failure: true,
    });
  });

  it('network errors, timeouts and refused targets are retried; refused ones say so', () => {
    expect(judge(networkError(), 2, settings, NOW, noJitter)).toMatchObject({ outcome: 'retry', next: { atMs: NOW + 300_000 } });
    expect(judge(networkError({ timedOut: true }), 1, settings, NOW, noJitter)).toMatchObject({ outcome: 'retry' });
    expect(judge(networkError({ refused: true }), 1, settings, NOW, noJitter)).toMatchObject({ outcome: 'refused', next: { status: 'pending' }, failure: true });
  });

  it('an attempt cut off by the worker stopping is due again at once and is not the receiver’s failure', () => {
    expect(judge(networkError({ aborted: true }), 4, settings, NOW)).toMatchObject({ outcome: 'retry', next: { status: 'pending', atMs: NOW }, failure: false });
  });

  it('gives up after the last scheduled retry', () => {
    const last = settings.retryScheduleMs.length + 1;
    expect(judge(response(500), last, settings, NOW)).toMatchObject({ outcome: 'failed', next: { status: 'failed' }, error: '500 response' });
    expect(judge(networkError({ refused: true }), last, settings, NOW)).toMatchObject({ outcome: 'refused', next: { status: 'failed' } });
  });

  it('does not honour Retry-After on a plain 4xx', () => {
    expect(judge(response(404, { retryAfter: '600' }), 1, settings, NOW, noJitter)).toMatchObject({ next: { atMs: NOW + 5_000 } });
    expect(judge(response(503, { retryAfter: '600' }), 1, settings, NOW, noJitter)).toMatchObject({ next: { atMs: NOW + 600_000 } });
  });
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

  it('read Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', NOW)).toBe(0);
    expect(parseRetryAfter(new Date(NOW + 90_000).toUTCString(), NOW)).toBe(90_000);
    expect(parseRetryAfter(new Date(NOW - 90_000).toUTCString(), NOW)).toBe(0);
    expect(parseRetryAfter('-5', NOW)).toBeUndefined();
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
  });
});

/**
 * What an attempt's result means for the delivery: done, retried later (when), given up, or the
 * subscription gone. Pure functions of the result, the attempt number and the settings, so the rules can be
 * read (and tested) in one place. docs/delivery.md states them for subscribers.
 */
import type { Config } from '../config';
import type { SendResult } from './send';

export type AttemptOutcome = 'succeeded' | 'retry' | 'gone' | 'failed' | 'refused';

export interface Verdict {
  /** What delivery_attempts.outcome records for this attempt. */
  outcome: AttemptOutcome;
  /** What becomes of the delivery. */
  next: { status: 'succeeded' } | { status: 'failed' } | { status: 'gone' } | { status: 'pending'; atMs: number };
  /** Counts toward disabling a subscription that keeps failing. A worker shutting down is not the receiver's fault. */
  failure: boolean;
  /** Plain words for delivery_attempts.error and deliveries.last_error; null on success. */
  error: string | null;
}

type Schedule = Pick<Config['delivery'], 'retryScheduleMs' | 'jitter' | 'retryAfterMaxMs'>;

export function judge(
  result: SendResult,
  attempt: number,
  settings: Schedule,
  nowMs: number,
  random: () => number = Math.random,
): Verdict {
  if (result.kind === 'error') {
    if (result.aborted)
      return { outcome: 'retry', next: { status: 'pending', atMs: nowMs }, failure: false, error: result.error };
    return retryOrFail(result.refused ? 'refused' : 'retry', result.error, attempt, settings, nowMs, random);
  }
  const status = result.status;
  if (status >= 200 && status < 300)
    return { outcome: 'succeeded', next: { status: 'succeeded' }, failure: false, error: null };
  if (status === 410) {
    return {
      outcome: 'gone',
      next: { status: 'gone' },
      failure: true,
      error: '410 Gone: the receiver ended this subscription',
    };
  }
  const error =
    status >= 300 && status < 400
      ? `${status} redirect${result.location ? ` to ${result.location}` : ''} (redirects are not followed)`
      : `${status} response`;
  const honoursRetryAfter = status === 429 || status >= 500;
  const retryAfterMs = honoursRetryAfter ? parseRetryAfter(result.retryAfter, nowMs) : undefined;
  return retryOrFail('retry', error, attempt, settings, nowMs, random, retryAfterMs);
}

function retryOrFail(
  outcome: 'retry' | 'refused',
  error: string,
  attempt: number,
  settings: Schedule,
  nowMs: number,
  random: () => number,
  retryAfterMs?: number,
): Verdict {
  const delay = retryDelayMs(attempt, settings, random, retryAfterMs);
  if (delay === null)
    return { outcome: outcome === 'refused' ? 'refused' : 'failed', next: { status: 'failed' }, failure: true, error };
  return { outcome, next: { status: 'pending', atMs: nowMs + delay }, failure: true, error };
}

/**
 * The wait after failed attempt `attempt` (1-based): the schedule's entry ± jitter, stretched to a
 * Retry-After the receiver asked for (ms; NaN is ignored) but never beyond retryAfterMaxMs. null when the
 * schedule is used up.
 */
export function retryDelayMs(
  attempt: number,
  settings: Schedule,
  random: () => number,
  retryAfterMs?: number,
): number | null {
  const base = settings.retryScheduleMs[attempt - 1];
  if (base === undefined) return null;
  const jittered = Math.round(base * (1 + settings.jitter * (2 * random() - 1)));
  // NaN would become the delivery's next attempt time, so the delivery would never be due again.
  if (retryAfterMs === undefined || Number.isNaN(retryAfterMs)) return jittered;
  return Math.max(jittered, Math.min(retryAfterMs, settings.retryAfterMaxMs));
}

/** Retry-After as delta-seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // Every HTTP date format starts with the day's name; Date.parse alone would take "-5" as a year.
  if (!/^[A-Za-z]{3}/.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

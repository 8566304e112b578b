/**
 * The test fakes every suite shares, in one place: a clock the test moves, a logger that keeps its lines,
 * and the list of the database's tables. Build an AppContext with partner-api/context.ts createAppContext,
 * handing it these.
 */
import type { Clock } from '../../partner-api/lib/clock';
import type { Logger } from '../../partner-api/lib/log';

export interface TestClock extends Clock {
  set(ms: number): void;
  advance(ms: number): void;
}

/** Where a test clock starts unless told otherwise: a fixed instant, so times in answers are predictable. */
export const TEST_EPOCH_MS = Date.parse('2026-01-15T09:00:00.000Z');

/**
 * A clock that only moves when told to (idempotency expiry, rate limits, retry schedules). Give it
 * `Date.now()` when something outside the process compares its times with the real ones (signed deliveries).
 */
export function testClock(startMs = TEST_EPOCH_MS): TestClock {
  let current = startMs;
  return {
    now: () => current,
    set: (ms) => {
      current = ms;
    },
    advance: (ms) => {
      current += ms;
    },
  };
}

/** One line the API logged, as a capturing logger keeps it. */
export interface LogLine {
  level: 'info' | 'error';
  message: string;
  fields?: Record<string, unknown> | undefined;
}

/** A logger that prints nothing and keeps every line in `lines`, in order, for a test to assert on. */
export function capturingLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    log: {
      info: (message, fields) => void lines.push({ level: 'info', message, fields }),
      error: (message, fields) => void lines.push({ level: 'error', message, fields }),
    },
  };
}

/** Every table the migrations create (partner-api/db/migrations), for tests that prove a request changed nothing. */
export const TABLES = [
  'workspaces',
  'assistants',
  'agents',
  'api_keys',
  'contacts',
  'conversations',
  'messages',
  'live_chat_sessions',
  'tickets',
  'ticket_counters',
  'events',
  'subscriptions',
  'deliveries',
  'delivery_attempts',
  'idempotency_keys',
  'sign_in_links',
  'sessions',
  'record_tags',
  'contact_notes',
  'contact_attributes',
] as const;

export type Table = (typeof TABLES)[number];

/** Runs `make(i)` for i = 0…n-1 one after another (each may write), and resolves to the results in order. */
export async function times<T>(n: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(await make(i));
  return out;
}

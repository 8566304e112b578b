/**
 * The open-loop paced sender and the send-to-arrival clock (issue 12 §4). Send n of a phase is due at
 * `start + n / rate`, whatever the API answered before: a slow API makes requests wait (in the client's
 * bounded connection pool or in the server's accept queue) and that wait is counted, because every latency
 * starts at the send's *scheduled* time, not when the request left. The sender wakes every millisecond and
 * sends what is due, so at 1,000 events/s sends go out one or two at a time rather than in 10 ms bursts.
 * Deliveries are matched to sends by the number in the visitor id (`bench-<n>`), read by the receiver
 * process (servers/receiver.ts) on the same machine clock.
 */
import http from 'node:http';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

import type { ArrivalRow } from './servers/receiver';

/** Epoch ms with sub-millisecond precision; the receiver process stamps arrivals on the same clock. */
export const epochMs = () => performance.timeOrigin + performance.now();

// A bounded pool of keep-alive connections, as a real widget fleet behind a load balancer would present.
// FIFO reuse keeps every pooled socket busy, so none sits idle into the server's keep-alive timeout and
// races its close (an ECONNRESET on a reused socket).
export const agent = new http.Agent({ keepAlive: true, maxSockets: 32, scheduling: 'fifo' });

/** Send numbers are unique over the whole run, so a late delivery cannot be taken for another phase's. */
let nextSend = 0;

export interface PacedRun {
  /** Scheduled send time (epoch ms) by send number. */
  scheduled: Map<number, number>;
  /** Scheduled send → answer, ms, per request in the order answered. */
  answerMs: number[];
  /** The same by the phase's send index i (the argument of `url(i)`); NaN for a failed request. */
  answerByIndex: number[];
  failures: number;
}

/**
 * Starts a widget conversation (one event) at `url(i)` every 1/rate s for `seconds`, open loop, and
 * resolves once every request has been answered. The schedule starts at `startAtMs` (epoch ms, default
 * now): consecutive windows of one long run pass start + k × seconds, so a window that ends late does not
 * move the next one's schedule, and the next one's sends count from when they were due.
 */
export async function pacedConversations(
  url: (i: number) => string,
  eventsPerSecond: number,
  seconds: number,
  startAtMs = epochMs(),
): Promise<PacedRun> {
  const run: PacedRun = { scheduled: new Map(), answerMs: [], answerByIndex: [], failures: 0 };
  const total = Math.round(eventsPerSecond * seconds);
  const began = startAtMs;
  const requests: Promise<void>[] = [];
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((epochMs() - began) * eventsPerSecond) / 1000) + 1);
    for (; sent < due; sent++) {
      const at = began + (sent * 1000) / eventsPerSecond;
      const n = nextSend++;
      const i = sent;
      run.scheduled.set(n, at);
      run.answerByIndex[i] = NaN;
      requests.push(
        startConversation(url(i), n).then(
          () => {
            const ms = epochMs() - at;
            run.answerMs.push(ms);
            run.answerByIndex[i] = ms;
          },
          () => void (run.failures += 1),
        ),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(requests);
  return run;
}

/** POST …/conversations with visitor id `bench-<n>`; resolves on 201, rejects otherwise. */
export function startConversation(url: string, n: number): Promise<void> {
  const body = JSON.stringify({ message: `Hello from visitor ${n}`, visitor_id: `bench-${n}` });
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          res.statusCode === 201
            ? resolve()
            : reject(
                new Error(`starting a conversation answered ${res.statusCode}: ${Buffer.concat(chunks).toString()}`),
              ),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The receiver process seen from the bench. */
export interface ReceiverClient {
  url: string;
  /** Arrivals since the last call (the receiver forgets them once handed over). */
  take(): Promise<ArrivalRow[]>;
  /** Distinct (path, webhook-id) pairs arrived since the receiver started. */
  count(): Promise<number>;
  /** Arrivals since the receiver started that repeated a (path, webhook-id) pair already seen. */
  duplicates(): Promise<number>;
  /** Waits until count() reaches `target` or `timeoutMs` passes; returns the count. */
  waitFor(target: number, timeoutMs: number): Promise<number>;
}

export function receiverClient(url: string): ReceiverClient {
  const get = async (p: string) => (await fetch(url + p)).text();
  const client: ReceiverClient = {
    url,
    take: async () => JSON.parse(await get('/_arrivals')) as ArrivalRow[],
    count: async () => Number(await get('/_count')),
    duplicates: async () => Number(await get('/_duplicates')),
    async waitFor(target, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let n = await client.count();
      while (n < target && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        n = await client.count();
      }
      return n;
    },
  };
  return client;
}

export interface Latencies {
  deliveries: number;
  /** Scheduled send → arrival at the receiver, ms. */
  sendToArrival: Summary;
  /** The event's createdAt (its commit) → arrival, ms: the figure the bench published before. */
  commitToArrival: Summary;
}

export interface Summary {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? NaN,
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? NaN;
}

/** Both clocks for the arrivals that belong to `scheduled`'s sends. */
export function latencies(arrivals: ArrivalRow[], scheduled: Map<number, number>): Latencies {
  const send: number[] = [];
  const commit: number[] = [];
  for (const [n, arrivedMs, createdAtMs] of arrivals) {
    const at = scheduled.get(n);
    if (at === undefined) continue;
    send.push(arrivedMs - at);
    commit.push(arrivedMs - createdAtMs);
  }
  return { deliveries: send.length, sendToArrival: summarize(send), commitToArrival: summarize(commit) };
}

/** A figure for the report: thousands separated, `digits` decimals. */
export const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** A target's verdict in the report's last column. */
export const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');

/** The host's 1-minute load average, printed beside each figure (the host is shared). */
export function loadAverage(): number {
  const [oneMinute = NaN] = os.loadavg();
  return Math.round(oneMinute * 10) / 10;
}

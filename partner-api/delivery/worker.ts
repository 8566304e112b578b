/**
 * The delivery worker: sends every pending delivery to its subscription, at least once.
 *
 * Fresh events wake it through ctx.signal (the outbox notifies after commit), so a delivery starts within
 * milliseconds; a slower poll picks up retries as they come due and rows left by a worker that stopped or
 * died. Claims come in batches inside one write transaction (claimer.ts); results are written in batches
 * too, one transaction per turn of the event loop, which keeps SQLite's per-commit cost off the hot path.
 * Concurrency is bounded overall and per subscription, so one slow or failing endpoint only ever holds a
 * few slots while the others keep flowing.
 */
import { performance } from 'node:perf_hooks';
import type { AppContext } from '../context';
import type { Resolve } from '../net/target-policy';
import { deactivateSubscriptions } from './outbox';
import { judge, type Verdict } from './policy';
import { createSender, RESPONSE_BODY_LIMIT, type SendResult } from './send';
import { signingKey } from './signing';
import { createClaimer } from './claimer';
import { deliveryStore, type ClaimedDelivery } from './store';

export interface DeliveryWorkerOptions {
  /** Name resolution for targets (tests make any hostname resolve anywhere). */
  resolve?: Resolve;
  /** The jitter's random source, in [0, 1). */
  random?: () => number;
  /** How long stop() waits for attempts in flight before cutting them off; default timeoutMs + 1 s. */
  stopTimeoutMs?: number;
}

export interface DeliveryWorker {
  /** Subscribes to the signal, starts the poll, and claims what is already due. */
  start(): void;
  /** Stops claiming, waits for attempts in flight (bounded), records them, and closes connections. */
  stop(): Promise<void>;
  /** Claims what is due now and waits until it and anything else in flight is sent and recorded. */
  runOnce(): Promise<number>;
  /** Resolves when nothing is in flight or waiting to be recorded. */
  idle(): Promise<void>;
  /** Attempts started and not yet recorded. */
  readonly inFlight: number;
}

/** How often the poll looks at every due row again rather than only at what is new or came due. */
const FULL_RESCAN_INTERVAL_MS = 30_000;

interface Completion {
  delivery: ClaimedDelivery;
  startedAtMs: number;
  result: SendResult;
}

export function createDeliveryWorker(ctx: AppContext, opts: DeliveryWorkerOptions = {}): DeliveryWorker {
  const settings = ctx.config.delivery;
  const store = deliveryStore(ctx.db);
  const claimer = createClaimer(ctx.db);
  const sender = createSender({
    timeoutMs: settings.timeoutMs,
    allowPrivate: ctx.config.allowPrivateTargets,
    resolve: opts.resolve,
  });
  const random = opts.random ?? Math.random;
  const leaseMs = settings.timeoutMs + settings.claimMarginMs;
  const keys = new Map<string, Buffer>();

  let inFlight = 0;
  const inFlightIds = new Set<string>();
  const inFlightBySubscription = new Map<string, number>();
  const aborts = new Set<AbortController>();
  let completions: Completion[] = [];
  let flushScheduled = false;
  let idleWaiters: (() => void)[] = [];
  let started = false;
  let stopping = false;
  let stopped: Promise<void> | null = null;
  let unsubscribe: (() => void) | null = null;
  let poll: NodeJS.Timeout | null = null;

  /** Claims as much due work as the free slots allow. Synchronous (better-sqlite3 is); may run inside the
   * transaction that records finished attempts, so one commit both frees slots and fills them again. */
  function claimDue(): ClaimedDelivery[] {
    const claimed: ClaimedDelivery[] = [];
    const claimedBySubscription = new Map<string, number>();
    for (;;) {
      const free = settings.concurrency - inFlight - claimed.length;
      if (free <= 0) break;
      const result = claimer.claim({
        nowMs: ctx.clock.now(),
        leaseMs,
        limit: free,
        capacityLeft: (id) =>
          settings.perSubscriptionConcurrency - (inFlightBySubscription.get(id) ?? 0) - (claimedBySubscription.get(id) ?? 0),
        inFlight: inFlightIds,
      });
      for (const delivery of result.claimed) {
        claimed.push(delivery);
        claimedBySubscription.set(delivery.subscriptionId, (claimedBySubscription.get(delivery.subscriptionId) ?? 0) + 1);
      }
      if (result.claimed.length + result.cancelled + result.dropped === 0) break;
    }
    return claimed;
  }

  /** Claims and starts what is due. */
  function pump(): number {
    if (stopping) return 0;
    let claimed: ClaimedDelivery[] = [];
    try {
      claimed = claimDue();
    } catch (err) {
      // Typically SQLITE_BUSY from another process holding the write lock past busy_timeout: the poll retries.
      ctx.log.error('delivery claim failed', { error: (err as Error).message });
      claimer.rescan();
    }
    for (const delivery of claimed) launch(delivery);
    return claimed.length;
  }

  function launch(delivery: ClaimedDelivery): void {
    inFlight += 1;
    inFlightIds.add(delivery.id);
    inFlightBySubscription.set(delivery.subscriptionId, (inFlightBySubscription.get(delivery.subscriptionId) ?? 0) + 1);
    const startedAtMs = ctx.clock.now();
    const abort = new AbortController();
    aborts.add(abort);
    const done = (result: SendResult) => {
      aborts.delete(abort);
      completions.push({ delivery, startedAtMs, result });
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    };
    Promise.resolve()
      .then(() =>
        sender.send(
          {
            url: delivery.targetUrl,
            eventId: delivery.eventId,
            eventType: delivery.eventType,
            body: Buffer.from(delivery.payload, 'utf8'),
            key: keyFor(delivery.secret),
            timestampSec: Math.floor(startedAtMs / 1000),
          },
          abort.signal,
        ),
      )
      // send() turns every HTTP failure into a result; this is for our own bugs, so a slot is never lost.
      .catch((err: Error): SendResult => ({
        kind: 'error',
        error: `internal error: ${err.message}`,
        refused: false,
        timedOut: false,
        aborted: false,
        durationMs: 0,
      }))
      .then(done);
  }

  function keyFor(secret: string): Buffer {
    let key = keys.get(secret);
    if (!key) {
      if (keys.size >= 10_000) keys.clear(); // a cache, not a registry of every subscription ever seen
      key = signingKey(secret);
      keys.set(secret, key);
    }
    return key;
  }

  /** Records every finished attempt and claims what the freed slots allow, in one transaction. */
  function flush(): void {
    flushScheduled = false;
    const batch = completions;
    completions = [];
    for (const { delivery } of batch) {
      inFlight -= 1;
      inFlightIds.delete(delivery.id);
      const left = (inFlightBySubscription.get(delivery.subscriptionId) ?? 1) - 1;
      if (left > 0) inFlightBySubscription.set(delivery.subscriptionId, left);
      else inFlightBySubscription.delete(delivery.subscriptionId);
    }
    let claimed: ClaimedDelivery[] = [];
    try {
      claimed = store.transaction(() => {
        for (const completion of batch) record(completion);
        return stopping ? [] : claimDue();
      });
    } catch (err) {
      // The rows stay claimed; their lease runs out and they are sent again. At least once still holds.
      ctx.log.error('recording delivery attempts failed', { error: (err as Error).message, attempts: batch.length });
      claimer.rescan(); // what it had taken off its queues was rolled back
    }
    for (const delivery of claimed) launch(delivery);
    if (isIdle()) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  function record({ delivery, startedAtMs, result }: Completion): void {
    const now = ctx.clock.now();
    const verdict = judge(result, delivery.attempt, settings, now, random);
    store.recordAttempt({
      delivery,
      startedAtMs,
      durationMs: result.durationMs,
      statusCode: result.kind === 'response' ? result.status : null,
      outcome: verdict.outcome,
      error: verdict.error,
      responseBody: result.kind === 'response' ? result.body.slice(0, RESPONSE_BODY_LIMIT) : null,
    });
    apply(delivery, verdict, now);
    if (verdict.outcome !== 'succeeded') {
      ctx.log.info('webhook attempt failed', {
        deliveryId: delivery.id,
        subscriptionId: delivery.subscriptionId,
        attempt: delivery.attempt,
        outcome: verdict.outcome,
        error: verdict.error,
        // The path of a Zapier hook URL works as a credential: log only where it went.
        origin: originOf(delivery.targetUrl),
      });
    }
  }

  function apply(delivery: ClaimedDelivery, verdict: Verdict, now: number): void {
    const next = verdict.next;
    switch (next.status) {
      case 'succeeded':
        store.succeed(delivery, now);
        store.noteSuccess(delivery.subscriptionId);
        return;
      case 'gone':
        store.fail(delivery, now, verdict.error ?? 'gone');
        store.noteFailure(delivery.subscriptionId, now, verdict.error); // so the workspace sees the 410
        deactivateSubscriptions(ctx, { subscriptionId: delivery.subscriptionId }, 'gone');
        ctx.log.info('webhook subscription deactivated', { subscriptionId: delivery.subscriptionId, reason: 'gone' });
        return;
      case 'failed':
        store.fail(delivery, now, verdict.error ?? 'failed');
        break;
      case 'pending':
        store.reschedule(delivery, next.atMs, verdict.error ?? '');
        break;
    }
    if (!verdict.failure) return;
    const failingSince = store.noteFailure(delivery.subscriptionId, now, verdict.error);
    if (failingSince !== null && now - failingSince >= settings.disableAfterFailingMs) {
      deactivateSubscriptions(ctx, { subscriptionId: delivery.subscriptionId }, 'failing');
      ctx.log.info('webhook subscription deactivated', {
        subscriptionId: delivery.subscriptionId,
        reason: 'failing',
        failingSinceMs: failingSince,
        lastError: verdict.error,
      });
    }
  }

  function isIdle(): boolean {
    return inFlight === 0 && completions.length === 0;
  }

  function idle(): Promise<void> {
    if (isIdle()) return Promise.resolve();
    return new Promise((resolve) => idleWaiters.push(resolve));
  }

  async function stopNow(): Promise<void> {
    stopping = true;
    unsubscribe?.();
    if (poll) clearInterval(poll);
    const bound = opts.stopTimeoutMs ?? settings.timeoutMs + 1000;
    let timer: NodeJS.Timeout | undefined;
    const outOfTime = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), bound)));
    if ((await Promise.race([idle(), outOfTime])) === 'late') {
      // Cut off what is still sending; each is recorded as a retry due now, not counted against the receiver.
      for (const abort of aborts) abort.abort();
      await idle();
    }
    clearTimeout(timer);
    sender.close();
  }

  return {
    start() {
      if (started || stopping) return;
      started = true;
      unsubscribe = ctx.signal.subscribe(() => pump());
      let lastRescan = performance.now();
      poll = setInterval(() => {
        // A safety net for rows written by other processes with other clocks; cheap unless a backlog is large.
        if (performance.now() - lastRescan >= FULL_RESCAN_INTERVAL_MS) {
          claimer.rescan();
          lastRescan = performance.now();
        }
        pump();
      }, settings.pollIntervalMs);
      poll.unref();
      pump();
    },
    stop() {
      stopped ??= stopNow();
      return stopped;
    },
    async runOnce() {
      claimer.rescan();
      const launched = pump();
      await idle();
      return launched;
    },
    idle,
    get inFlight() {
      return inFlight;
    },
  };
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'invalid URL';
  }
}

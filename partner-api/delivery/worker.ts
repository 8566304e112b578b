/**
 * The delivery worker: sends every pending delivery to its subscription, at least once.
 *
 * Fresh events wake it through ctx.signal (the outbox notifies after commit): its fan-out (fanout.ts) writes
 * their delivery rows, and it claims them as they are written, so a delivery starts within milliseconds; a
 * slower poll picks up retries as they come due and rows left by a worker that stopped or
 * died. Claims come in batches inside one write transaction (claimer.ts; on PostgreSQL pg-claimer.ts, with
 * wake-ups from other instances by LISTEN/NOTIFY, wake-ups.ts); results are written in batches too, one
 * transaction per turn of the event loop, which keeps SQLite's per-commit cost off the hot path (recording.ts,
 * which takes its row locks in one order so that instances recording at once never deadlock; on PostgreSQL
 * a batch of successes in a few set-based statements, pg-recording.ts).
 * Concurrency is bounded overall and per workspace, target host and subscription (slots.ts), so one
 * tenant's slow or failing endpoints only ever hold its own share while the others keep flowing. Right
 * before each send, in the same synchronous step, the worker checks that the subscription may still
 * receive (authority.ts): no attempt starts after its key's revocation or a plan change committed.
 */
import { performance } from 'node:perf_hooks';

import { type AppContext, inTransaction } from '../context';
import type { PgStore } from '../db/pg-store';
import type { Queryable } from '../db/store';
import { systemClock } from '../lib/clock';
import type { Resolve } from '../net/target-policy';
import { createAuthorityCheck, type Refusal } from './authority';
import { type Claimer, createClaimer } from './claimer';
import { createFanOutExpander } from './fanout';
import { pgRefusals } from './pg-authority';
import { createPgClaimer } from './pg-claimer';
import { type Completion, recordWorkerBatch, type Refused } from './recording';
import { createSender, type SendResult } from './send';
import { signingKey } from './signing';
import { createSlots, type SlotLimits } from './slots';
import type { ClaimedDelivery } from './store';
import { createWakeUps } from './wake-ups';

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
  /**
   * Writes every owed delivery row (fanout.ts), claims what is due now and waits until it and anything else
   * in flight is sent and recorded.
   */
  runOnce(): Promise<number>;
  /** Resolves when nothing is in flight or waiting to be recorded. */
  idle(): Promise<void>;
  /** Attempts started and not yet recorded. */
  readonly inFlight: number;
}

/**
 * The worker's writes (claims, launches, records) commit at once: each is a step on every delivery's way to
 * its receiver, and on SQLite waiting for the turn's group commit made each step wait a turn of the event
 * loop, several turns in all, each long at 1,000 events/s (db/store.ts `WriteOptions`).
 */
const URGENT = { urgent: true } as const;

/** How often the poll looks at every due row again rather than only at what is new or came due. */
const FULL_RESCAN_INTERVAL_MS = 30_000;

export function createDeliveryWorker(ctx: AppContext, opts: DeliveryWorkerOptions = {}): DeliveryWorker {
  const settings = ctx.config.delivery;
  const limits: SlotLimits = {
    overall: settings.concurrency,
    perWorkspace: settings.perWorkspaceConcurrency,
    perHost: settings.perHostConcurrency,
    perSubscription: settings.perSubscriptionConcurrency,
  };
  const claimer = claimerFor(ctx, limits);
  /**
   * On PostgreSQL each claim is a transaction of its own, after the one that records finished attempts: a
   * claim holds the lock that makes instances' claims take turns (pg-claimer.ts) until its transaction ends,
   * so it must not ride in a longer one (nor wait there behind this instance's other claims: a deadlock).
   */
  const claimsApart = ctx.store.engine === 'postgres';
  const sender = createSender({
    timeoutMs: settings.timeoutMs,
    allowPrivate: ctx.config.allowPrivateTargets,
    resolve: opts.resolve,
  });
  const random = opts.random ?? Math.random;
  const leaseMs = settings.timeoutMs + settings.claimMarginMs;
  const keys = new Map<string, Buffer>();

  const slots = createSlots(limits);
  const inFlightIds = new Set<string>();
  const aborts = new Set<AbortController>();
  let completions: Completion[] = [];
  let refusals: Refused[] = [];
  let flushScheduled = false;
  let idleWaiters: (() => void)[] = [];
  /** Flushes between taking their batch and their transaction's end. */
  let flushing = 0;
  /**
   * The flush running now: flushes take turns, each waiting for the one before, so what finishes meanwhile
   * gathers into the next batch: fewer transactions, and on PostgreSQL the worker's own small pool is not
   * filled with its recordings while claims wait. (Recordings of several instances at once are safe by their
   * lock order, recording.ts.)
   */
  let flushTurn: Promise<unknown> = Promise.resolve();
  let started = false;
  let stopping = false;
  let stopped: Promise<void> | null = null;
  let unsubscribe: (() => void) | null = null;
  const fanOut = createFanOutExpander(ctx, () => void pump());
  let poll: NodeJS.Timeout | null = null;
  let stopWakeUps: (() => Promise<void>) | null = null;
  let pumping: Promise<number> | null = null;
  let pumpAgain = false;

  /** A pump now, or right after the one running: wake-ups from many instances coalesce into few claims. */
  function wakeSoon(): void {
    if (pumping) {
      pumpAgain = true;
      return;
    }
    pumping = pump().finally(() => {
      pumping = null;
      if (pumpAgain) {
        pumpAgain = false;
        wakeSoon();
      }
    });
  }

  /** Claims as much due work as the free slots allow, into `claimed` (so a caller whose transaction fails
   * later can give their slots back). With `tx`, inside that transaction (the one that records finished
   * attempts, so one commit both frees slots and fills them again). */
  async function claimDue(claimed: ClaimedDelivery[], tx?: Queryable): Promise<void> {
    while (slots.free > 0) {
      const result = await claimer.claim({ nowMs: ctx.clock.now(), leaseMs, slots, inFlight: inFlightIds, db: tx });
      claimed.push(...result.claimed);
      if (!result.more || result.claimed.length + result.cancelled + result.dropped === 0) break;
    }
  }

  /** Claims and starts what is due. */
  async function pump(): Promise<number> {
    if (stopping) return 0;
    const claimed: ClaimedDelivery[] = [];
    try {
      await claimDue(claimed);
    } catch (err) {
      // Typically SQLITE_BUSY from another process holding the write lock past busy_timeout, or a full
      // disk: the poll retries. What was claimed before the failure is sent; the rest waits.
      ctx.log.error('delivery claim failed', { error: (err as Error).message });
      claimer.rescan();
    }
    await launchAll(claimed);
    return claimed.length;
  }

  /**
   * Starts every claimed delivery the authority check allows. The check and the sends it allows run in one
   * write transaction that writes nothing (on SQLite under the database's write lock): a revocation or plan
   * change, from this process or another (the admin CLI), commits either before the check, which then sees
   * it, or after these attempts have started.
   */
  async function launchAll(claimed: ClaimedDelivery[]): Promise<void> {
    if (claimed.length === 0) return;
    let next = 0;
    try {
      await ctx.db.write(async (tx) => {
        // On PostgreSQL the whole batch's subscriptions in one statement; on SQLite each as its first
        // delivery comes up (a function call each, not a round trip).
        const refusalOf = claimsApart
          ? await pgRefusals(tx, [...new Set(claimed.map((d) => d.subscriptionId))])
          : new Map<string, Refusal | null>();
        const authority = createAuthorityCheck(tx);
        for (; next < claimed.length; next++) {
          const delivery = claimed[next]!; // next < claimed.length
          let refusal = refusalOf.get(delivery.subscriptionId);
          if (refusal === undefined)
            refusalOf.set(delivery.subscriptionId, (refusal = await authority.refusal(delivery.subscriptionId)));
          if (refusal) refuse(delivery, refusal);
          else launch(delivery);
        }
      }, URGENT);
    } catch (err) {
      // Unable to tell (the lock or the read failed), so the rest is not sent: those rows stay leased and
      // come due again when the lease ends.
      ctx.log.error('delivery authority check failed', { error: (err as Error).message });
      for (const left of claimed.slice(next)) slots.release(left.holder);
    }
  }

  function refuse(delivery: ClaimedDelivery, refusal: Refusal): void {
    refusals.push({ delivery, refusal });
    scheduleFlush();
  }

  function scheduleFlush(): void {
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(() => void flush());
    }
  }

  function launch(delivery: ClaimedDelivery): void {
    inFlightIds.add(delivery.id);
    const startedAtMs = ctx.clock.now();
    const abort = new AbortController();
    aborts.add(abort);
    const done = (result: SendResult) => {
      aborts.delete(abort);
      completions.push({ delivery, startedAtMs, result });
      scheduleFlush();
    };
    // send() turns every HTTP failure into a result; this is for our own bugs, so a slot is never lost.
    const internalError = (err: Error): SendResult => ({
      kind: 'error',
      error: `internal error: ${err.message}`,
      refused: false,
      timedOut: false,
      aborted: false,
      durationMs: 0,
    });
    let sending: Promise<SendResult>;
    try {
      // Called here, not on a later tick: the request starts in the step that checked the subscription.
      sending = sender.send(
        {
          url: delivery.targetUrl,
          eventId: delivery.eventId,
          eventType: delivery.eventType,
          body: Buffer.from(delivery.payload, 'utf8'),
          key: keyFor(delivery.secret),
          timestampSec: Math.floor(startedAtMs / 1000),
        },
        abort.signal,
      );
    } catch (err) {
      sending = Promise.resolve(internalError(err as Error));
    }
    // Nothing to await: done() only queues the result for the next flush and cannot reject.
    void sending.catch(internalError).then(done);
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

  /** Records every finished attempt and refusal, and claims what the freed slots allow, in one transaction. */
  async function flush(): Promise<void> {
    flushScheduled = false;
    flushing += 1;
    const mine = flushTurn.then(flushBatch);
    flushTurn = Promise.allSettled([mine]); // the next one waits for this one, however it ended
    try {
      await mine;
    } finally {
      flushing -= 1;
    }
    if (isIdle()) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  async function flushBatch(): Promise<void> {
    const batch = completions;
    const refused = refusals;
    completions = [];
    refusals = [];
    for (const { delivery } of batch) {
      // On PostgreSQL an attempt stays in flight for this worker's claims until its record has committed:
      // should its lease run out first (a slow commit), this instance does not send it again before its own
      // attempt is on record (another instance may, and records its own). SQLite's claim rides in this very
      // transaction and sees the recorded rows, and its claimer would not look at a skipped row again soon.
      if (!claimsApart) inFlightIds.delete(delivery.id);
      slots.release(delivery.holder);
    }
    for (const { delivery } of refused) slots.release(delivery.holder);
    let claimed: ClaimedDelivery[] = [];
    try {
      await inTransaction(
        ctx,
        async (tx) => {
          await recordWorkerBatch(tx, batch, refused, { settings, random, now: ctx.clock.now() });
          if (!stopping && !claimsApart) await claimDue(claimed, tx.db);
        },
        URGENT,
      );
    } catch (err) {
      // The rows stay claimed; their lease runs out and they are sent again. At least once still holds.
      ctx.log.error('recording delivery attempts failed', { error: (err as Error).message, attempts: batch.length });
      claimer.rescan(); // what it had taken off its queues was rolled back
      for (const delivery of claimed) slots.release(delivery.holder);
      claimed = [];
    } finally {
      if (claimsApart) for (const { delivery } of batch) inFlightIds.delete(delivery.id);
    }
    if (claimsApart && !stopping) {
      try {
        await claimDue(claimed);
      } catch (err) {
        ctx.log.error('delivery claim failed', { error: (err as Error).message });
      }
    }
    await launchAll(claimed);
  }

  /** Nothing in flight, nothing waiting to be recorded, and no recording still on its way to COMMIT (a flush
   * frees its slots before its transaction commits, and on PostgreSQL the commit is a network round trip). */
  function isIdle(): boolean {
    return slots.inUse === 0 && completions.length === 0 && refusals.length === 0 && flushing === 0;
  }

  function idle(): Promise<void> {
    if (isIdle()) return Promise.resolve();
    return new Promise((resolve) => idleWaiters.push(resolve));
  }

  async function stopNow(): Promise<void> {
    stopping = true;
    unsubscribe?.();
    const wakeUpsStopped = stopWakeUps?.();
    fanOut.stop();
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
    await wakeUpsStopped;
  }

  return {
    start() {
      if (started || stopping) return;
      started = true;
      if (ctx.store.engine === 'postgres') {
        // Other instances: a notification after each local commit, and theirs wake this one (wake-ups.ts).
        const wakeUps = createWakeUps(ctx.store as PgStore, ctx.log, (missedSome) => {
          if (missedSome) claimer.rescan();
          fanOut.poll(); // events another instance marked
          wakeSoon();
        });
        stopWakeUps = () => wakeUps.stop();
        // The signal fires after the commit (context.ts holds it until then on PostgreSQL).
        unsubscribe = ctx.signal.subscribe(() => {
          wakeUps.announce();
          wakeSoon();
        });
      } else {
        unsubscribe = ctx.signal.subscribe(() => void pump());
      }
      fanOut.start(); // resumes events whose fan-out a stopped or killed process left unfinished
      let lastRescan = performance.now();
      poll = setInterval(() => {
        // A safety net for rows written by other processes with other clocks; cheap unless a backlog is large.
        if (performance.now() - lastRescan >= FULL_RESCAN_INTERVAL_MS) {
          claimer.rescan();
          lastRescan = performance.now();
        }
        fanOut.poll(); // events marked by another process on the same file (or instance on the same database)
        if (ctx.store.engine === 'postgres') wakeSoon();
        else void pump();
      }, settings.pollIntervalMs);
      poll.unref();
      void pump();
    },
    stop() {
      stopped ??= stopNow();
      return stopped;
    },
    async runOnce() {
      await fanOut.drain();
      claimer.rescan();
      const launched = await pump();
      await idle();
      return launched;
    },
    idle,
    get inFlight() {
      return slots.inUse;
    },
  };
}

/**
 * The claimer of ctx's engine. On PostgreSQL leases and due times follow the database's clock, one clock for
 * every instance; except when ctx.clock is not the system clock (a test that moves its own clock), where they
 * follow that clock instead, so that moving it still means something.
 */
function claimerFor(ctx: AppContext, limits: SlotLimits): Claimer {
  if (ctx.store.engine !== 'postgres') return createClaimer(ctx.db);
  return createPgClaimer(ctx.db, { limits, databaseClock: ctx.clock === systemClock });
}

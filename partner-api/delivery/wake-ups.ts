/**
 * Wake-ups between instances on PostgreSQL (issue 13 §3, ADR 0010 §5). The instance that commits an event
 * wakes its own worker through ctx.signal at once; the others hear of it here: after the commit, one
 * `pg_notify(DELIVERY_CHANNEL, '')`, sent outside every write transaction (a NOTIFY inside one takes a
 * lock at commit that serialises all committing transactions: scale-out-notes.md), and coalesced: while
 * one is on its way, any number of further events make at most one more. Every instance LISTENs on the
 * channel and looks for work on each notification; when the listening connection was lost and made again
 * (PgStore.listen calls back with null) notifications may have been missed, so it looks at every due row.
 * The worker's poll is the backstop for a notification lost any other way.
 */
import type { PgStore } from '../db/pg-store';
import type { Logger } from '../lib/log';

/** The channel every instance of one database listens on. */
export const DELIVERY_CHANNEL = 'illumichat_deliveries';

export interface WakeUps {
  /** Tells the other instances there is new work; call after the commit that made it. Never throws. */
  announce(): void;
  /** Stops listening and waits for a notification on its way. */
  stop(): Promise<void>;
}

/**
 * Listens on DELIVERY_CHANNEL of `store` and calls `onWake(false)` per notification (from any instance,
 * this one included), `onWake(true)` after the listening connection was made again. Listening starts in
 * the background; a failure to start is logged, and the poll still finds the work.
 */
export function createWakeUps(store: PgStore, log: Logger, onWake: (missedSome: boolean) => void): WakeUps {
  let stopped = false;
  let sending: Promise<void> | null = null;
  let again = false;

  const listening = store
    .listen(DELIVERY_CHANNEL, (payload) => {
      if (!stopped) onWake(payload === null);
    })
    .catch((error: Error) => {
      log.error('listening for delivery wake-ups failed; the poll finds new work', { error: error.message });
      return null;
    });

  function send(): void {
    sending = store
      .notify(DELIVERY_CHANNEL, '')
      .catch((error: Error) => log.error('delivery wake-up not sent', { error: error.message }))
      .finally(() => {
        sending = null;
        if (again && !stopped && store.open) {
          again = false;
          send();
        }
      });
  }

  return {
    announce() {
      if (stopped || !store.open) return;
      if (sending) again = true;
      else send();
    },
    async stop() {
      stopped = true;
      const unlisten = await listening;
      await sending;
      if (!unlisten || !store.open) return;
      try {
        await unlisten();
      } catch {
        // The listening connection is gone already: nothing is listening any more.
      }
    },
  };
}

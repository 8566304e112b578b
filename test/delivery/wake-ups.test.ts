/**
 * The pieces of delivery wake-ups on their own: the signal held until COMMIT (signal.ts), the coalesced
 * NOTIFY and its failures (wake-ups.ts), and a claim that fails (pg-claimer.ts). Needs a PostgreSQL, not the
 * run's engine (test/support/pg.ts starts a private cluster when the run has none).
 */
import { openPgStore, type PgStore } from '../../partner-api/db/pg-store';
import { createPgClaimer } from '../../partner-api/delivery/pg-claimer';
import { DeliverySignal } from '../../partner-api/delivery/signal';
import { createSlots } from '../../partner-api/delivery/slots';
import { createWakeUps, DELIVERY_CHANNEL } from '../../partner-api/delivery/wake-ups';
import { capturingLogger } from '../support/helpers';
import { closeAfterFile, freshPgDatabaseUrl, PG_SETUP_TIMEOUT_MS } from '../support/pg';
import { waitUntil } from '../support/receiver';

let url: string;
let store: PgStore;
beforeAll(async () => {
  url = await freshPgDatabaseUrl();
  store = closeAfterFile(await openPgStore(url, { migrate: false }));
}, PG_SETUP_TIMEOUT_MS);

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('a held signal', () => {
  it('passes a notify on only when released, once, and nothing when none was asked for', async () => {
    const signal = new DeliverySignal();
    let woken = 0;
    const held = signal.held();
    held.subscribe(() => (woken += 1)); // subscribing through it reaches the signal itself
    held.notify();
    held.notify();
    await turn();
    expect(woken).toBe(0); // the transaction has not committed yet
    held.release();
    await turn();
    expect(woken).toBe(1);
    held.release(); // nothing owed any more
    signal.held().release(); // a transaction that asked for nothing
    await turn();
    expect(woken).toBe(1);
  });
});

describe('wake-ups', () => {
  it('coalesces announcements made while one NOTIFY is on its way into one more', async () => {
    const heard: (string | null)[] = [];
    const unlisten = await store.listen(DELIVERY_CHANNEL, (payload) => heard.push(payload));
    const { log } = capturingLogger();
    const wakeUps = createWakeUps(store, log, () => undefined);
    for (let i = 0; i < 50; i++) wakeUps.announce();
    await waitUntil(() => heard.length >= 2, { message: 'two notifications' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await wakeUps.stop();
    expect(heard).toEqual(['', '']); // the first, and one for the 49 made while it was on its way
    await unlisten();
  });

  it('logs, and does not throw, when it cannot listen or notify', async () => {
    const { log, lines } = capturingLogger();
    const broken = {
      open: true,
      listen: () => Promise.reject(new Error('listener down')),
      notify: () => Promise.reject(new Error('pool down')),
    } as unknown as PgStore;
    const wakeUps = createWakeUps(broken, log, () => undefined);
    wakeUps.announce();
    await wakeUps.stop();
    expect(lines.map((l) => l.message)).toEqual(
      expect.arrayContaining([
        'listening for delivery wake-ups failed; the poll finds new work',
        'delivery wake-up not sent',
      ]),
    );
  });
});

describe('a PostgreSQL claim that fails', () => {
  it('rejects with the error and takes no slot, and the next claim runs', async () => {
    const limits = { overall: 4, perWorkspace: 4, perHost: 4, perSubscription: 4 };
    const slots = createSlots(limits);
    const other = await openPgStore(url, { migrate: false, max: 1 });
    const claimer = createPgClaimer(other, { limits, databaseClock: true });
    const request = { nowMs: Date.now(), leaseMs: 1000, slots, inFlight: new Set<string>() };
    await other.close();
    await expect(claimer.claim(request)).rejects.toThrow();
    expect(slots.inUse).toBe(0);
    const working = createPgClaimer(store, { limits, databaseClock: true });
    await expect(working.claim(request)).resolves.toEqual({ claimed: [], cancelled: 0, dropped: 0, more: false });
  });
});

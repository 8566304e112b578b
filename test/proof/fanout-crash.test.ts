/**
 * Fan-out across instances, killed in the middle (issue 13 §3): two API processes (partner-api/server.ts) on
 * one PostgreSQL database, each with its delivery worker and fan-out expander. Events with hundreds of Zaps
 * each are created through one of them; it is frozen at successive instants until one of its fan-out
 * transactions has delivery rows written and not committed, while events are still marked, and SIGKILLed
 * there. The other, left running, must finish every fan-out the dead one left half-done. Judged by what the
 * database and a real HTTP receiver see:
 *   - one delivery row per (event, subscription) owed, none twice, and no event left marked;
 *   - every owed delivery arrives at least once with webhook-id = the event id, nothing arrives that was not
 *     owed, and every delivery row ends succeeded.
 * How often a delivery arrives twice is not judged here: that is the claims' business (a known gap on
 * PostgreSQL, docs/testing.md, judged by test/proof/multi-instance.test.ts), not the fan-out's.
 * Which process a database session belongs to is told by its application_name (set in the victim's URL).
 */
import { loadConfig } from '../../partner-api/config';
import { type AppContext, createAppContext } from '../../partner-api/context';
import { openPgStore } from '../../partner-api/db/pg-store';
import { createApiKey } from '../../partner-api/domain/api-keys';
import { SCOPES } from '../../partner-api/domain/credentials';
import { createWorkspace } from '../../partner-api/domain/workspaces';
import { subscribe } from '../delivery/helpers';
import { closeAfterFile, freshPgDatabaseUrl, PG_SETUP_TIMEOUT_MS } from '../support/pg';
import { type Receiver, startReceiver, waitUntil } from '../support/receiver';
import { describeEngine } from '../support/test-store';
import { killAll, spawnApi } from './support/api-process';

/** Events created through the victim, each owed to every subscription: 2 fan-out transactions per event. */
const EVENTS = 3;
const ZAPS = 300;
const VICTIM_APP = 'fanout-victim';

const ENV = {
  ILLUMICHAT_RATE_LIMIT_PER_MINUTE: '100000000',
  ILLUMICHAT_RATE_LIMIT_BURST: '100000000',
  // The dead process's claims come due again after timeout + 2 s.
  ILLUMICHAT_DELIVERY_TIMEOUT_MS: '2000',
  ILLUMICHAT_RETRY_SCHEDULE_MS: '500,1000,2000,4000',
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let ctx: AppContext;
let databaseUrl: string;
let rx: Receiver;
// Its own PostgreSQL database either way; run once, in the PostgreSQL run.
describeEngine('postgres', 'two API processes on one PostgreSQL database', 'fan-out across instances', () => {
  jest.setTimeout(150_000);

  beforeAll(async () => {
    databaseUrl = await freshPgDatabaseUrl();
    ctx = createAppContext({ store: closeAfterFile(await openPgStore(databaseUrl)), config: loadConfig({}) });
    rx = await startReceiver();
  }, PG_SETUP_TIMEOUT_MS);
  afterAll(async () => {
    await killAll();
    await rx.close();
  });

  it('an instance SIGKILLed mid-fan-out: the other finishes it, each owed delivery arrives, no row is written twice', async () => {
    const workspace = await createWorkspace(ctx, { name: 'Many Zaps', plan: 'pro' });
    const key = await createApiKey(ctx, { workspaceId: workspace.id, name: 'Zapier', scopes: SCOPES });
    const pathOf = new Map<string, string>();
    for (let i = 0; i < ZAPS; i++) {
      const sub = await subscribe(ctx, { workspaceId: workspace.id, apiKeyId: key.id }, `${rx.url}/${i}`);
      pathOf.set(sub.id, `/hook/${i}`);
    }
    const [victim, survivor] = await Promise.all([
      spawnApi({ dbPath: `${databaseUrl}?application_name=${VICTIM_APP}`, env: ENV }),
      spawnApi({ dbPath: databaseUrl, env: ENV }),
    ]);

    // All at once, so their fan-outs overlap and are still under way once every create is answered.
    const statuses = await Promise.all(
      Array.from({ length: EVENTS }, async (_, i) => {
        const res = await fetch(`${victim.url}/v1/tickets`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key.key}` },
          body: JSON.stringify({ subject: `many Zaps ${i}` }),
        });
        return res.status;
      }),
    );
    expect(statuses).toEqual(Array.from({ length: EVENTS }, () => 201));

    // Freeze the victim until one of its sessions is inside a fan-out transaction with rows written.
    let atKill: { marked: number; rows: number } | null = null;
    for (let tries = 0; tries < 3000 && !atKill; tries++) {
      victim.child.kill('SIGSTOP');
      const expanding = await ctx.db.value<number>(
        `SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = ? AND backend_xid IS NOT NULL
            AND query LIKE 'INSERT INTO deliveries (id, event_id, subscription_id%'`,
        VICTIM_APP,
      );
      const marked = (await ctx.db.value<number>('SELECT COUNT(*) FROM events WHERE fanout_upto IS NOT NULL'))!;
      if (expanding! > 0 && marked > 0) {
        const rows = (await ctx.db.value<number>('SELECT COUNT(*) FROM deliveries'))!;
        atKill = { marked, rows };
        await victim.crash();
      } else {
        victim.child.kill('SIGCONT');
        if (marked === 0) break; // every fan-out done before one was caught: the test cannot judge
        await sleep(2);
      }
    }
    expect(atKill).not.toBeNull();
    const { marked, rows } = atKill!;
    expect(marked).toBeGreaterThan(0);
    expect(rows).toBeLessThan(EVENTS * ZAPS);

    await waitUntil(
      async () =>
        (await ctx.db.value<number>(`SELECT COUNT(*) FROM events WHERE fanout_upto IS NOT NULL`)) === 0 &&
        (await ctx.db.value<number>(`SELECT COUNT(*) FROM deliveries WHERE status = 'pending'`)) === 0,
      { timeoutMs: 90_000, intervalMs: 100, message: 'every fan-out finished and every delivery made' },
    );

    const events = await ctx.db.values<string>(`SELECT id FROM events WHERE type = 'ticket.created'`);
    expect(events).toHaveLength(EVENTS);
    expect(
      await ctx.db.all(
        'SELECT event_id, subscription_id FROM deliveries GROUP BY event_id, subscription_id HAVING COUNT(*) > 1',
      ),
    ).toEqual([]);
    for (const eventId of events)
      expect(
        new Set(await ctx.db.values<string>('SELECT subscription_id FROM deliveries WHERE event_id = ?', eventId)),
      ).toEqual(new Set(pathOf.keys()));
    expect(await ctx.db.value(`SELECT COUNT(*) FROM deliveries WHERE status <> 'succeeded'`)).toBe(0);

    const owed = new Set(events.flatMap((eventId) => [...pathOf.values()].map((path) => `${eventId} ${path}`)));
    const arrived = new Set(rx.requests.map((r) => `${String(r.headers['webhook-id'])} ${r.path}`));
    expect([...arrived].filter((pair) => !owed.has(pair))).toEqual([]);
    expect(arrived.size).toBe(owed.size);
    expect(survivor.lines.filter((l) => l.includes('fan-out failed'))).toEqual([]);
  });
});

/**
 * The delivery log's cost does not grow with the subscriptions a workspace has had (issue 11 follow-up 1).
 * Deactivated subscriptions are kept, and a key holder can make tens of thousands with subscribe and
 * unsubscribe; the log used to run one look-up per subscription (0.40-0.47 s of blocked event loop per call
 * at 30,000). Here a workspace with thousands of deactivated Zaps, each with deliveries, and one live Zap:
 * every filter of the log, first page and next, runs the same statements as in a workspace with one Zap
 * (one range on an index, one latest-attempt look-up per delivery shown), and the plan is an index SEARCH
 * with no sort (SQLite's planner: that part runs on SQLite only). Counted, not timed, on both engines.
 */
import { fixtureFor } from '../../fixtures';
import { inTransaction } from '../../partner-api/context';
import type { Queryable } from '../../partner-api/db/store';
import { recordEvent } from '../../partner-api/delivery/outbox';
import { type DeliveryQuery, listDeliveries } from '../../partner-api/domain/deliveries';
import { newId } from '../../partner-api/lib/ids';
import { type ApiServer, startApiServer } from '../support/api-server';
import { describeEngine } from '../support/test-store';

/** Every statement text `db` runs through its read and write methods, pushed to `into` (either engine). */
function counting(db: Queryable, into: string[]): Queryable {
  return new Proxy(db, {
    get(target, name, receiver) {
      const value: unknown = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      if (!['one', 'value', 'values', 'all', 'run'].includes(String(name))) return value.bind(target);
      return (text: string, ...params: unknown[]) => {
        into.push(text);
        return (value as (text: string, ...params: unknown[]) => unknown).call(target, text, ...params);
      };
    },
  });
}

const statementsRun: string[] = [];

const DEACTIVATED = 3_000;
const PAGE = 5;

let server: ApiServer;
beforeAll(async () => {
  server = await startApiServer();
}, 60_000);
afterAll(async () => await server.close());

/** A workspace with `deactivated` Zaps that each received one ticket.created, then ended, and one live Zap. */
async function workspaceWithHistory(deactivated: number): Promise<{ workspaceId: string; liveId: string }> {
  const ctx = server.ctx;
  const db = ctx.db;
  const ws = await server.createWorkspace({ plan: 'pro' });
  const keyId = (await server.createKeyRecord(ws.id)).id;
  const SUBSCRIBE = `INSERT INTO subscriptions (id, workspace_id, api_key_id, event_type, target_url, secret, active, created_at)
     VALUES (?, ?, ?, ?, ?, 'whsec_x', 1, '2026-01-01T00:00:00.000Z')`;
  const event = async (type: 'ticket.created' | 'lead.captured', at: string) =>
    await inTransaction(
      ctx,
      async (ctx) =>
        await recordEvent(ctx, {
          id: newId('evt'),
          workspaceId: ws.id,
          type,
          assistantId: null,
          createdAt: at,
          payload: fixtureFor(type),
        }),
    );
  await db.write(async (tx) => {
    for (let i = 0; i < deactivated; i++)
      await tx.run(
        SUBSCRIBE,
        `sub_old${ws.id}${i}`,
        ws.id,
        keyId,
        'ticket.created',
        `https://hooks.example/${ws.id}/${i}`,
      );
  });
  await event('ticket.created', '2026-01-02T00:00:00.000Z');
  await server.fanOut(); // one delivery to each of them: the real fan-out writes the rows
  await db.run(
    `UPDATE subscriptions SET active = 0, deactivated_at = '2026-01-03T00:00:00.000Z', deactivated_reason = 'unsubscribed' WHERE workspace_id = ?`,
    ws.id,
  );
  const liveId = `sub_live${ws.id}`;
  await db.run(SUBSCRIBE, liveId, ws.id, keyId, 'lead.captured', `https://hooks.example/${ws.id}/live`);
  for (let i = 0; i < PAGE * 2 + 1; i++)
    await event('lead.captured', `2026-02-01T00:00:${String(i).padStart(2, '0')}.000Z`);
  await server.fanOut();
  await db.run(`UPDATE deliveries SET status = 'failed' WHERE subscription_id = ? AND rowid % 2 = 0`, liveId);
  return { workspaceId: ws.id, liveId };
}

/** Statements run to read the first page and the next with `query`. */
async function statementsFor(
  workspaceId: string,
  query: Omit<DeliveryQuery, 'limit'>,
): Promise<{ count: number; texts: string[] }> {
  statementsRun.length = 0;
  const ctx = { ...server.ctx, db: counting(server.ctx.db, statementsRun) };
  const first = await listDeliveries(ctx, workspaceId, { ...query, limit: PAGE });
  await listDeliveries(ctx, workspaceId, { ...query, limit: PAGE, cursor: first.nextCursor ?? undefined });
  return { count: statementsRun.length, texts: [...new Set(statementsRun)] };
}

const filters = (liveId: string): Omit<DeliveryQuery, 'limit'>[] => [
  {},
  { status: 'succeeded' },
  { status: 'failed' },
  { eventType: 'ticket.created' },
  { eventType: 'lead.captured' },
  { status: 'failed', eventType: 'lead.captured' },
  { subscriptionId: liveId },
  { subscriptionId: liveId, status: 'failed' },
  { subscriptionId: liveId, eventType: 'ticket.created' },
];

it('runs a bounded number of statements with thousands of deactivated Zaps, for every filter', async () => {
  const { workspaceId, liveId } = await workspaceWithHistory(DEACTIVATED);
  // Per page at most: the subscription check, the range, and one latest attempt per delivery shown.
  const counts: { query: Omit<DeliveryQuery, 'limit'>; statements: number }[] = [];
  // One filter at a time: the statements are counted in one shared list.
  for (const query of filters(liveId))
    counts.push({ query, statements: (await statementsFor(workspaceId, query)).count });
  expect(counts.filter((c) => c.statements > 2 * (2 + PAGE))).toEqual([]);
  expect(counts.every((c) => c.statements >= 2)).toBe(true);
});

describeEngine('sqlite', "SQLite's query planner (EXPLAIN QUERY PLAN)", 'the plan', () => {
  it('reads each page as one index range with no sort', async () => {
    const { workspaceId, liveId } = await workspaceWithHistory(10);
    const db = server.ctx.db;
    for (const query of filters(liveId)) {
      const { texts } = await statementsFor(workspaceId, query);
      const page = texts.filter((t) => t.includes('FROM deliveries'));
      // A Zap with another event type than the filter's is answered from the subscription alone.
      if (!(query.subscriptionId && query.eventType)) expect(page.length).toBeGreaterThan(0);
      for (const text of page) {
        const plan = (
          await db.all<{
            detail: string;
          }>(`EXPLAIN QUERY PLAN ${text}`, ...Array(countParams(text)).fill(null))
        ).map((r) => r.detail);
        expect({ query, plan }).toEqual({
          query,
          plan: [expect.stringMatching(/^SEARCH deliveries USING INDEX deliveries_by_/)],
        });
      }
    }
  });
});

it('still pages the whole log in order across many Zaps, missing and repeating nothing', async () => {
  const { workspaceId } = await workspaceWithHistory(40);
  const db = server.ctx.db;
  const expected = await db.values(
    `SELECT id FROM deliveries WHERE workspace_id = ? ORDER BY created_at DESC, rowid DESC`,
    workspaceId,
  );
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await listDeliveries(server.ctx, workspaceId, { limit: 7, cursor });
    seen.push(...page.data.map((d) => d.id));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  expect(seen).toEqual(expected);
  expect(seen).toHaveLength(40 + PAGE * 2 + 1);
});

function countParams(text: string): number {
  return (text.match(/\?/g) ?? []).length;
}

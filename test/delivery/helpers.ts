/**
 * Test set-up for the delivery worker: a real database on the run's engine (test/support/test-store.ts), a
 * clock the test moves, and rows inserted directly (workspace, key, subscription), with events recorded through the real outbox.
 */
import type { EventType } from '../../catalog/events';
import type { SubscribedRecord } from '../../catalog/records';
import { fixtureFor } from '../../fixtures';
import { type Config, loadConfig } from '../../partner-api/config';
import { type AppContext, createAppContext, inTransaction } from '../../partner-api/context';
import { openDatabase } from '../../partner-api/db/open';
import { SqliteStore } from '../../partner-api/db/sqlite-store';
import { drainFanOut } from '../../partner-api/delivery/fanout';
import { recordEvent } from '../../partner-api/delivery/outbox';
import { generateWebhookSecret } from '../../partner-api/delivery/signing';
import { isoAt } from '../../partner-api/lib/clock';
import { newId } from '../../partner-api/lib/ids';
import { capturingLogger, type LogLine, type TestClock, testClock } from '../support/helpers';
import { newTestDatabase, openTestStore } from '../support/test-store';

export interface TestContext extends AppContext {
  clock: TestClock;
  logs: LogLine[];
  /** Where the database is, to open it again (`makeContext({ location })`): a SQLite file or a postgres:// URL. */
  location: string;
}

export interface ContextOptions {
  delivery?: Partial<Config['delivery']>;
  allowPrivateTargets?: boolean;
  clock?: TestClock;
  /** Reopen an existing database (a restart): a `TestContext.location`. */
  location?: string | undefined;
}

/** A context on a new database of the run's engine, or on `opts.location`; the test closes its store. */
export async function makeContext(opts: ContextOptions = {}): Promise<TestContext> {
  const location = opts.location ?? (await newTestDatabase());
  const base = loadConfig({ ILLUMICHAT_NO_DEMO: '1', ILLUMICHAT_LOG: 'silent' });
  const config = loadConfig(
    { ILLUMICHAT_NO_DEMO: '1', ILLUMICHAT_LOG: 'silent' },
    {
      allowPrivateTargets: opts.allowPrivateTargets ?? true,
      delivery: { ...base.delivery, pollIntervalMs: 60_000, ...opts.delivery },
    },
  );
  const { log, lines: logs } = capturingLogger();
  // Real time by default: receivers check the signature's timestamp against their own clock.
  const clock = opts.clock ?? testClock(Date.now());
  const store = await openTestStore({ at: location, openSqlite: (file) => new SqliteStore(openDatabase(file)) });
  return { ...createAppContext({ store, config, clock, log }), clock, logs, location };
}

export interface Workspace {
  workspaceId: string;
  apiKeyId: string;
}

export async function seedWorkspace(ctx: AppContext): Promise<Workspace> {
  const workspaceId = newId('ws');
  const apiKeyId = newId('key');
  const at = isoAt(ctx.clock.now());
  await ctx.db.run(
    `INSERT INTO workspaces (id, name, plan, created_at) VALUES (?, 'Acme Support', 'pro', ?)`,
    workspaceId,
    at,
  );
  await ctx.db.run(
    `INSERT INTO api_keys (id, workspace_id, name, prefix, secret_hash, scopes, created_at)
       VALUES (?, ?, 'Zapier', 'wsk_live_test', ?, 'events:read', ?)`,
    apiKeyId,
    workspaceId,
    newId('hash'),
    at,
  );
  return { workspaceId, apiKeyId };
}

/** The parts of the catalog's subscription a delivery test needs. */
export type Subscription = Pick<SubscribedRecord, 'id' | 'secret' | 'targetUrl' | 'eventType'>;

export async function subscribe(
  ctx: AppContext,
  ws: Workspace,
  targetUrl: string,
  eventType: EventType = 'ticket.created',
): Promise<Subscription> {
  const id = newId('sub');
  const secret = generateWebhookSecret();
  await ctx.db.run(
    `INSERT INTO subscriptions (id, workspace_id, api_key_id, event_type, target_url, secret, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    id,
    ws.workspaceId,
    ws.apiKeyId,
    eventType,
    targetUrl,
    secret,
    isoAt(ctx.clock.now()),
  );
  return { id, secret, targetUrl, eventType };
}

/** Records one event of `type` (a fixture with fresh ids) in a transaction, as a domain change would, then runs its fan-out. */
export async function emit(ctx: AppContext, ws: Workspace, type: EventType = 'ticket.created'): Promise<string> {
  const eventId = newId('evt');
  const createdAt = isoAt(ctx.clock.now());
  const payload = fixtureFor(type);
  if (type === 'lead.captured') {
    Object.assign(payload, { id: newId('con'), createdAt, assistantId: null, assistantName: null });
  } else {
    Object.assign(payload, {
      id: eventId,
      createdAt,
      workspaceId: ws.workspaceId,
      assistantId: null,
      assistantName: null,
    });
  }
  await inTransaction(
    ctx,
    async (ctx) =>
      await recordEvent(ctx, { id: eventId, workspaceId: ws.workspaceId, type, assistantId: null, createdAt, payload }),
  );
  await drainFanOut(ctx);
  return eventId;
}

export interface DeliveryRow {
  id: string;
  event_id: string;
  subscription_id: string;
  status: string;
  attempts: number;
  next_attempt_ms: number;
  claim_token: string | null;
  claimed_at_ms: number | null;
  last_error: string | null;
}

export interface AttemptRow {
  delivery_id: string;
  attempt: number;
  duration_ms: number;
  status_code: number | null;
  outcome: string;
  error: string | null;
  response_body: string | null;
}

export async function deliveriesOf(ctx: AppContext, subscriptionId: string): Promise<DeliveryRow[]> {
  return await ctx.db.all<DeliveryRow>(
    `SELECT * FROM deliveries WHERE subscription_id = ? ORDER BY rowid`,
    subscriptionId,
  );
}

export async function attemptsOf(ctx: AppContext, deliveryId: string): Promise<AttemptRow[]> {
  return await ctx.db.all<AttemptRow>(
    `SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY attempt, started_at`,
    deliveryId,
  );
}

export async function subscriptionRow(
  ctx: AppContext,
  id: string,
): Promise<{
  active: number;
  deactivated_reason: string | null;
  failing_since_ms: number | null;
}> {
  return (await ctx.db.one<never>(
    `SELECT active, deactivated_reason, failing_since_ms FROM subscriptions WHERE id = ?`,
    id,
  ))!;
}

export async function payloadOf(ctx: AppContext, eventId: string): Promise<string> {
  return (await ctx.db.value<string>(`SELECT payload FROM events WHERE id = ?`, eventId))!;
}

/**
 * The partner API on a real HTTP server, for tests: `createApp` on 127.0.0.1 with an ephemeral port and a
 * new database of the run's engine (test/support/test-store.ts: a SQLite file in a temp dir, or a PostgreSQL
 * database of its own), plus helpers to make the data a test needs without going through HTTP.
 *
 *   const server = await startApiServer();                  // options below; all optional
 *   const ws = server.createWorkspace({ plan: 'pro' });      // { id, name, plan, createdAt }
 *   const key = server.createKey(ws.id, ['events:read']);  // the plaintext wsk_live_… key (all scopes if omitted)
 *   const res = await api(server.url, key).post('/v1/tickets', { subject: 'Hi' }, { 'Idempotency-Key': 'k1' });
 *   res.status; res.body; res.headers.get('retry-after');
 *   await server.close();                                   // server, worker, its SQLite file (also after the file)
 *
 * Options (StartOptions):
 *   clock               a Clock; `testClock()` (test/support/helpers.ts) gives one tests can move
 *   allowPrivateTargets true unless told otherwise, so subscriptions can target local receivers
 *   rateLimit           { perMinute, burst } per API key; by default so high that no test meets it
 *   publicRateLimit     { perMinute, burst } per visitor address on the widget/in-app endpoints; the same
 *   rateLimitStore      where the limits count (http/rate-limit.ts): `{ engine: 'postgres', pool }` counts in
 *                       that pool's database, shared by servers on it; by default the server's own database
 *                       on PostgreSQL when a limit above is set, else this process's memory
 *   delivery            true (or the worker's options) starts the delivery worker with the server;
 *                       `server.worker` then offers runOnce() and idle() from partner-api/delivery/worker
 *   config              any other Config override
 *   dbPath              reuse this database (a restart, or two servers on one database): a `server.dbPath`
 *                       or `newTestDatabase()` location, a SQLite file or a postgres:// URL
 *
 * Everything the API logs is kept in `server.logs` (nothing is printed), so tests can assert on it.
 * Other helpers: createAssistant(wsId, name?), createAgent(wsId, {name?, email?}) → { id, name, email, token },
 * createKeyRecord(wsId, scopes?) → { id, key }, revokeKey(keyId), setPlan(wsId, plan), and
 * `setup()`: a Pro workspace with one assistant and an all-scopes key, ready to call.
 *
 * The client: `api(url, credential?)` → get/post/patch/delete (JSON in, parsed JSON out) and
 * `raw(method, path, { body, headers })` for bytes and headers exactly as given (bad JSON, wrong types).
 * `waitUntil(check, timeoutMs?, what?)` polls until `check` returns a value, for anything asynchronous.
 * test/support/api-events.ts reads the events table (payloads checked against the catalog) and counts
 * tables; test/support/api-endpoints.ts lists every endpoint with its scope.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Express } from 'express';

import { createApp } from '../../partner-api/app';
import { type Config, loadConfig } from '../../partner-api/config';
import { type AppContext, backgroundContext, createAppContext } from '../../partner-api/context';
import { openDatabase } from '../../partner-api/db/open';
import type { PgStore } from '../../partner-api/db/pg-store';
import { SqliteStore } from '../../partner-api/db/sqlite-store';
import type { Store } from '../../partner-api/db/store';
import { drainFanOut } from '../../partner-api/delivery/fanout';
import type * as deliveryWorker from '../../partner-api/delivery/worker';
import type { DeliveryWorker, DeliveryWorkerOptions } from '../../partner-api/delivery/worker';
import { createApiKey, revokeApiKey } from '../../partner-api/domain/api-keys';
import { type Scope, SCOPES } from '../../partner-api/domain/credentials';
import {
  type Assistant,
  createAgent,
  createAssistant,
  createWorkspace,
  type Plan,
  setWorkspacePlan,
  type Workspace,
} from '../../partner-api/domain/workspaces';
import { answerClientErrorsAsJson } from '../../partner-api/http/client-errors';
import { createRateLimiters, type RateLimitStore } from '../../partner-api/http/rate-limit';
import type { Clock } from '../../partner-api/lib/clock';
import { capturingLogger, type LogLine } from './helpers';
import { closeAfterFile } from './pg';
import { databaseEnv, newTestDatabase, openTestStore, removeTestDatabase } from './test-store';

export interface StartOptions {
  clock?: Clock;
  allowPrivateTargets?: boolean;
  rateLimit?: { perMinute: number; burst: number };
  publicRateLimit?: { perMinute: number; burst: number };
  rateLimitStore?: RateLimitStore;
  delivery?: boolean | DeliveryWorkerOptions;
  config?: Partial<Config>;
  dbPath?: string;
}

export interface ApiServer {
  url: string;
  ctx: AppContext;
  app: Express;
  /** Where its database is, to open it again: a SQLite file path or a postgres:// URL (test-store.ts). */
  dbPath: string;
  logs: LogLine[];
  worker: DeliveryWorker | null;
  /** Writes the delivery rows every event so far owes (delivery/fanout.ts), as the worker does after commit. Returns how many. */
  fanOut(): Promise<number>;
  close(): Promise<void>;
  createWorkspace(opts?: { plan?: Plan; name?: string }): Promise<Workspace>;
  setPlan(workspaceId: string, plan: Plan): Promise<void>;
  createKey(workspaceId: string, scopes?: readonly Scope[]): Promise<string>;
  createKeyRecord(workspaceId: string, scopes?: readonly Scope[]): Promise<{ id: string; key: string }>;
  revokeKey(keyId: string): Promise<void>;
  createAssistant(workspaceId: string, name?: string): Promise<Assistant>;
  createAgent(
    workspaceId: string,
    opts?: { name?: string; email?: string },
  ): Promise<{ id: string; name: string; email: string; token: string }>;
  setup(opts?: {
    plan?: Plan;
    scopes?: readonly Scope[];
  }): Promise<{ workspace: Workspace; assistant: Assistant; key: string; keyId: string }>;
}

const UNLIMITED = { perMinute: 1_000_000_000, burst: 1_000_000_000 };

export async function startApiServer(opts: StartOptions = {}): Promise<ApiServer> {
  const ownDatabase = opts.dbPath === undefined;
  const dbPath = opts.dbPath ?? (await newTestDatabase());
  const config = loadConfig(
    { ILLUMICHAT_DATABASE_URL: databaseEnv(dbPath).ILLUMICHAT_DATABASE_URL },
    {
      port: 0,
      host: '127.0.0.1',
      dbPath,
      allowPrivateTargets: opts.allowPrivateTargets ?? true,
      rateLimit: opts.rateLimit ?? UNLIMITED,
      publicRateLimit: opts.publicRateLimit ?? UNLIMITED,
      seedDemo: false,
      log: 'silent',
      ...opts.config,
    },
  );
  const { log, lines: logs } = capturingLogger();
  const store = await openTestStore({
    at: dbPath,
    openSqlite: (file) => new SqliteStore(openDatabase(file)),
    // The pool as server.ts opens it (db/open-store.ts): its size and bounded wait from the config.
    pg: {
      max: config.databasePool.size,
      backgroundMax: config.databasePool.workerSize,
      connectionWaitMs: config.databasePool.waitMs,
    },
  });
  const ctx = createAppContext({ store, config, clock: opts.clock, log });
  const app = createApp(ctx, createRateLimiters(config, opts.rateLimitStore ?? rateLimitStoreFor(store, opts)));
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  answerClientErrorsAsJson(server);
  const { port } = server.address() as AddressInfo;

  let worker: DeliveryWorker | null = null;
  if (opts.delivery) {
    // Loaded only when asked for, so API-only tests do not load the delivery module.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const delivery = require('../../partner-api/delivery/worker') as typeof deliveryWorker;
    // On its own connections, as server.ts runs it.
    worker = delivery.createDeliveryWorker(backgroundContext(ctx), opts.delivery === true ? {} : opts.delivery);
    worker.start();
  }

  let closed = false;
  const handle: ApiServer = {
    url: `http://127.0.0.1:${port}`,
    ctx,
    app,
    dbPath,
    logs,
    worker,
    fanOut: async () => await drainFanOut(ctx),
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await worker?.stop();
      await ctx.store.close();
      if (ownDatabase) removeTestDatabase(dbPath);
    },
    createWorkspace: async ({ plan = 'pro', name = 'Test Workspace' } = {}) =>
      await createWorkspace(ctx, { name, plan }),
    setPlan: async (workspaceId, plan) => void (await setWorkspacePlan(ctx, workspaceId, plan)),
    createKey: async (workspaceId, scopes = SCOPES) =>
      (await createApiKey(ctx, { workspaceId, name: 'Test key', scopes })).key,
    createKeyRecord: async (workspaceId, scopes = SCOPES) => {
      const created = await createApiKey(ctx, { workspaceId, name: 'Test key', scopes });
      return { id: created.id, key: created.key };
    },
    revokeKey: async (keyId) => void (await revokeApiKey(ctx, keyId)),
    createAssistant: async (workspaceId, name = 'Support Bot') => await createAssistant(ctx, workspaceId, name),
    createAgent: async (workspaceId, { name = 'Alex Agent', email = 'alex@example.com' } = {}) => {
      const agent = await createAgent(ctx, workspaceId, { name, email });
      return { id: agent.id, name: agent.name, email: agent.email, token: agent.token };
    },
    async setup({ plan = 'pro', scopes = SCOPES } = {}) {
      const workspace = await handle.createWorkspace({ plan, name: 'Acme Support' });
      const assistant = await handle.createAssistant(workspace.id, 'Acme Bot');
      const { id, key } = await handle.createKeyRecord(workspace.id, scopes);
      return { workspace, assistant, key, keyId: id };
    },
  };
  // A server the test leaves open is closed after the file, before its database is dropped (test/support/pg.ts).
  return closeAfterFile(handle);
}

/**
 * Where a server counts its rate limits unless told: on PostgreSQL, when the test sets a limit, the shared
 * `rate_limits` table as in production (http/rate-limit.ts); otherwise this process's memory (the default
 * limits are never met, and counting them in the database would add a write to every request).
 */
function rateLimitStoreFor(store: Store, opts: StartOptions): RateLimitStore | undefined {
  const limited = opts.rateLimit !== undefined || opts.publicRateLimit !== undefined;
  return limited && store.engine === 'postgres' ? { engine: 'postgres', pool: (store as PgStore).pool } : undefined;
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface ApiClient {
  get<T = any>(path: string, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  post<T = any>(path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  patch<T = any>(path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  delete<T = any>(path: string, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  /** Full control: a raw body (string or bytes, sent as is) and exactly the headers given. */
  raw<T = any>(method: string, path: string, init?: RawInit): Promise<ApiResponse<T>>;
}

/** A raw request's body and headers; an undefined body sends none. */
export interface RawInit {
  body?: string | Uint8Array | undefined;
  headers?: Record<string, string> | undefined;
}

/**
 * A small client over fetch. `credential` (a wsk_live_ key or an agt_tok_ token) goes in
 * `Authorization: Bearer`; JSON bodies are serialised; the response body is parsed when it is JSON.
 */
export function api(baseUrl: string, credential?: string): ApiClient {
  const auth: Record<string, string> = credential ? { authorization: `Bearer ${credential}` } : {};
  const raw = async <T>(method: string, p: string, init: RawInit = {}) => {
    const res = await fetch(baseUrl + p, { method, body: init.body ?? null, headers: init.headers ?? {} });
    const text = await res.text();
    let body: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json') && text) body = JSON.parse(text);
    return { status: res.status, body: body as T, headers: res.headers };
  };
  const withJson = <T>(method: string, p: string, body: unknown, headers: Record<string, string> = {}) =>
    raw<T>(method, p, {
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    });
  return {
    get: (p, headers) => withJson('GET', p, undefined, headers),
    post: (p, body, headers) => withJson('POST', p, body, headers),
    patch: (p, body, headers) => withJson('PATCH', p, body, headers),
    delete: (p, headers) => withJson('DELETE', p, undefined, headers),
    raw: (method, p, init) => raw(method, p, init),
  };
}

/**
 * Polls `check` until it returns a value other than undefined, null or false (a store's `value()` and `one()`
 * answer null while there is no row yet), or fails after `timeoutMs`.
 */
export async function waitUntil<T>(
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Resolves once every delivery owed so far has been made: nothing pending and no event still marked for
 * fan-out (delivery/fanout.ts), so the worker changes nothing while a test compares what it sees.
 */
export function deliveriesSettled(server: ApiServer, timeoutMs = 10_000): Promise<true> {
  const owed = () =>
    server.ctx.db.value<number>(
      `SELECT (SELECT COUNT(*) FROM deliveries WHERE status = 'pending') + (SELECT COUNT(*) FROM events WHERE fanout_upto IS NOT NULL)`,
    );
  return waitUntil(async () => (await owed()) === 0, timeoutMs, 'every owed delivery to be made');
}

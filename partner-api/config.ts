/** Every setting the API reads from its environment, checked once at start. */
import { z } from 'zod';

import type { RetentionSettings } from './db/retention';

const flag = z.enum(['0', '1', 'true', 'false']).transform((v) => v === '1' || v === 'true');

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('127.0.0.1'),
  ILLUMICHAT_DB_PATH: z.string().default('data/illumichat.db'),
  /** PostgreSQL instead of SQLite (README, "PostgreSQL"): postgres://user:password@host:port/database. */
  ILLUMICHAT_DATABASE_URL: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()))
    .refine((v) => v === undefined || isPostgresUrl(v), {
      message: 'Must be a PostgreSQL URL, postgres://user:password@host:port/database (or unset for SQLite)',
    }),
  /** Connections each instance's requests share on PostgreSQL (db/pg-store.ts), besides the worker's and the listener. */
  ILLUMICHAT_DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(1000).default(16),
  /** How long a request waits for a free connection before it is answered 503 storage_unavailable. */
  ILLUMICHAT_DATABASE_POOL_WAIT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  /** For local development and tests only: allows http:// targets and loopback/private addresses. */
  ILLUMICHAT_ALLOW_PRIVATE_TARGETS: flag.default(false),
  ILLUMICHAT_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(600),
  ILLUMICHAT_RATE_LIMIT_BURST: z.coerce.number().int().positive().default(120),
  /** The public widget and in-app endpoints, per visitor address. */
  ILLUMICHAT_PUBLIC_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(60),
  ILLUMICHAT_PUBLIC_RATE_LIMIT_BURST: z.coerce.number().int().positive().default(20),
  /** Proxies in front of the API whose X-Forwarded-For is believed (0: none; the socket's address is the visitor's). */
  ILLUMICHAT_TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  ILLUMICHAT_DELIVERY_TIMEOUT_MS: z.coerce.number().int().min(100).max(10_000).default(10_000),
  ILLUMICHAT_DELIVERY_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(512),
  /**
   * Delays before each retry in ms, comma-separated, at most 20 (default RETRY_SCHEDULE_MS, Svix's). Empty: no
   * retries, a failed attempt is final at once, so the delivery log's replay can be tried locally in seconds.
   */
  ILLUMICHAT_RETRY_SCHEDULE_MS: z
    .string()
    .regex(/^(\d{1,9}(,\d{1,9}){0,19})?$/, 'Must be up to 20 delays in ms, comma-separated, or empty for none.')
    .transform((v) => (v === '' ? [] : v.split(',').map(Number)))
    .optional(),
  /** Attempts one workspace may have in flight; default a quarter of the concurrency (delivery/slots.ts). */
  ILLUMICHAT_DELIVERY_WORKSPACE_CONCURRENCY: z.coerce.number().int().min(1).max(1000).optional(),
  /** Attempts in flight to one target host (scheme, host, port), all workspaces together; default half. */
  ILLUMICHAT_DELIVERY_HOST_CONCURRENCY: z.coerce.number().int().min(1).max(1000).optional(),
  /** Active subscriptions one workspace may hold (one per Zap on an IllumiChat trigger). */
  ILLUMICHAT_MAX_SUBSCRIPTIONS_PER_WORKSPACE: z.coerce.number().int().min(1).max(100_000).default(100),
  /** Skip the demo workspace on an empty database (tests, production). */
  ILLUMICHAT_NO_DEMO: flag.default(false),
  ILLUMICHAT_LOG: z.enum(['silent', 'info', 'debug']).default('info'),
  /** Retention (db/retention.ts), in days; fractions allowed (0.01 is under 15 minutes, for soak runs). */
  ILLUMICHAT_EVENT_RETENTION_DAYS: z.coerce.number().positive().default(7),
  ILLUMICHAT_DELIVERY_RETENTION_DAYS: z.coerce.number().positive().default(7),
  ILLUMICHAT_RETENTION_BATCH: z.coerce.number().int().min(10).max(10_000).default(500),
  /** A file made before incremental vacuum is rewritten at start only up to this size. */
  ILLUMICHAT_VACUUM_AT_START_MAX_MB: z.coerce.number().min(0).default(1024),
});

export interface Config {
  port: number;
  host: string;
  /** SQLite's file (':memory:' for a throwaway one); unused when databaseUrl is set. */
  dbPath: string;
  /**
   * PostgreSQL's URL (libpq's form, query parameters such as sslmode included) when the API runs on
   * PostgreSQL, for several instances on one database; undefined: SQLite at dbPath. It may hold a password:
   * log it only through redactDatabaseUrl.
   */
  databaseUrl?: string | undefined;
  /**
   * PostgreSQL's connections, per instance: at most `size` for requests, `workerSize` more for the delivery
   * worker (a pool of its own, so neither can starve the other) and one listener; every instance's must fit
   * the server's max_connections. A statement or transaction that finds all of its pool's taken waits up to
   * `waitMs` for one, then fails as a storage fault (503 storage_unavailable, Retry-After). Unused on SQLite.
   */
  databasePool: { size: number; workerSize: number; waitMs: number };
  allowPrivateTargets: boolean;
  /** Per API key. */
  rateLimit: { perMinute: number; burst: number };
  /** The public widget and in-app endpoints, per visitor address: they need no key, and each start fires Zaps. */
  publicRateLimit: { perMinute: number; burst: number };
  /**
   * Active subscriptions per workspace; one more answers 409 subscription_limit_reached. It bounds how many
   * POSTs one event can cause (each active subscription owes one delivery per matching event).
   */
  maxSubscriptionsPerWorkspace: number;
  /** Proxies whose X-Forwarded-For is believed when telling visitors apart (Express's `trust proxy`). */
  trustProxyHops: number;
  delivery: {
    timeoutMs: number;
    /** Attempts in flight at once, across every subscription. */
    concurrency: number;
    /** Attempts in flight at once for one workspace, so one tenant's hanging endpoints hold only its share. */
    perWorkspaceConcurrency: number;
    /** Attempts in flight at once to one target host (its origin), across workspaces. */
    perHostConcurrency: number;
    /** Attempts in flight at once to one subscription, so one slow endpoint cannot take every slot. */
    perSubscriptionConcurrency: number;
    /** How often the worker looks for retries that came due; fresh events wake it at once instead. */
    pollIntervalMs: number;
    /** A claim older than timeoutMs + this belongs to a worker that died: it is claimed again. */
    claimMarginMs: number;
    /** Delay before each retry, in ms: attempt 2 waits retryScheduleMs[0], and so on (Svix's schedule). */
    retryScheduleMs: number[];
    /** ±share of each delay, so retries from many failures do not arrive together. */
    jitter: number;
    /** Bounds on an honoured Retry-After. */
    retryAfterMaxMs: number;
    /** A subscription that has failed without a single success for this long is disabled. */
    disableAfterFailingMs: number;
  };
  /** What is deleted when, and how (db/retention.ts, docs/performance.md "Retention"). */
  retention: RetentionSettings & { vacuumAtStartMaxBytes: number };
  seedDemo: boolean;
  log: 'silent' | 'info' | 'debug';
}

const DAY_MS = 24 * 3_600_000;
/** A claim older than the delivery timeout + this belongs to a process that died (the worker's, a replay's). */
const CLAIM_MARGIN_MS = 2_000;

/** Whether `text` is a URL node-postgres connects to: postgres:// or postgresql://, with a host. */
function isPostgresUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/**
 * `text` (a database URL, valid or not) with its password replaced by `***`, for logs and error messages:
 * `postgres://app:***@db:5432/illumichat`. Text that is not a URL loses everything before its last `@`
 * (where user and password go) and any `password=` value.
 */
export function redactDatabaseUrl(text: string): string {
  // Without `//`, "user:password@host" parses as a URL of scheme "user:" with no password: not trusted.
  if (URL.canParse(text) && text.includes('://')) {
    const url = new URL(text);
    if (url.password !== '') url.password = '***';
    // A password given as a query parameter (libpq allows ?password=…).
    if (url.searchParams.has('password')) url.searchParams.set('password', '***');
    return url.toString();
  }
  const at = text.lastIndexOf('@');
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text)?.[0] ?? '';
  const rest = at < 0 ? text : `${scheme}***@${text.slice(at + 1)}`;
  return rest.replace(/(password=)[^&\s]*/gi, '$1***');
}

export const RETRY_SCHEDULE_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const e = envSchema.parse(env);
  return {
    port: e.PORT,
    host: e.HOST,
    dbPath: e.ILLUMICHAT_DB_PATH,
    databaseUrl: e.ILLUMICHAT_DATABASE_URL,
    // One pool of node-postgres's default 10 let 64 concurrent writes under one API key (each waiting on the
    // key's row lock while holding a connection) queue the delivery worker's statements behind ~57 others
    // (issue 13). 16 for requests and 4 for the worker (its flush, claim, launch and fan-out run at once) make
    // 21 with the listener: 4 instances fit PostgreSQL's default max_connections of 100.
    databasePool: {
      size: e.ILLUMICHAT_DATABASE_POOL_SIZE,
      workerSize: 4,
      waitMs: e.ILLUMICHAT_DATABASE_POOL_WAIT_MS,
    },
    allowPrivateTargets: e.ILLUMICHAT_ALLOW_PRIVATE_TARGETS,
    rateLimit: { perMinute: e.ILLUMICHAT_RATE_LIMIT_PER_MINUTE, burst: e.ILLUMICHAT_RATE_LIMIT_BURST },
    publicRateLimit: {
      perMinute: e.ILLUMICHAT_PUBLIC_RATE_LIMIT_PER_MINUTE,
      burst: e.ILLUMICHAT_PUBLIC_RATE_LIMIT_BURST,
    },
    trustProxyHops: e.ILLUMICHAT_TRUST_PROXY_HOPS,
    maxSubscriptionsPerWorkspace: e.ILLUMICHAT_MAX_SUBSCRIPTIONS_PER_WORKSPACE,
    delivery: {
      timeoutMs: e.ILLUMICHAT_DELIVERY_TIMEOUT_MS,
      concurrency: e.ILLUMICHAT_DELIVERY_CONCURRENCY,
      // Issue 8 §3: one workspace's 16 hanging endpoints held all 256 slots for 10 s at a time. A quarter
      // per workspace keeps 3/4 for everyone else; a host that hangs for every workspace holds half. 512 in
      // all keeps one workspace's 128, what its four subscriptions had before (an eighth of 256, 32, made
      // the bench's 1,000 events/s queue: ~30 ms round trips × 32 ≈ 1,000/s).
      perWorkspaceConcurrency:
        e.ILLUMICHAT_DELIVERY_WORKSPACE_CONCURRENCY ?? Math.ceil(e.ILLUMICHAT_DELIVERY_CONCURRENCY / 4),
      perHostConcurrency: e.ILLUMICHAT_DELIVERY_HOST_CONCURRENCY ?? Math.ceil(e.ILLUMICHAT_DELIVERY_CONCURRENCY / 2),
      // 8 capped one busy Zap at ~250 deliveries/s on loopback (the bench); 32 is a quarter of a
      // workspace's share, so one hanging Zap leaves its workspace's other Zaps room.
      perSubscriptionConcurrency: 32,
      pollIntervalMs: 500,
      claimMarginMs: CLAIM_MARGIN_MS,
      retryScheduleMs: e.ILLUMICHAT_RETRY_SCHEDULE_MS ?? RETRY_SCHEDULE_MS,
      jitter: 0.2,
      retryAfterMaxMs: 3_600_000,
      disableAfterFailingMs: 5 * 24 * 3_600_000,
    },
    retention: {
      eventsMs: e.ILLUMICHAT_EVENT_RETENTION_DAYS * DAY_MS,
      deliveriesMs: e.ILLUMICHAT_DELIVERY_RETENTION_DAYS * DAY_MS,
      batchSize: e.ILLUMICHAT_RETENTION_BATCH,
      // A batch of 500 rows took 10-29 ms of CPU on a million-event file, and every request arriving
      // meanwhile waited for it; 2 ms batches every 10 ms prune as fast while holding a request up a fifth
      // as long (docs/performance.md, "Retention").
      batchBudgetMs: 2,
      intervalMs: 10,
      idleMs: 60_000,
      // 4 MB of free pages stay for the next inserts, so a steady load does not shrink and regrow the file.
      freePagesKept: 1_024,
      vacuumPagesPerBatch: 128,
      claimHeldMs: e.ILLUMICHAT_DELIVERY_TIMEOUT_MS + CLAIM_MARGIN_MS,
      vacuumAtStartMaxBytes: e.ILLUMICHAT_VACUUM_AT_START_MAX_MB * 1024 * 1024,
    },
    seedDemo: !e.ILLUMICHAT_NO_DEMO,
    log: e.ILLUMICHAT_LOG,
    ...overrides,
  };
}

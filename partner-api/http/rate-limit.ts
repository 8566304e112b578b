/**
 * Rate limits per API key (the Zapier-facing API) and per visitor address (the public widget and in-app
 * endpoints; IPv6 per /64, see addressBucket), counted by rate-limiter-flexible. On SQLite (one process) the
 * counts live in the process's memory; on PostgreSQL they live in the `rate_limits` table (migration 012), so
 * every instance behind the load balancer draws on one allowance instead of each granting the whole limit.
 *
 * The library counts in fixed windows, not a token bucket: `burst` requests per window of
 * `burst / perMinute` minutes (defaults: 120 per 12 s per key, 20 per 20 s per address). That is the same
 * burst at once and the same average of `perMinute` a minute; a refused client is told to come back when its
 * window ends (Retry-After), when the whole burst is back. Across a window's end a client can fit two bursts
 * in quick succession, the price of a counter that one atomic upsert keeps correct across instances.
 */
import { createHash } from 'node:crypto';

import type { Request, RequestHandler } from 'express';
import ipaddr from 'ipaddr.js';
import type { Pool } from 'pg';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
} from 'rate-limiter-flexible';

import type { Config } from '../config';
import { ApiError } from '../domain/errors';

/** Where the counts live: this process's memory (SQLite, one process), or PostgreSQL's `rate_limits` table. */
export type RateLimitStore = { engine: 'sqlite' } | { engine: 'postgres'; pool: Pool };

/** The limiters the routes use (http/route-builders.ts). */
export interface RateLimiters {
  perKey: RateLimiterAbstract;
  perAddress: RateLimiterAbstract;
}

/** The table migration 012_rate_limits.pg.sql creates, in the columns RateLimiterPostgres reads and writes. */
export const RATE_LIMIT_TABLE = 'rate_limits';

/**
 * The per-key and per-address limiters for `config.rateLimit` and `config.publicRateLimit` ({ perMinute,
 * burst }), on `store` (default: memory, for SQLite). On PostgreSQL the table must exist (migrations create
 * it; the library is told not to, as two instances starting together would race on CREATE TABLE); if a
 * query fails (the database unreachable), this process's memory counts instead until it answers again, so
 * an outage neither lifts the limit nor turns every request into a 500.
 */
export function createRateLimiters(
  config: Pick<Config, 'rateLimit' | 'publicRateLimit'>,
  store: RateLimitStore = { engine: 'sqlite' },
): RateLimiters {
  return {
    perKey: limiter(store, 'key', config.rateLimit),
    perAddress: limiter(store, 'address', config.publicRateLimit),
  };
}

function limiter(
  store: RateLimitStore,
  keyPrefix: string,
  { perMinute, burst }: { perMinute: number; burst: number },
): RateLimiterAbstract {
  const window = { keyPrefix, points: burst, duration: (burst * 60) / perMinute };
  const memory = new RateLimiterMemory(window);
  if (store.engine === 'sqlite') return memory;
  return new RateLimiterPostgres({
    ...window,
    storeClient: store.pool,
    tableName: RATE_LIMIT_TABLE,
    tableCreated: true,
    // A client over its limit stays refused until its window ends: this instance remembers that, so a flood
    // from one client costs the database nothing.
    inMemoryBlockOnConsumed: burst + 1,
    insuranceLimiter: memory,
  });
}

/** The store's key column is varchar(255): a longer client name (only an unparseable address) counts by its digest. */
function storeKey(client: string): string {
  return client.length <= 200 ? client : `sha256:${createHash('sha256').update(client).digest('hex')}`;
}

/** One request from the client `clientOf` names (none named: not limited), else 429 with Retry-After. */
function rateLimitBy(
  limiter: RateLimiterAbstract,
  clientOf: (req: Request) => string | undefined,
  whose: string,
): RequestHandler {
  return async (req, _res, next) => {
    const client = clientOf(req);
    if (client !== undefined) {
      try {
        await limiter.consume(storeKey(client));
      } catch (refusal) {
        if (!(refusal instanceof RateLimiterRes)) throw refusal;
        const retryAfterSeconds = Math.max(1, Math.ceil(refusal.msBeforeNext / 1000));
        throw new ApiError(429, 'rate_limited', `Too many requests ${whose}. Retry in ${retryAfterSeconds} s.`, {
          headers: { 'Retry-After': String(retryAfterSeconds) },
        });
      }
    }
    next();
  };
}

/** After authentication: limits by API key. */
export const rateLimitByKey = (limiter: RateLimiterAbstract): RequestHandler =>
  rateLimitBy(limiter, (req) => req.apiKey?.keyId, 'with this API key');

/**
 * The bucket a visitor address counts against: an IPv4 address is one visitor; an IPv6 address counts per
 * /64, because a /64 is the smallest prefix a network hands out (RFC 4291 interface identifiers; one home
 * or phone gets a whole /64, RFC 6177) and its owner can pick any of its 2^64 addresses at will. An
 * IPv4-mapped IPv6 address (`::ffff:203.0.113.1`, how a dual-stack socket reports IPv4) is its IPv4
 * address. Returns e.g. `203.0.113.1` or `2001:db8:0:1::/64`; an unparseable address is its own bucket.
 */
export function addressBucket(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const ip = ipaddr.process(address);
  if (ip.kind() === 'ipv4') return ip.toString();
  const prefix = (ip as ipaddr.IPv6).parts.slice(0, 4).concat([0, 0, 0, 0]);
  return `${new ipaddr.IPv6(prefix).toString()}/64`;
}

/** Public endpoints: limits by the visitor's address (req.ip, which honours the configured trusted proxies), per addressBucket. */
export const rateLimitByAddress = (limiter: RateLimiterAbstract): RequestHandler =>
  rateLimitBy(limiter, (req) => addressBucket(req.ip ?? req.socket.remoteAddress ?? 'unknown'), 'from this address');

/**
 * Token buckets: `burst` requests at once, refilled at `perMinute`, per API key (the Zapier-facing API) or
 * per visitor address (the public widget and in-app endpoints; IPv6 per /64, see addressBucket). In memory, per API process: the limit
 * protects this process, and a restart forgiving a burst is harmless.
 */
import type { Request, RequestHandler } from 'express';
import ipaddr from 'ipaddr.js';

import { ApiError } from '../domain/errors';
import type { Clock } from '../lib/clock';

interface Bucket {
  tokens: number;
  updatedMs: number;
}

const PRUNE_ABOVE = 10_000;

export class TokenBucketLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    private readonly clock: Clock,
    perMinute: number,
    private readonly burst: number,
  ) {
    this.perMs = perMinute / 60_000;
  }

  /** Takes one token; when none is left, says how many seconds until one is. */
  take(id: string): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const now = this.clock.now();
    const bucket = this.refill(id, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000)) };
  }

  private refill(id: string, now: number): Bucket {
    let bucket = this.buckets.get(id);
    if (!bucket) {
      if (this.buckets.size >= PRUNE_ABOVE) this.pruneFull(now);
      bucket = { tokens: this.burst, updatedMs: now };
      this.buckets.set(id, bucket);
    }
    const elapsed = Math.max(0, now - bucket.updatedMs);
    bucket.tokens = Math.min(this.burst, bucket.tokens + elapsed * this.perMs);
    bucket.updatedMs = now;
    return bucket;
  }

  /**
   * A bucket that has refilled completely is the same as no bucket. If that is not enough (many addresses
   * at once), the longest-known buckets go: forgetting one forgives its client, which is the safe side of a
   * memory bound.
   */
  private pruneFull(now: number): void {
    for (const [id, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.updatedMs) * this.perMs >= this.burst) this.buckets.delete(id);
    }
    for (const id of this.buckets.keys()) {
      if (this.buckets.size < PRUNE_ABOVE / 2) break;
      this.buckets.delete(id);
    }
  }

  /** How many clients it remembers (tests hold the memory bound). */
  get size(): number {
    return this.buckets.size;
  }
}

/** One token per request from the client `clientOf` names (none named: not limited), else 429 with Retry-After. */
function rateLimitBy(
  limiter: TokenBucketLimiter,
  clientOf: (req: Request) => string | undefined,
  whose: string,
): RequestHandler {
  return (req, _res, next) => {
    const client = clientOf(req);
    if (client !== undefined) {
      const verdict = limiter.take(client);
      if (!verdict.ok) {
        throw new ApiError(
          429,
          'rate_limited',
          `Too many requests ${whose}. Retry in ${verdict.retryAfterSeconds} s.`,
          {
            headers: { 'Retry-After': String(verdict.retryAfterSeconds) },
          },
        );
      }
    }
    next();
  };
}

/** After authentication: limits by API key. */
export const rateLimitByKey = (limiter: TokenBucketLimiter): RequestHandler =>
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
export const rateLimitByAddress = (limiter: TokenBucketLimiter): RequestHandler =>
  rateLimitBy(limiter, (req) => addressBucket(req.ip ?? req.socket.remoteAddress ?? 'unknown'), 'from this address');

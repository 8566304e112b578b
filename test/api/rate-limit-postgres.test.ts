/**
 * The rate limits on PostgreSQL (http/rate-limit.ts, rate-limiter-flexible's RateLimiterPostgres): instances
 * that share one database share one allowance, where per-process counts would allow each instance the whole
 * limit. Each "instance" here has its own pool, as separate processes would.
 *
 * Runs only when ILLUMICHAT_TEST_DATABASE_URL names a PostgreSQL database (the pg-engine branch sets it in
 * CI, from the private cluster .ci/run starts); skipped otherwise. It works in a schema of its own, created
 * by migration 012_rate_limits.pg.sql itself and dropped at the end, so any database will do.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { Pool } from 'pg';
import { RateLimiterRes } from 'rate-limiter-flexible';

import { createRateLimiters, RATE_LIMIT_TABLE, type RateLimitStore } from '../../partner-api/http/rate-limit';
import { api, type ApiServer, startApiServer } from '../support/api-server';

const DATABASE_URL = process.env.ILLUMICHAT_TEST_DATABASE_URL;
const MIGRATION = path.join(__dirname, '../../partner-api/db/migrations/012_rate_limits.pg.sql');

(DATABASE_URL ? describe : describe.skip)('rate limits counted in PostgreSQL', () => {
  const schema = `rate_limit_test_${crypto.randomBytes(6).toString('hex')}`;
  const pools: Pool[] = [];
  /** A pool as one API instance would have, its tables found in the test's schema. */
  const instancePool = () => {
    const pool = new Pool({ connectionString: DATABASE_URL, options: `-c search_path=${schema}` });
    pools.push(pool);
    return pool;
  };
  let admin: Pool;

  beforeAll(async () => {
    admin = new Pool({ connectionString: DATABASE_URL });
    await admin.query(`CREATE SCHEMA ${schema}`);
    await instancePool().query(fs.readFileSync(MIGRATION, 'utf8'));
  });
  beforeEach(() => admin.query(`TRUNCATE ${schema}.${RATE_LIMIT_TABLE}`));
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()));
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  });

  const limits = { rateLimit: { perMinute: 5, burst: 5 }, publicRateLimit: { perMinute: 3, burst: 3 } };
  const onPostgres = (): RateLimitStore => ({ engine: 'postgres', pool: instancePool() });

  it('gives two instances one allowance: of a concurrent burst across both, exactly the limit passes', async () => {
    const one = createRateLimiters(limits, onPostgres()).perKey;
    const two = createRateLimiters(limits, onPostgres()).perKey;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? one : two).consume('key_1')),
    );
    const passed = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
    expect(passed).toHaveLength(5);
    expect(refused).toHaveLength(11);
    for (const refusal of refused) {
      // A refusal, not a database error that the insurance limiter would have hidden.
      expect(refusal).toBeInstanceOf(RateLimiterRes);
      expect((refusal as RateLimiterRes).msBeforeNext).toBeGreaterThan(0);
      expect((refusal as RateLimiterRes).msBeforeNext).toBeLessThanOrEqual(60_000);
    }
    // The count is the database's: at least the five that passed, under the key the routes use.
    const { rows } = await admin.query(`SELECT points FROM ${schema}.${RATE_LIMIT_TABLE} WHERE key = $1`, [
      'key:key_1',
    ]);
    expect(rows[0].points).toBeGreaterThanOrEqual(5);

    // Another key has its own allowance, on either instance.
    await expect(two.consume('key_2')).resolves.toBeInstanceOf(RateLimiterRes);
    // A third instance started now sees the spent allowance too.
    const three = createRateLimiters(limits, onPostgres()).perKey;
    await expect(three.consume('key_1')).rejects.toBeInstanceOf(RateLimiterRes);
  });

  it('over HTTP: a visitor who spent the allowance on one instance gets 429 with Retry-After from the other', async () => {
    const servers: ApiServer[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        servers.push(await startApiServer({ publicRateLimit: limits.publicRateLimit, rateLimitStore: onPostgres() }));
      }
      const starts = await Promise.all(
        servers.map(async (server) => {
          const { assistant } = await server.setup();
          return () => api(server.url).post(`/v1/widget/assistants/${assistant.id}/conversations`, { message: 'Hi' });
        }),
      );
      const [onA, onB] = [starts[0]!, starts[1]!];
      expect([(await onA()).status, (await onB()).status, (await onA()).status]).toEqual([201, 201, 201]);
      const limited = await onB();
      expect(limited.status).toBe(429);
      expect(limited.body.error).toEqual({
        code: 'rate_limited',
        message: expect.stringMatching(/^Too many requests from this address\. Retry in \d+ s\.$/),
      });
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect((await onA()).status).toBe(429);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });
});

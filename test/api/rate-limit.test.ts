/**
 * The rate limits (http/rate-limit.ts): a burst, then 429 rate_limited with Retry-After until the window ends,
 * per API key and per visitor address. rate-limiter-flexible reads the time from Date.now(), so these tests
 * set that clock (jest's fake Date; timers stay real) rather than the app's: every window is a minute or more
 * of that clock, so no real time passes inside one. The store shared by instances: rate-limit-postgres.test.ts.
 */
import net from 'node:net';

import { Pool } from 'pg';
import { RateLimiterRes } from 'rate-limiter-flexible';

import { addressBucket, createRateLimiters } from '../../partner-api/http/rate-limit';
import { api, startApiServer, waitUntil } from '../support/api-server';
import { TEST_EPOCH_MS } from '../support/helpers';

/** Everything but Date stays real: the HTTP server, fetch and the library's own expiry timers. */
beforeEach(() => {
  jest.useFakeTimers({
    now: TEST_EPOCH_MS,
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'requestAnimationFrame',
      'cancelAnimationFrame',
      'requestIdleCallback',
      'cancelIdleCallback',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
    ],
  });
});
afterEach(() => jest.useRealTimers());

const advance = (ms: number) => jest.setSystemTime(Date.now() + ms);

it('allows the burst, then answers 429 rate_limited with Retry-After until the window ends, per key', async () => {
  // 3 a minute in bursts of 3: one window of 60 s.
  const server = await startApiServer({ rateLimit: { perMinute: 3, burst: 3 } });
  try {
    const ws = await server.createWorkspace();
    const a = api(server.url, await server.createKey(ws.id));
    const b = api(server.url, await server.createKey(ws.id));
    for (let i = 0; i < 3; i++) expect((await a.get('/v1/me')).status).toBe(200);
    const limited = await a.get('/v1/me');
    expect(limited.status).toBe(429);
    expect(limited.body.error).toEqual({
      code: 'rate_limited',
      message: 'Too many requests with this API key. Retry in 60 s.',
    });
    expect(limited.headers.get('retry-after')).toBe('60');
    expect((await b.get('/v1/me')).status).toBe(200);

    advance(4_000);
    expect((await a.get('/v1/me')).headers.get('retry-after')).toBe('56');
    advance(55_999);
    const lastMoment = await a.get('/v1/me');
    expect([lastMoment.status, lastMoment.headers.get('retry-after')]).toEqual([429, '1']);
    // The window ends when Retry-After said: the whole burst is back, and no more.
    advance(1);
    for (let i = 0; i < 3; i++) expect((await a.get('/v1/me')).status).toBe(200);
    expect((await a.get('/v1/me')).status).toBe(429);
  } finally {
    await server.close();
  }
});

it('limits writes too, and a limited write changes nothing', async () => {
  const server = await startApiServer({ rateLimit: { perMinute: 1, burst: 1 } });
  try {
    const ws = await server.createWorkspace();
    const zap = api(server.url, await server.createKey(ws.id));
    expect((await zap.post('/v1/tickets', { subject: 'one' })).status).toBe(201);
    const limited = await zap.post('/v1/tickets', { subject: 'two' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
    expect(await server.ctx.db.value('SELECT COUNT(*) FROM tickets')).toBe(1);
  } finally {
    await server.close();
  }
});

it('keeps the configured average: perMinute a minute at most, whatever the burst', async () => {
  // 6 a minute in bursts of 2: windows of 20 s. A client that asks every second gets 6 in each minute.
  const server = await startApiServer({ rateLimit: { perMinute: 6, burst: 2 } });
  try {
    const ws = await server.createWorkspace();
    const zap = api(server.url, await server.createKey(ws.id));
    const allowed: number[] = [];
    for (let second = 0; second < 120; second++) {
      if ((await zap.get('/v1/me')).status === 200) allowed.push(second);
      advance(1_000);
    }
    expect(allowed).toEqual([0, 1, 20, 21, 40, 41, 60, 61, 80, 81, 100, 101]);
  } finally {
    await server.close();
  }
});

describe('the public widget and in-app endpoints, per visitor address', () => {
  it('allow a burst from one address, then 429 rate_limited with Retry-After, and a limited start fires nothing', async () => {
    const server = await startApiServer({ publicRateLimit: { perMinute: 2, burst: 2 } });
    try {
      const { assistant, key } = await server.setup();
      const visitor = api(server.url);
      const start = () => visitor.post(`/v1/widget/assistants/${assistant.id}/conversations`, { message: 'Hi' });
      expect((await start()).status).toBe(201);
      expect((await start()).status).toBe(201);
      const events = async () => await server.ctx.db.value('SELECT COUNT(*) FROM events');
      const before = {
        conversations: await server.ctx.db.value('SELECT COUNT(*) FROM conversations'),
        events: await events(),
      };

      // The lead form and the in-app SDK share the address's allowance: one visitor, one allowance.
      const limited = await visitor.post(`/v1/in-app/assistants/${assistant.id}/conversations`, { message: 'Hi' });
      expect(limited.status).toBe(429);
      expect(limited.body.error).toEqual({
        code: 'rate_limited',
        message: 'Too many requests from this address. Retry in 60 s.',
      });
      expect(limited.headers.get('retry-after')).toBe('60');
      expect({
        conversations: await server.ctx.db.value('SELECT COUNT(*) FROM conversations'),
        events: await events(),
      }).toEqual(before);

      // The Zapier-facing API is limited per key, not per address.
      expect((await api(server.url, key).get('/v1/me')).status).toBe(200);

      advance(60_000);
      expect((await start()).status).toBe(201);
      expect((await start()).status).toBe(201);
      expect((await start()).status).toBe(429);
    } finally {
      await server.close();
    }
  });

  it('tell visitors apart by X-Forwarded-For only behind trusted proxies', async () => {
    const limits = { publicRateLimit: { perMinute: 1, burst: 1 } };
    const direct = await startApiServer({ ...limits });
    const proxied = await startApiServer({ ...limits, config: { trustProxyHops: 1 } });
    try {
      const startFrom = async (server: typeof direct, address: string) => {
        const { assistant } = await server.setup();
        return api(server.url).raw('POST', `/v1/widget/assistants/${assistant.id}/conversations`, {
          body: JSON.stringify({ message: 'Hi' }),
          headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
        });
      };
      // Directly exposed, a header is the visitor's word: naming a new address each time must not help.
      expect((await startFrom(direct, '203.0.113.1')).status).toBe(201);
      expect((await startFrom(direct, '203.0.113.2')).status).toBe(429);
      // Behind our load balancer, its X-Forwarded-For names the visitor: two visitors, two allowances.
      expect((await startFrom(proxied, '203.0.113.1')).status).toBe(201);
      expect((await startFrom(proxied, '203.0.113.2')).status).toBe(201);
      expect((await startFrom(proxied, '203.0.113.1')).status).toBe(429);
      // A name longer than the store's key column (varchar(255)) still counts, as its digest.
      const long = `not-an-address-${'x'.repeat(300)}`;
      expect((await startFrom(proxied, long)).status).toBe(201);
      expect((await startFrom(proxied, long)).status).toBe(429);
      expect((await startFrom(proxied, `${long}y`)).status).toBe(201);
    } finally {
      await direct.close();
      await proxied.close();
    }
  });
});

describe('visitor allowances: IPv4 per address, IPv6 per /64, IPv4-mapped IPv6 as its IPv4', () => {
  it('counts every address of one /64 as one visitor, over HTTP behind a trusted proxy', async () => {
    const server = await startApiServer({
      publicRateLimit: { perMinute: 2, burst: 2 },
      config: { trustProxyHops: 1 },
    });
    try {
      const { assistant } = await server.setup();
      const startFrom = (address: string) =>
        api(server.url).raw('POST', `/v1/widget/assistants/${assistant.id}/conversations`, {
          body: JSON.stringify({ message: 'Hi' }),
          headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
        });
      // A visitor who picks a new interface identifier for each request is still one visitor.
      expect((await startFrom('2001:db8:1:2::1')).status).toBe(201);
      expect((await startFrom('2001:db8:1:2:ffff:ffff:ffff:fffe')).status).toBe(201);
      expect((await startFrom('2001:0DB8:0001:0002:abcd:0:0:9')).status).toBe(429);
      // The next /64 is another visitor.
      expect((await startFrom('2001:db8:1:3::1')).status).toBe(201);
      // IPv4 stays per address, and an IPv4-mapped IPv6 address is that IPv4 address.
      expect((await startFrom('198.51.100.7')).status).toBe(201);
      expect((await startFrom('::ffff:198.51.100.7')).status).toBe(201);
      expect((await startFrom('::ffff:c633:6407')).status).toBe(429);
      expect((await startFrom('198.51.100.8')).status).toBe(201);
    } finally {
      await server.close();
    }
  });

  it.each([
    ['203.0.113.9', '203.0.113.9'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['::FFFF:cb00:7109', '203.0.113.9'],
    ['2001:db8::1', '2001:db8::/64'],
    ['2001:db8:0:0:8000::', '2001:db8::/64'],
    ['2001:db8:0:1::1', '2001:db8:0:1::/64'],
    ['2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff', '2001:db8:aaaa:bbbb::/64'],
    ['fe80::1%eth0', 'fe80::/64'],
    ['::1', '::/64'],
    ['not an address', 'not an address'],
  ])('%s counts as %s', (address, bucket) => {
    expect(addressBucket(address)).toBe(bucket);
  });
});

it('remembers a client in memory only until its window ends', async () => {
  jest.useRealTimers(); // the library forgets on its own timers, in real time
  // Bursts of 5 at 6,000 a minute: windows of 50 ms.
  const { perAddress } = createRateLimiters({
    rateLimit: { perMinute: 1, burst: 1 },
    publicRateLimit: { perMinute: 6_000, burst: 5 },
  });
  const memory = perAddress as unknown as { dump(): { storage: unknown[] } };
  await Promise.all(Array.from({ length: 20_000 }, (_, i) => perAddress.consume(`203.0.${i >> 8}.${i & 255}`)));
  expect(memory.dump().storage.length).toBeGreaterThan(0);
  await waitUntil(() => memory.dump().storage.length === 0, 5_000, 'every window to end');
});

it('on PostgreSQL, counts in this process while the database does not answer: limited, not failing', async () => {
  const closedPort = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const pool = new Pool({ host: '127.0.0.1', port: closedPort, connectionTimeoutMillis: 2_000 });
  try {
    const { perKey } = createRateLimiters(
      { rateLimit: { perMinute: 3, burst: 3 }, publicRateLimit: { perMinute: 1, burst: 1 } },
      { engine: 'postgres', pool },
    );
    for (let i = 0; i < 3; i++) await expect(perKey.consume('k1')).resolves.toBeInstanceOf(RateLimiterRes);
    const refused = await perKey.consume('k1').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimiterRes);
    expect((refused as RateLimiterRes).msBeforeNext).toBe(60_000);
  } finally {
    await pool.end();
  }
});

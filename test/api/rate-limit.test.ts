/** The per-key token bucket: a burst, then 429 with Retry-After, refilled at the configured rate. */
import { addressBucket, TokenBucketLimiter } from '../../partner-api/http/rate-limit';
import { api, startApiServer } from '../support/api-server';
import { testClock } from '../support/helpers';

it('allows the burst, then answers 429 rate_limited with Retry-After, and refills with time, per key', async () => {
  const clock = testClock();
  const server = await startApiServer({ clock, rateLimit: { perMinute: 6, burst: 3 } });
  try {
    const ws = await server.createWorkspace();
    const a = api(server.url, await server.createKey(ws.id));
    const b = api(server.url, await server.createKey(ws.id));
    for (let i = 0; i < 3; i++) expect((await a.get('/v1/me')).status).toBe(200);
    const limited = await a.get('/v1/me');
    expect(limited.status).toBe(429);
    expect(limited.body.error).toEqual({ code: 'rate_limited', message: expect.stringContaining('10 s') });
    // 6 a minute is one token every 10 s.
    expect(limited.headers.get('retry-after')).toBe('10');
    expect((await b.get('/v1/me')).status).toBe(200);

    clock.advance(4_000);
    expect((await a.get('/v1/me')).headers.get('retry-after')).toBe('6');
    clock.advance(6_000);
    expect((await a.get('/v1/me')).status).toBe(200);
    expect((await a.get('/v1/me')).status).toBe(429);
    clock.advance(60_000);
    for (let i = 0; i < 3; i++) expect((await a.get('/v1/me')).status).toBe(200);
    expect((await a.get('/v1/me')).status).toBe(429);
  } finally {
    await server.close();
  }
});

it('limits writes too, and a limited write changes nothing', async () => {
  const server = await startApiServer({ clock: testClock(), rateLimit: { perMinute: 60, burst: 1 } });
  try {
    const ws = await server.createWorkspace();
    const zap = api(server.url, await server.createKey(ws.id));
    expect((await zap.post('/v1/tickets', { subject: 'one' })).status).toBe(201);
    const limited = await zap.post('/v1/tickets', { subject: 'two' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(await server.ctx.db.value('SELECT COUNT(*) FROM tickets')).toBe(1);
  } finally {
    await server.close();
  }
});

describe('the public widget and in-app endpoints, per visitor address', () => {
  it('allow a burst from one address, then 429 rate_limited with Retry-After, and a limited start fires nothing', async () => {
    const clock = testClock();
    const server = await startApiServer({ clock, publicRateLimit: { perMinute: 6, burst: 2 } });
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

      // The lead form and the in-app SDK share the address's bucket: one visitor, one allowance.
      const limited = await visitor.post(`/v1/in-app/assistants/${assistant.id}/conversations`, { message: 'Hi' });
      expect(limited.status).toBe(429);
      expect(limited.body.error).toEqual({
        code: 'rate_limited',
        message: 'Too many requests from this address. Retry in 10 s.',
      });
      expect(limited.headers.get('retry-after')).toBe('10');
      expect({
        conversations: await server.ctx.db.value('SELECT COUNT(*) FROM conversations'),
        events: await events(),
      }).toEqual(before);

      // The Zapier-facing API is limited per key, not per address.
      expect((await api(server.url, key).get('/v1/me')).status).toBe(200);

      clock.advance(10_000);
      expect((await start()).status).toBe(201);
      expect((await start()).status).toBe(429);
    } finally {
      await server.close();
    }
  });

  it('tell visitors apart by X-Forwarded-For only behind trusted proxies', async () => {
    const limits = { publicRateLimit: { perMinute: 60, burst: 1 } };
    const direct = await startApiServer({ clock: testClock(), ...limits });
    const proxied = await startApiServer({ clock: testClock(), ...limits, config: { trustProxyHops: 1 } });
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
    } finally {
      await direct.close();
      await proxied.close();
    }
  });
});

describe('visitor buckets: IPv4 per address, IPv6 per /64, IPv4-mapped IPv6 as its IPv4', () => {
  it('counts every address of one /64 as one visitor, over HTTP behind a trusted proxy', async () => {
    const server = await startApiServer({
      clock: testClock(),
      publicRateLimit: { perMinute: 60, burst: 2 },
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

it('remembers a bounded number of clients, forgetting the longest-known first', () => {
  const limiter = new TokenBucketLimiter(testClock(), 60, 5);
  for (let i = 0; i < 50_000; i++) limiter.take(`203.0.${i >> 8}.${i & 255}`);
  expect(limiter.size).toBeLessThanOrEqual(10_000);
  // The most recent client is still remembered: one of its burst of 5 is spent, 4 are left.
  for (let i = 0; i < 4; i++) expect(limiter.take('203.0.195.79').ok).toBe(true);
  expect(limiter.take('203.0.195.79').ok).toBe(false);
});

/** The per-key token bucket: a burst, then 429 with Retry-After, refilled at the configured rate. */
import { api, manualClock, startApiServer } from '../support/api-server';

it('allows the burst, then answers 429 rate_limited with Retry-After, and refills with time, per key', async () => {
  const clock = manualClock();
  const server = await startApiServer({ clock, rateLimit: { perMinute: 6, burst: 3 } });
  try {
    const ws = server.createWorkspace();
    const a = api(server.url, server.createKey(ws.id));
    const b = api(server.url, server.createKey(ws.id));
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
  const server = await startApiServer({ clock: manualClock(), rateLimit: { perMinute: 60, burst: 1 } });
  try {
    const ws = server.createWorkspace();
    const zap = api(server.url, server.createKey(ws.id));
    expect((await zap.post('/v1/tickets', { subject: 'one' })).status).toBe(201);
    const limited = await zap.post('/v1/tickets', { subject: 'two' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(server.ctx.db.prepare('SELECT COUNT(*) FROM tickets').pluck().get()).toBe(1);
  } finally {
    await server.close();
  }
});

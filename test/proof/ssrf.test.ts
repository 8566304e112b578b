/**
 * SSRF, proved through the API: POST /v1/subscriptions refuses every non-public target when private targets
 * are not allowed (and stores nothing), accepts them when they are, and a target stored while allowed is
 * refused again at connect time once it is not: a refused attempt is recorded and nothing is sent.
 * test/delivery/target-policy.test.ts covers the classifier itself; this is the system seen from outside.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { loadConfig } from '../../partner-api/config';
import { api, type ApiServer, startApiServer, waitUntil } from '../support/api-server';
import { valueAt } from '../support/items';
import { type Receiver, startReceiver } from '../support/receiver';
import { isErrorShape, snapshot } from './support/state';

/** Each refused target and a word its reason must contain. */
const REFUSED: [url: string, reason: RegExp][] = [
  ['http://93.184.215.14/hook', /must use https/],
  ['http://127.0.0.1:8080/hook', /must use https/],
  ['https://127.0.0.1/hook', /127\.0\.0\.1, a loopback address/],
  ['https://127.9.9.9/hook', /loopback/],
  ['https://10.0.0.8/hook', /private/],
  ['https://172.16.0.1/hook', /private/],
  ['https://172.31.255.254/hook', /private/],
  ['https://192.168.1.20/hook', /private/],
  ['https://169.254.169.254/latest/meta-data/iam', /link-local/],
  ['https://100.64.0.1/hook', /carrier-grade NAT/],
  ['https://100.127.255.254/hook', /carrier-grade NAT/],
  ['https://0.0.0.0/hook', /this network/],
  ['https://[::1]/hook', /::1, a loopback address/],
  ['https://[::]/hook', /unspecified/],
  ['https://[fc00::1]/hook', /unique-local/],
  ['https://[fdff:ffff::1]/hook', /unique-local/],
  ['https://[fe80::1]/hook', /link-local/],
  ['https://2130706433/hook', /127\.0\.0\.1, a loopback address/], // decimal
  ['https://0177.0.0.1/hook', /127\.0\.0\.1, a loopback address/], // octal
  ['https://0x7f.0.0.1/hook', /127\.0\.0\.1, a loopback address/], // hex
  ['https://0x7f000001/hook', /127\.0\.0\.1, a loopback address/], // one hex number
  ['https://127.1/hook', /127\.0\.0\.1, a loopback address/], // short
  ['https://10.1/hook', /10\.0\.0\.1, a private address/], // short
  ['https://0xa9.0xfe.0xa9.0xfe/hook', /169\.254\.169\.254, a link-local address/],
  ['https://025177524776/hook', /169\.254\.169\.254, a link-local address/], // one octal number
  ['https://[::ffff:127.0.0.1]/hook', /IPv4-mapped 127\.0\.0\.1.*loopback/],
  ['https://[::ffff:a9fe:a9fe]/hook', /IPv4-mapped 169\.254\.169\.254.*link-local/],
  ['https://[::ffff:10.0.0.1]/hook', /IPv4-mapped 10\.0\.0\.1.*private/],
  ['https://localhost/hook', /host localhost resolves to .*loopback/],
  ['https://LocalHost:8443/hook', /host localhost resolves to .*loopback/],
  // Whether the resolver takes the trailing dot varies by machine; refused either way.
  ['https://localhost.:8443/hook', /host localhost\. (resolves to .*loopback|does not resolve)/],
  ['https://user:pw@93.184.215.14/hook', /user name or password/],
  ['not a url', /not a valid URL/],
  ['file:///etc/passwd', /must use https/],
  ['gopher://127.0.0.1:25/', /must use https/],
];

/** Public targets (literal, so no DNS is needed offline): the refusal is not a blanket one. */
const PUBLIC = [
  'https://93.184.215.14/hooks/catch/1/abc',
  'https://[2606:4700::1111]/hook',
  'https://8.8.8.8:8443/x?y=1',
];

const dirs: string[] = [];
const servers: ApiServer[] = [];
const receivers: Receiver[] = [];
const closers: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const rx of receivers) await rx.close();
  for (const s of servers) await s.close();
  for (const close of closers) await close();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

async function start(opts: Parameters<typeof startApiServer>[0]): Promise<ApiServer> {
  const server = await startApiServer(opts);
  servers.push(server);
  return server;
}

describe('POST /v1/subscriptions with private targets not allowed', () => {
  let server: ApiServer;
  let key: string;
  beforeAll(async () => {
    server = await start({ allowPrivateTargets: false });
    ({ key } = await server.setup());
  });

  it.each(REFUSED)('refuses %s with 422 target_url_refused and stores nothing', async (url, reason) => {
    const before = await snapshot(server.ctx.db);
    const res = await api(server.url, key).post(
      '/v1/subscriptions',
      { event_type: 'lead.captured', target_url: url },
      { 'Idempotency-Key': `ssrf-${url}` },
    );
    expect(res.status).toBe(422);
    expect(isErrorShape(res.body)).toBe(true);
    expect(res.body.error.code).toBe('target_url_refused');
    expect(res.body.error.details).toEqual([{ path: 'target_url', message: expect.stringMatching(reason) }]);
    // Nothing stored, and the Idempotency-Key was released (a corrected retry may use it).
    expect(await snapshot(server.ctx.db)).toEqual(before);
  });

  it.each(PUBLIC)('accepts the public target %s', async (url) => {
    const res = await api(server.url, key).post('/v1/subscriptions', { event_type: 'lead.captured', target_url: url });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ targetUrl: url, active: true });
  });
});

describe('POST /v1/subscriptions with ILLUMICHAT_ALLOW_PRIVATE_TARGETS=1', () => {
  it('accepts http and every private or loopback address (but still no other scheme or credentials)', async () => {
    const server = await start({ allowPrivateTargets: true });
    const { key } = await server.setup();
    for (const [url] of REFUSED) {
      const res = await api(server.url, key).post('/v1/subscriptions', {
        event_type: 'lead.captured',
        target_url: url,
      });
      const alwaysRefused = /^(file|gopher):|^not a url|user:pw@/.test(url);
      expect({ url, status: res.status }).toEqual({ url, status: alwaysRefused ? 422 : 201 });
    }
  });
});

describe('the connect-time re-check', () => {
  it('refuses at delivery time a target stored while private targets were allowed: a refused attempt, nothing sent', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'illumichat-ssrf-'));
    dirs.push(dir);
    const dbPath = path.join(dir, 'api.db');
    // http targets point at a receiver; https ones at a bare TCP listener that counts connections, since a
    // TLS handshake never becomes an HTTP request a receiver could record.
    const rx = await startReceiver();
    receivers.push(rx);
    let connections = 0;
    const tcp = net.createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => tcp.close(() => resolve())));
    const tls = (tcp.address() as net.AddressInfo).port;
    const delivery = {
      ...loadConfig({}).delivery,
      pollIntervalMs: 50,
      retryScheduleMs: [100, 100, 100, 100, 100],
      jitter: 0,
    };

    // Stored while allowed, as in development: each points at a local listener.
    const open = await start({ allowPrivateTargets: true, dbPath });
    const { key } = await open.setup();
    const targets = {
      literal: `https://127.0.0.1:${tls}/hook`,
      decimal: `https://2130706433:${tls}/hook`,
      mapped: `https://[::ffff:127.0.0.1]:${tls}/hook`,
      byName: `https://localhost:${tls}/hook`,
      plainHttp: `http://127.0.0.1:${rx.port}/hook`,
      plainHttpByName: `http://localhost:${rx.port}/hook`,
    };
    const subs: Record<string, string> = {};
    for (const [name, url] of Object.entries(targets)) {
      const res = await api(open.url, key).post('/v1/subscriptions', { event_type: 'ticket.created', target_url: url });
      expect(res.status).toBe(201);
      subs[name] = res.body.id;
    }
    await open.close();

    // The same database, now strict, with the delivery worker running.
    const strict = await start({ allowPrivateTargets: false, dbPath, delivery: true, config: { delivery } });
    const created = await api(strict.url, key).post('/v1/tickets', { subject: 'Delivered nowhere private' });
    expect(created.status).toBe(201);
    const attempts = async (server: ApiServer, subscriptionId: string) =>
      await server.ctx.db.all<{ outcome: string; status_code: number | null; error: string }>(
        `SELECT a.outcome, a.status_code, a.error FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
            WHERE d.subscription_id = ? ORDER BY a.started_at, a.attempt`,
        subscriptionId,
      );
    // Two attempts each: the first, and a retry that is refused again.
    await waitUntil(
      async () =>
        (await Promise.all(Object.values(subs).map((id) => attempts(strict, id)))).every((a) => a.length >= 2),
      10_000,
      'two attempts per subscription',
    );
    const expected: Record<string, RegExp> = {
      literal: /^target_url points at 127\.0\.0\.1, a loopback address$/,
      decimal: /^target_url points at 127\.0\.0\.1, a loopback address$/,
      mapped: /^target_url points at ::ffff:7f00:1 \(IPv4-mapped 127\.0\.0\.1\), a loopback address$/,
      byName: /^target_url host localhost resolves to .*a loopback address$/,
      plainHttp: /^target_url must use https$/,
      plainHttpByName: /^target_url must use https$/,
    };
    for (const [name, id] of Object.entries(subs)) {
      for (const attempt of await attempts(strict, id)) {
        expect({ name, ...attempt }).toEqual({
          name,
          outcome: 'refused',
          status_code: null,
          error: expect.stringMatching(valueAt(expected, name)),
        });
      }
    }
    expect(rx.requests).toHaveLength(0);
    expect(connections).toBe(0);
    await strict.close();

    // Allowed again: the plain-http targets get the same event on their next retry. The https ones now
    // connect (and fail the TLS handshake with a plain-http receiver): the refusal was the policy's alone.
    const reopened = await start({ allowPrivateTargets: true, dbPath, delivery: true, config: { delivery } });
    const eventId = await reopened.ctx.db.value(`SELECT id FROM events WHERE type = 'ticket.created'`);
    const status = async (id: string) =>
      await reopened.ctx.db.value('SELECT status FROM deliveries WHERE subscription_id = ?', id);
    await waitUntil(
      async () =>
        (await status(valueAt(subs, 'plainHttp'))) === 'succeeded' &&
        (await status(valueAt(subs, 'plainHttpByName'))) === 'succeeded',
      10_000,
      'http deliveries',
    );
    await waitUntil(() => connections >= 3, 10_000, 'the https targets to be connected to');
    expect(rx.requests.map((r) => r.headers['webhook-id'])).toEqual([eventId, eventId]);
  });
});

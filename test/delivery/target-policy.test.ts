import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { checkTarget, createLookup, type Resolve, TargetRefusedError } from '../../partner-api/net/target-policy';

const strict = { allowPrivate: false };
const resolvesTo =
  (...addresses: string[]): Resolve =>
  () =>
    Promise.resolve(addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));

describe('checkTarget: scheme and shape', () => {
  it('accepts an https URL on a public address', async () => {
    await expect(checkTarget('https://93.184.215.14/hooks/standard/1/abc', strict)).resolves.toEqual({ ok: true });
    await expect(checkTarget('https://[2606:4700::1111]/hook', strict)).resolves.toEqual({ ok: true });
    await expect(
      checkTarget('https://hooks.zapier.com/hooks/standard/1/abc', { ...strict, resolve: resolvesTo('54.86.10.1') }),
    ).resolves.toEqual({ ok: true });
  });

  it.each([
    ['http://93.184.215.14/hook', 'target_url must use https'],
    ['ftp://93.184.215.14/hook', 'target_url must use https'],
    ['not a url', 'target_url is not a valid URL'],
    ['https://user:pw@93.184.215.14/hook', 'target_url must not contain a user name or password'],
    ['https://user@93.184.215.14/hook', 'target_url must not contain a user name or password'],
    [`https://93.184.215.14/${'a'.repeat(2100)}`, 'target_url is longer than 2048 characters'],
    ['https://:pw@93.184.215.14/hook', 'target_url must not contain a user name or password'],
  ])('refuses %s', async (url, reason) => {
    await expect(checkTarget(url, strict)).resolves.toEqual({ ok: false, reason });
  });

  it('takes a URL of exactly 2048 characters', async () => {
    const base = 'https://93.184.215.14/';
    await expect(checkTarget(base + 'a'.repeat(2048 - base.length), strict)).resolves.toEqual({ ok: true });
    await expect(checkTarget(base + 'a'.repeat(2049 - base.length), strict)).resolves.toEqual({
      ok: false,
      reason: 'target_url is longer than 2048 characters',
    });
  });
});

describe('checkTarget: literal addresses in every spelling', () => {
  it.each([
    ['https://127.0.0.1/', '127.0.0.1, a loopback address'],
    ['https://2130706433/', '127.0.0.1, a loopback address'], // decimal
    ['https://0177.0.0.1/', '127.0.0.1, a loopback address'], // octal
    ['https://0x7f.1/', '127.0.0.1, a loopback address'], // hex, short
    ['https://0x7f000001/', '127.0.0.1, a loopback address'],
    ['https://127.1/', '127.0.0.1, a loopback address'], // short
    ['https://127.0.0.1./', '127.0.0.1, a loopback address'], // trailing dot
    ['https://0.0.0.0/', '0.0.0.0, a "this network" address'],
    ['https://10.0.0.5/', '10.0.0.5, a private address'],
    ['https://172.16.0.1/', '172.16.0.1, a private address'],
    ['https://172.31.255.255/', '172.31.255.255, a private address'],
    ['https://192.168.1.1/', '192.168.1.1, a private address'],
    ['https://169.254.169.254/latest/meta-data', '169.254.169.254, a link-local address'],
    ['https://100.64.0.1/', '100.64.0.1, a shared (carrier-grade NAT) address'],
    ['https://100.127.255.254/', '100.127.255.254, a shared (carrier-grade NAT) address'],
    ['https://224.0.0.1/', '224.0.0.1, a multicast address'],
    ['https://255.255.255.255/', '255.255.255.255, the broadcast address'],
    ['https://240.0.0.1/', '240.0.0.1, a reserved address'],
    ['https://192.0.2.10/', '192.0.2.10, a documentation address'],
    ['https://198.18.0.1/', '198.18.0.1, a benchmarking address'],
    ['https://[::1]/', '::1, a loopback address'],
    ['https://[::]/', '::, an unspecified address'],
    ['https://[fc00::1]/', 'fc00::1, a unique-local (private) address'],
    ['https://[fd12:3456::1]/', 'fd12:3456::1, a unique-local (private) address'],
    ['https://[fe80::1]/', 'fe80::1, a link-local address'],
    ['https://[ff02::1]/', 'ff02::1, a multicast address'],
    ['https://[2001:db8::1]/', '2001:db8::1, a documentation address'],
    ['https://[::ffff:127.0.0.1]/', '::ffff:7f00:1 (IPv4-mapped 127.0.0.1), a loopback address'],
    ['https://[::ffff:7f00:1]/', '::ffff:7f00:1 (IPv4-mapped 127.0.0.1), a loopback address'],
    ['https://[::ffff:169.254.169.254]/', '::ffff:a9fe:a9fe (IPv4-mapped 169.254.169.254), a link-local address'],
    ['https://[64:ff9b::10.0.0.1]/', '64:ff9b::a00:1 (NAT64 10.0.0.1), a private address'],
    ['https://[2002:c0a8:101::1]/', '2002:c0a8:101::1 (6to4 192.168.1.1), a private address'],
    ['https://[::127.0.0.1]/', '::7f00:1, a reserved (IPv4-compatible) address'],
  ])('refuses %s', async (url, what) => {
    await expect(checkTarget(url, strict)).resolves.toEqual({ ok: false, reason: `target_url points at ${what}` });
  });
});

describe('checkTarget: hostnames', () => {
  it('refuses a name when any of its addresses is not public', async () => {
    const verdict = await checkTarget('https://hooks.example.com/x', {
      ...strict,
      resolve: resolvesTo('54.86.10.1', '10.0.0.5'),
    });
    expect(verdict).toEqual({
      ok: false,
      reason: 'target_url host hooks.example.com resolves to 10.0.0.5, a private address',
    });
  });

  it('refuses localhost through the system resolver', async () => {
    const verdict = await checkTarget('https://localhost:8443/x', strict);
    expect(verdict).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^target_url host localhost resolves to .*a loopback address$/),
    });
  });

  it('refuses a name that does not resolve', async () => {
    const notFound: Resolve = () => Promise.reject(Object.assign(new Error('nope'), { code: 'ENOTFOUND' }));
    await expect(checkTarget('https://nowhere.invalid/x', { ...strict, resolve: notFound })).resolves.toEqual({
      ok: false,
      reason: 'target_url host nowhere.invalid does not resolve',
    });
  });

  it('refuses a name whose DNS answer is empty, as one that does not resolve', async () => {
    await expect(checkTarget('https://empty.example/x', { ...strict, resolve: resolvesTo() })).resolves.toEqual({
      ok: false,
      reason: 'target_url host empty.example does not resolve',
    });
  });

  it('tells a name with no address apart from a lookup that failed and may work later', async () => {
    const failing =
      (code?: string): Resolve =>
      () =>
        Promise.reject(Object.assign(new Error('lookup failed'), code ? { code } : {}));
    await expect(checkTarget('https://nodata.example/x', { ...strict, resolve: failing('ENODATA') })).resolves.toEqual({
      ok: false,
      reason: 'target_url host nodata.example does not resolve',
    });
    await expect(checkTarget('https://flaky.example/x', { ...strict, resolve: failing('EAI_AGAIN') })).resolves.toEqual(
      { ok: false, reason: 'target_url host flaky.example could not be resolved (EAI_AGAIN); try again' },
    );
    await expect(checkTarget('https://odd.example/x', { ...strict, resolve: failing() })).resolves.toEqual({
      ok: false,
      reason: 'target_url host odd.example could not be resolved (error); try again',
    });
  });

  it('takes a name whose every address is public, and names the first one that is not', async () => {
    await expect(
      checkTarget('https://hooks.example.com/x', { ...strict, resolve: resolvesTo('54.86.10.1', '2606:4700::1111') }),
    ).resolves.toEqual({ ok: true });
    await expect(
      checkTarget('https://hooks.example.com/x', {
        ...strict,
        resolve: resolvesTo('54.86.10.1', 'fe80::1', '10.0.0.5'),
      }),
    ).resolves.toEqual({
      ok: false,
      reason: 'target_url host hooks.example.com resolves to fe80::1, a link-local address',
    });
  });

  it('with allowPrivate takes http and local addresses but still refuses other schemes and credentials', async () => {
    const open = { allowPrivate: true };
    await expect(checkTarget('http://127.0.0.1:4000/hook', open)).resolves.toEqual({ ok: true });
    await expect(checkTarget('http://localhost:4000/hook', open)).resolves.toEqual({ ok: true });
    await expect(checkTarget('https://10.0.0.5/hook', open)).resolves.toEqual({ ok: true });
    await expect(checkTarget('ftp://127.0.0.1/hook', open)).resolves.toMatchObject({ ok: false });
    await expect(checkTarget('http://a:b@127.0.0.1/hook', open)).resolves.toMatchObject({ ok: false });
  });
});

describe('createLookup: the answer a connection gets', () => {
  type Answer = { err: NodeJS.ErrnoException | null; address: unknown; family?: number | undefined };
  const ask = (lookup: ReturnType<typeof createLookup>, options: object): Promise<Answer> =>
    new Promise((resolve) => {
      lookup('dual.example', options, (err: NodeJS.ErrnoException | null, address: unknown, family?: number) =>
        resolve({ err, address, family }),
      );
    });
  const dual = createLookup({ guard: true, resolve: resolvesTo('54.86.10.1', '2606:4700::1111', '93.184.215.14') });
  const v6first = createLookup({ guard: true, resolve: resolvesTo('2606:4700::1111', '54.86.10.1') });

  it('hands back the first address, or the first of the family asked for (by number or by name)', async () => {
    await expect(ask(dual, {})).resolves.toEqual({ err: null, address: '54.86.10.1', family: 4 });
    await expect(ask(v6first, {})).resolves.toEqual({ err: null, address: '2606:4700::1111', family: 6 });
    await expect(ask(v6first, { family: 4 })).resolves.toEqual({ err: null, address: '54.86.10.1', family: 4 });
    await expect(ask(v6first, { family: 'IPv4' })).resolves.toEqual({ err: null, address: '54.86.10.1', family: 4 });
    await expect(ask(dual, { family: 6 })).resolves.toEqual({ err: null, address: '2606:4700::1111', family: 6 });
    await expect(ask(dual, { family: 'IPv6' })).resolves.toEqual({ err: null, address: '2606:4700::1111', family: 6 });
    await expect(ask(dual, { family: 0 })).resolves.toEqual({ err: null, address: '54.86.10.1', family: 4 });
  });

  it('hands back every address of the family asked for when Node asks for all (family racing)', async () => {
    await expect(ask(dual, { all: true })).resolves.toMatchObject({
      err: null,
      address: [
        { address: '54.86.10.1', family: 4 },
        { address: '2606:4700::1111', family: 6 },
        { address: '93.184.215.14', family: 4 },
      ],
    });
    await expect(ask(dual, { all: true, family: 4 })).resolves.toMatchObject({
      err: null,
      address: [
        { address: '54.86.10.1', family: 4 },
        { address: '93.184.215.14', family: 4 },
      ],
    });
  });

  it('answers ENOTFOUND when no address of the family asked for exists', async () => {
    const v4only = createLookup({ guard: true, resolve: resolvesTo('54.86.10.1') });
    const { err } = await ask(v4only, { family: 6 });
    expect(err).toMatchObject({ code: 'ENOTFOUND', message: 'dual.example does not resolve' });
    expect((await ask(createLookup({ guard: true, resolve: resolvesTo() }), {})).err).toMatchObject({
      code: 'ENOTFOUND',
    });
  });

  it('refuses when any address is not public, even one of the family not asked for', async () => {
    const mixed = createLookup({ guard: true, resolve: resolvesTo('54.86.10.1', '::1') });
    const { err } = await ask(mixed, { family: 4 });
    expect(err).toBeInstanceOf(TargetRefusedError);
    expect(err).toMatchObject({
      code: 'ERR_TARGET_REFUSED',
      message: 'dual.example resolves to ::1, a loopback address',
    });
    const open = createLookup({ guard: false, resolve: resolvesTo('54.86.10.1', '::1') });
    await expect(ask(open, { family: 6 })).resolves.toEqual({ err: null, address: '::1', family: 6 });
  });

  it('passes a resolver failure on unchanged', async () => {
    const failure = Object.assign(new Error('servfail'), { code: 'ESERVFAIL' });
    const failing = createLookup({ guard: true, resolve: async () => Promise.reject(failure) });
    await expect(ask(failing, {})).resolves.toMatchObject({ err: failure });
  });
});

describe('the connect-time guard', () => {
  let server: http.Server;
  let port: number;
  let hits = 0;

  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      hits += 1;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    hits = 0;
  });

  function get(host: string, lookup: ReturnType<typeof createLookup>): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host, port, path: '/', lookup, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('refuses a name that now resolves to loopback (DNS rebinding), before any byte is sent', async () => {
    const rebound = createLookup({ guard: true, resolve: resolvesTo('127.0.0.1') });
    await expect(get('public-at-subscribe-time.example', rebound)).rejects.toMatchObject({
      code: 'ERR_TARGET_REFUSED',
      message: 'public-at-subscribe-time.example resolves to 127.0.0.1, a loopback address',
    });
    await expect(get('localhost', createLookup({ guard: true }))).rejects.toMatchObject({ code: 'ERR_TARGET_REFUSED' });
    expect(hits).toBe(0);
  });

  it('connects when the guard is off (allowPrivate)', async () => {
    const open = createLookup({ guard: false, resolve: resolvesTo('127.0.0.1') });
    await expect(get('anything.example', open)).resolves.toBe(200);
    expect(hits).toBe(1);
  });
});

/**
 * `npm start` as a process: the demo workspace and its key printed once on an empty database and never
 * again, the delivery worker running in it, and a graceful stop on SIGTERM. On the run's engine: a SQLite
 * file, or a PostgreSQL database given in ILLUMICHAT_DATABASE_URL (test/support/test-store.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

import { api, waitUntil } from '../support/api-server';
import { at } from '../support/items';
import { startReceiver } from '../support/receiver';
import { databaseEnv, newTestDatabase } from '../support/test-store';

const ROOT = path.join(__dirname, '..', '..');
const TS_NODE = require.resolve('ts-node/dist/bin.js');

interface Running {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

async function start(env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, [TS_NODE, '--transpile-only', 'partner-api/server.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      ILLUMICHAT_ALLOW_PRIVATE_TARGETS: '1',
      ILLUMICHAT_LOG: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  child.stderr.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await waitUntil(
    () => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out)?.[1],
    20_000,
    'the server to listen',
  );
  return { child, url, stdout: () => out, exited };
}

async function stop(running: Running): Promise<number | null> {
  running.child.kill('SIGTERM');
  return running.exited;
}

const keysIn = (text: string) => text.match(/^wsk_live_[0-9A-Za-z]{38}$/gm) ?? [];

it('seeds the demo workspace once, prints its key once, delivers, and stops cleanly', async () => {
  const dbPath = await newTestDatabase();
  const first = await start(databaseEnv(dbPath));
  const [key] = keysIn(first.stdout());
  expect(keysIn(first.stdout())).toHaveLength(1);
  expect(first.stdout()).toMatch(/shown ONCE/);
  // How to open Settings as the demo workspace's owner: a one-time sign-in link on this server's address.
  const link = /^\s+(http:\/\/127\.0\.0\.1:\d+\/sign-in\?token=sgn_tok_[\w-]+)$/m.exec(first.stdout())?.[1];
  expect(first.stdout()).toMatch(/Settings .*sign in as the owner, Sam Rivera/);
  // The command for a new link names this server's address: the admin CLI alone would default to port 3000,
  // which is another server (or none) when the API was started with PORT.
  const again = /A new link: (\.\/dev admin agent sign-in-link agt_\w+.*)$/m.exec(first.stdout())?.[1];
  expect(again).toBe(`./dev admin agent sign-in-link ${/agt_\w+/.exec(again ?? '')?.[0]} --base-url ${first.url}`);
  const token = new URL(link!).searchParams.get('token')!;
  expect(new URL(link!).origin).toBe(first.url);
  const signIn = await fetch(`${first.url}/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    body: new URLSearchParams({ token }),
  });
  expect(signIn.status).toBe(303);
  expect(first.stdout().match(/agt_tok_[0-9A-Za-z]+/g)).toHaveLength(2);
  expect(first.stdout()).toMatch(
    /^Lost them\? \.\/dev admin key create --workspace ws_\w+ --scopes events:read,contacts:write,tickets:write,chat:write/m,
  );

  const zap = api(first.url, key);
  const me = await zap.get('/v1/me');
  expect(me.body).toMatchObject({
    name: 'Demo Workspace',
    plan: 'pro',
    key: { scopes: ['events:read', 'contacts:write', 'tickets:write', 'chat:write'] },
  });
  expect((await zap.get('/v1/assistants')).body.data).toHaveLength(2);

  // The worker runs in the server: a subscription receives the event its change caused.
  const receiver = await startReceiver();
  try {
    await zap.post('/v1/subscriptions', { event_type: 'lead.captured', target_url: receiver.url });
    await zap.post('/v1/contacts', { email: 'first.lead@example.com' });
    const delivery = at(await receiver.waitFor(1, 10_000), 0);
    expect(delivery.json()).toMatchObject({ email: 'first.lead@example.com', source: 'api', isNew: true });
  } finally {
    await receiver.close();
  }

  expect(await stop(first)).toBe(0);
  expect(first.stdout()).toMatch(/"message":"stopped"/);

  const second = await start(databaseEnv(dbPath));
  try {
    expect(keysIn(second.stdout())).toEqual([]);
    expect(second.stdout()).not.toMatch(/agt_tok_/);
    expect(
      (await api(second.url, key).get('/v1/me', { 'X-IllumiChat-Zapier-Operation': 'authentication.test' })).status,
    ).toBe(200);
    // The request log, as the process writes it at the default level: one JSON line, no credential.
    const line = await waitUntil(
      () =>
        second
          .stdout()
          .split('\n')
          .find((l) => l.includes('"message":"request"')),
      5000,
      'the request line',
    );
    expect(JSON.parse(line)).toMatchObject({
      level: 'info',
      method: 'GET',
      route: '/v1/me',
      status: 200,
      keyId: expect.stringMatching(/^key_/),
      zapierOperation: 'authentication.test',
    });
    expect(second.stdout()).not.toContain(key);
  } finally {
    expect(await stop(second)).toBe(0);
  }
}, 60_000);

it('seeds nothing with ILLUMICHAT_NO_DEMO=1', async () => {
  const running = await start({ ...databaseEnv(await newTestDatabase()), ILLUMICHAT_NO_DEMO: '1' });
  try {
    expect(keysIn(running.stdout())).toEqual([]);
    expect((await api(running.url).get('/healthz')).body).toEqual({ ok: true });
  } finally {
    expect(await stop(running)).toBe(0);
  }
}, 30_000);

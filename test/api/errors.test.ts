/** The one error shape, for everything that can go wrong before or after a handler runs. */
import net from 'node:net';

import { KEYED_ENDPOINTS } from '../support/api-endpoints';
import { tableCounts } from '../support/api-events';
import { api, type ApiServer, startApiServer } from '../support/api-server';

let server: ApiServer;
let key: string;

beforeAll(async () => {
  server = await startApiServer();
  ({ key } = await server.setup());
});
afterAll(async () => await server.close());

const authed = () => ({ authorization: `Bearer ${key}` });

function expectErrorShape(body: any, code: string): void {
  expect(body).toEqual({ error: expect.objectContaining({ code, message: expect.any(String) }) });
  expect(Object.keys(body.error).sort()).toEqual(expect.arrayContaining(['code', 'message']));
  expect(body.error.message.length).toBeGreaterThan(10);
}

const counts = async () => await tableCounts(server);

describe('request bodies', () => {
  it('answers 413 payload_too_large above 256 KiB and stores nothing', async () => {
    const before = await counts();
    const res = await api(server.url).raw('POST', '/v1/contacts', {
      body: JSON.stringify({ email: 'big@example.com', notes: 'x'.repeat(257 * 1024) }),
      headers: { ...authed(), 'content-type': 'application/json' },
    });
    expect(res.status).toBe(413);
    expectErrorShape(res.body, 'payload_too_large');
    expect(await counts()).toEqual(before);
  });

  it('accepts a body just under the limit (the limit is on bytes, not on a field)', async () => {
    const res = await api(server.url, key).post('/v1/contacts', {
      email: 'under@example.com',
      notes: 'y'.repeat(10_000),
    });
    expect(res.status).toBe(201);
  });

  it('answers 400 invalid_json for a body that is not JSON', async () => {
    const res = await api(server.url).raw('POST', '/v1/tickets', {
      body: '{"subject": "unterminated',
      headers: { ...authed(), 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    expectErrorShape(res.body, 'invalid_json');
  });

  it('answers 400 invalid_json for a bare JSON string (only objects and arrays are bodies)', async () => {
    const res = await api(server.url).raw('POST', '/v1/tickets', {
      body: '"just a string"',
      headers: { ...authed(), 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    expectErrorShape(res.body, 'invalid_json');
  });

  it('answers 415 unsupported_media_type for a body that is not application/json', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1']) {
      const res = await api(server.url).raw('POST', '/v1/tickets', {
        body: 'subject=hi',
        headers: { ...authed(), 'content-type': type },
      });
      expect(res.status).toBe(415);
      expectErrorShape(res.body, 'unsupported_media_type');
    }
  });

  it('answers 422 validation_failed for an array body, naming the problem', async () => {
    const res = await api(server.url, key).post('/v1/tickets', [{ subject: 'x' }]);
    expect(res.status).toBe(422);
    expectErrorShape(res.body, 'validation_failed');
    expect(res.body.error.details).toEqual([{ path: '', message: expect.any(String) }]);
  });

  it('names every bad field in details: missing, wrong type, out of range, unknown', async () => {
    const res = await api(server.url, key).post('/v1/tickets', {
      priority: 'someday',
      description: 42,
      contact_mail: 'a@b.co',
    });
    expect(res.status).toBe(422);
    const paths = res.body.error.details.map((d: { path: string }) => d.path).sort();
    expect(paths).toEqual(['contact_mail', 'description', 'priority', 'subject']);
    expect(res.body.error.details.find((d: { path: string }) => d.path === 'subject').message).toBe('Required.');
  });
});

describe('routes', () => {
  it('answers unknown routes with 404 not_found in the same shape', async () => {
    for (const [method, path] of [
      ['GET', '/v2/me'],
      ['POST', '/v1/nothing'],
      ['DELETE', '/v1/tickets'],
      ['GET', '/v1'], // `/` itself is the landing page now (issue 11; test/api/settings-pages.test.ts)
    ] as const) {
      const res = await api(server.url).raw(method, path);
      expect(res.status).toBe(404);
      expectErrorShape(res.body, 'not_found');
    }
  });

  it('serves /healthz without a key', async () => {
    const res = await api(server.url).get('/healthz');
    expect(res).toMatchObject({ status: 200, body: { ok: true } });
  });
});

describe('unexpected failures', () => {
  it('answers a bare 500 internal_error, logs the stack, and leaves nothing half-written', async () => {
    const s = await startApiServer();
    try {
      const { key: k } = await s.setup();
      // A broken database is the realistic way for a correct handler to fail.
      const postgres = s.ctx.store.engine === 'postgres';
      await s.ctx.db.run(postgres ? 'DROP TABLE events CASCADE' : 'DROP TABLE events');
      const res = await api(s.url, k).post('/v1/contacts', { email: 'lost@example.com' });
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ error: { code: 'internal_error', message: expect.any(String) } });
      expect(JSON.stringify(res.body)).not.toMatch(/events|SQLITE|at .*\.ts/);
      const logged = s.logs.find((l) => l.level === 'error');
      expect(String(logged?.fields?.error)).toMatch(
        postgres ? /^error: relation "events" does not exist/ : /^SqliteError: no such table: events/,
      );
      // The contact insert ran before the event insert failed: the transaction took both back.
      expect(await s.ctx.db.value('SELECT COUNT(*) FROM contacts')).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('logs the stack of an error our own code throws, and rolls back the change it was part of', async () => {
    const s = await startApiServer();
    try {
      const { key } = await s.setup();
      const client = api(s.url, key);
      const ticket = (await client.post('/v1/tickets', { subject: 'Corrupted' })).body;
      // Data no longer fits the catalog: the event check (recordEvent) refuses it, inside the transaction.
      await s.ctx.db.run('UPDATE tickets SET number = 0 WHERE id = ?', ticket.id);
      const res = await client.patch(`/v1/tickets/${ticket.id}`, { status: 'open' });
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ error: { code: 'internal_error', message: expect.any(String) } });
      const logged = s.logs.find((l) => l.level === 'error');
      expect(logged).toMatchObject({
        message: 'unhandled error',
        fields: { method: 'PATCH', path: `/v1/tickets/${ticket.id}` },
      });
      expect(String(logged!.fields!.error)).toMatch(/ZodError[\s\S]*\n\s+at .*outbox/);
      expect(await s.ctx.db.value('SELECT status FROM tickets WHERE id = ?', ticket.id)).toBe('new');
      expect(await s.ctx.db.value("SELECT COUNT(*) FROM events WHERE type = 'ticket.status_changed'")).toBe(0);
    } finally {
      await s.close();
    }
  });
});

describe('requests the HTTP parser refuses before routing', () => {
  /** Sends raw bytes and reads the whole answer, since fetch would refuse to send these requests. */
  function rawExchange(bytes: string): Promise<string> {
    const { port } = new URL(server.url);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.end(bytes));
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk.toString('utf8')));
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
    });
  }

  const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));

  it('answers headers over 16 KiB with 431 in the error shape', async () => {
    const answer = await rawExchange(`GET /v1/me HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(answer).toMatch(/content-type: application\/json/i);
    expectErrorShape(bodyOf(answer), 'headers_too_large');
  });

  it('answers a malformed request line with 400 in the error shape', async () => {
    const answer = await rawExchange('NOT A REQUEST\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expectErrorShape(bodyOf(answer), 'bad_request');
  });
});

describe('a NUL in a path id (PostgreSQL text cannot hold one)', () => {
  it.each(KEYED_ENDPOINTS.filter((e) => /\/[a-z]{3}_0{24}/.test(e.path)))(
    '$method $path with %00 for the id: answered as any unknown id, never a 500',
    async ({ method, path, body }) => {
      const send = (p: string) =>
        api(server.url, key).raw(method, p, {
          body: body === undefined ? undefined : JSON.stringify(body),
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        });
      const unknown = await send(path);
      const nul = await send(path.replace(/[a-z]{3}_0{24}/, '%00'));
      expect([nul.status, nul.body.error?.code]).toEqual([unknown.status, unknown.body.error?.code]);
      expect(nul.status).toBeLessThan(500);
    },
  );
});

describe('a NUL in free text or a cursor (PostgreSQL text cannot hold one): refused on both engines', () => {
  const NUL = 'before\u0000after';
  it.each([
    ['POST /v1/tickets', 'subject', { subject: NUL }],
    ['POST /v1/tickets', 'description', { subject: 'Hi', description: NUL }],
    ['POST /v1/contacts', 'notes', { email: 'nul@example.com', notes: NUL }],
    ['POST /v1/contacts', 'company', { email: 'nul@example.com', company: NUL }],
  ])('%s with a NUL in %s: 422 naming the field, nothing stored', async (route, field, body) => {
    const before = await counts();
    const res = await api(server.url, key).post(route.split(' ')[1]!, body);
    expect([res.status, res.body.error.code, res.body.error.details?.[0]?.path]).toEqual([
      422,
      'validation_failed',
      field,
    ]);
    expect(await counts()).toEqual(before);
  });

  it('a visitor message with a NUL: 422 naming the message', async () => {
    const { assistant } = await server.setup();
    const res = await api(server.url).post(`/v1/widget/assistants/${assistant.id}/conversations`, { message: NUL });
    expect([res.status, res.body.error.details?.[0]?.path]).toEqual([422, 'message']);
  });

  it.each(['/v1/conversations', '/v1/subscriptions', '/v1/deliveries', '/v1/tickets'])(
    '%s with a cursor holding a NUL: 422 cursor',
    async (path) => {
      const cursor = (position: unknown[]) => Buffer.from(JSON.stringify(position)).toString('base64url');
      for (const position of [['2026-01-01T00:00:00.000Z', NUL], [NUL, 'x'], [NUL]]) {
        const res = await api(server.url, key).get(`${path}?cursor=${cursor(position)}`);
        expect([res.status, res.body.error?.details?.[0]?.path]).toEqual([422, 'cursor']);
      }
    },
  );
});

/**
 * Lists page by (time, id) on both engines (migration 011): records made in one millisecond come newest first
 * in the order they were made, across pages; a cursor of the former (time, rowid) form is refused as any cursor
 * this API did not return.
 */
import { api, type ApiServer, startApiServer } from '../support/api-server';
import { testClock } from '../support/helpers';

const clock = testClock(); // frozen: every record below is made in the same millisecond
let server: ApiServer;
beforeAll(async () => {
  server = await startApiServer({ clock });
});
afterAll(async () => await server.close());

const oldCursor = Buffer.from(JSON.stringify([new Date(clock.now()).toISOString(), 7])).toString('base64url');

it.each(['/v1/conversations', '/v1/subscriptions', '/v1/deliveries'])(
  '%s refuses a cursor of the former (time, rowid) form with 422 validation_failed',
  async (path) => {
    const { key } = await server.setup();
    const res = await api(server.url, key).get(`${path}?cursor=${oldCursor}`);
    expect([res.status, res.body.error.code, res.body.error.details[0].path]).toEqual([
      422,
      'validation_failed',
      'cursor',
    ]);
  },
);

it('conversations made in one millisecond page newest first in the order they were made', async () => {
  const { key, assistant } = await server.setup();
  const visitor = api(server.url);
  const made: string[] = [];
  for (let i = 0; i < 7; i++) {
    made.push(
      (await visitor.post(`/v1/widget/assistants/${assistant.id}/conversations`, { message: `#${i}` })).body.id,
    );
  }
  const zap = api(server.url, key);
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { body: { data: { id: string }[]; nextCursor: string | null } } = await zap.get(
      `/v1/conversations?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
    );
    seen.push(...page.body.data.map((c) => c.id));
    cursor = page.body.nextCursor;
  } while (cursor);
  expect(seen).toEqual([...made].reverse());
});

it('subscriptions made in one millisecond page newest first in the order they were made', async () => {
  const { key } = await server.setup();
  const zap = api(server.url, key);
  const made: string[] = [];
  for (let i = 0; i < 5; i++) {
    made.push(
      (
        await zap.post('/v1/subscriptions', {
          event_type: 'ticket.created',
          target_url: `https://hooks.example.com/${i}`,
        })
      ).body.id,
    );
  }
  const first = await zap.get('/v1/subscriptions?limit=3');
  const rest = await zap.get(`/v1/subscriptions?limit=3&cursor=${first.body.nextCursor}`);
  expect([...first.body.data, ...rest.body.data].map((s: { id: string }) => s.id)).toEqual([...made].reverse());
  expect(rest.body.nextCursor).toBeNull();
});

describe('ticket numbers beyond 32 bits (PostgreSQL stores them as INTEGER; a bound parameter must not overflow)', () => {
  const cursorOf = (n: number) => Buffer.from(JSON.stringify([n])).toString('base64url');

  it('lists the first page, and pages with a cursor past 2^31, as on SQLite', async () => {
    const { key } = await server.setup();
    const zap = api(server.url, key);
    const made = (await zap.post('/v1/tickets', { subject: 'One' })).body.id;
    expect((await zap.get('/v1/tickets')).body).toEqual({
      data: [expect.objectContaining({ id: made })],
      nextCursor: null,
    });
    for (const n of [2 ** 31, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER]) {
      const res = await zap.get(`/v1/tickets?cursor=${cursorOf(n)}`);
      expect([n, res.status, res.body.data?.map((t: { id: string }) => t.id)]).toEqual([n, 200, [made]]);
    }
  });

  it('refuses a cursor past the safe integers with 422, never a 500', async () => {
    const { key } = await server.setup();
    for (const n of [Number.MAX_SAFE_INTEGER + 1, 1e300]) {
      const res = await api(server.url, key).get(`/v1/tickets?cursor=${cursorOf(n)}`);
      expect([n, res.status, res.body.error?.code]).toEqual([n, 422, 'validation_failed']);
    }
  });

  it.each(['2147483648', '4294967297', String(Number.MAX_SAFE_INTEGER)])(
    'finds no ticket numbered %s (Find Ticket), as on SQLite',
    async (number) => {
      const { key } = await server.setup();
      const res = await api(server.url, key).get(`/v1/tickets?number=${number}`);
      expect([res.status, res.body]).toEqual([200, { data: [], nextCursor: null }]);
    },
  );
});

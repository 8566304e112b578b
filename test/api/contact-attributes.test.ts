/**
 * Custom contact attributes and notes (issue 14): a workspace defines attributes (key, label, type), contacts
 * carry values validated by type, Lead Captured and the contact record carry them; notes are added by a key
 * or an agent and counted on the contact. Also Find Ticket's reads by id and by number.
 */
import { recordedEvents, tableCounts } from '../support/api-events';
import { api, type ApiServer, startApiServer } from '../support/api-server';
import { at } from '../support/items';

let server: ApiServer;
beforeAll(async () => {
  server = await startApiServer();
});
afterAll(async () => await server.close());

const ATTRIBUTES = [
  { key: 'plan', label: 'Plan', type: 'text' },
  { key: 'seats', label: 'Seats', type: 'number' },
  { key: 'trial', label: 'On trial', type: 'boolean' },
  { key: 'renewal_date', label: 'Renewal date', type: 'date' },
] as const;

async function fresh() {
  const { workspace, key, keyId } = await server.setup();
  const agent = await server.createAgent(workspace.id, { name: 'Sam Rivera', email: 'sam@example.com' });
  const console = api(server.url, agent.token);
  for (const a of ATTRIBUTES) expect((await console.post('/v1/agent/contact-attributes', a)).status).toBe(201);
  return { workspace, keyId, agent, console, zap: api(server.url, key) };
}

describe('defining attributes', () => {
  it('lists them by key for the Zapier app, relabels one with the same type, refuses another type', async () => {
    const w = await fresh();
    const listed = (await w.zap.get('/v1/contact-attributes')).body.data;
    expect(listed.map((a: { key: string; type: string }) => [a.key, a.type])).toEqual([
      ['plan', 'text'],
      ['renewal_date', 'date'],
      ['seats', 'number'],
      ['trial', 'boolean'],
    ]);
    const relabelled = await w.console.post('/v1/agent/contact-attributes', {
      key: 'plan',
      label: 'Plan tier',
      type: 'text',
    });
    expect(relabelled).toMatchObject({ status: 200, body: { key: 'plan', label: 'Plan tier', type: 'text' } });
    const retyped = await w.console.post('/v1/agent/contact-attributes', {
      key: 'plan',
      label: 'Plan',
      type: 'number',
    });
    expect(retyped).toMatchObject({ status: 409, body: { error: { code: 'invalid_state' } } });
  });

  it.each([['Plan'], ['1plan'], ['plan-tier'], ['x'.repeat(41)], ['']])('refuses the key %j (422)', async (key) => {
    const w = await fresh();
    const res = await w.console.post('/v1/agent/contact-attributes', { key, label: 'L', type: 'text' });
    expect(res.status).toBe(422);
    expect(res.body.error.details[0].path).toBe('key');
  });

  it('holds at most 50 a workspace: the 51st is 409 attribute_limit_reached', async () => {
    const w = await fresh();
    for (let i = 0; i < 46; i++)
      expect(
        (await w.console.post('/v1/agent/contact-attributes', { key: `a${i}`, label: 'A', type: 'text' })).status,
      ).toBe(201);
    const res = await w.console.post('/v1/agent/contact-attributes', { key: 'one_more', label: 'A', type: 'text' });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'attribute_limit_reached', limit: 50 });
  });
});

describe('attribute values on contacts', () => {
  it('sets typed values on create (Lead Captured carries them), merges on update, and null removes one', async () => {
    const w = await fresh();
    const values = { plan: '  Pro  ', seats: 25, trial: false, renewal_date: '2027-02-28' };
    const made = await w.zap.post('/v1/contacts', { email: 'ava@example.com', attributes: values });
    expect(made.status).toBe(201);
    const stored = { plan: 'Pro', seats: 25, trial: false, renewal_date: '2027-02-28' };
    expect(made.body.attributes).toEqual(stored);
    expect(
      at(await recordedEvents(server, { type: 'lead.captured', workspaceId: w.workspace.id }), 0).payload.attributes,
    ).toEqual(stored);
    const updated = await w.zap.post('/v1/contacts', {
      email: 'AVA@example.com',
      attributes: { seats: 30, trial: null },
    });
    expect(updated.body.attributes).toEqual({ plan: 'Pro', seats: 30, renewal_date: '2027-02-28' });
    const untouched = await w.zap.post('/v1/contacts', {
      email: 'ava@example.com',
      name: 'Ava',
      attributes: { plan: '' },
    });
    expect(untouched.body.attributes).toEqual({ plan: 'Pro', seats: 30, renewal_date: '2027-02-28' });
  });

  it.each([
    ['text given a number', { plan: 5 }],
    ['text over 1,000 characters', { plan: 'x'.repeat(1001) }],
    ['number given a numeric string', { seats: '25' }],
    ['number given a boolean', { seats: true }],
    ['boolean given "true"', { trial: 'true' }],
    ['boolean given 1', { trial: 1 }],
    ['date not a calendar day', { renewal_date: '2027-02-30' }],
    ['date not a calendar day, before year 100', { renewal_date: '0050-02-29' }],
    ['date with a time', { renewal_date: '2027-02-28T10:00:00Z' }],
    ['date in another format', { renewal_date: '28/02/2027' }],
    ['an object', { plan: { nested: true } }],
    ['an attribute never defined', { favourite_colour: 'blue' }],
    ['a key of Object.prototype', { constructor: 'x' }],
    // Own "__proto__" keys, as JSON.parse makes them (a literal would set the prototype instead).
    ['the key __proto__ given text', JSON.parse('{"__proto__":"Pro"}') as Record<string, unknown>],
    ['the key __proto__ given an object', JSON.parse('{"__proto__":{"plan":"Pro"}}') as Record<string, unknown>],
  ])(
    'refuses %s with 422 naming attributes.<key>, and stores nothing (no contact, no event)',
    async (_what, attributes) => {
      const w = await fresh();
      const before = await tableCounts(server);
      const res = await w.zap.post('/v1/contacts', { email: 'new@example.com', attributes });
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toEqual([
        `attributes.${Object.keys(attributes)[0]}`,
      ]);
      expect(await tableCounts(server)).toEqual(before);
    },
  );

  it.each(['0050-06-15', '0004-02-29', '1900-01-01', '9999-12-31'])(
    'takes %s, a real calendar day (years before 100 too)',
    async (day) => {
      const w = await fresh();
      const res = await w.zap.post('/v1/contacts', { email: 'old@example.com', attributes: { renewal_date: day } });
      expect(res.status).toBe(201);
      expect(res.body.attributes).toEqual({ renewal_date: day });
    },
  );

  it('an agent sets them too, with the same checks', async () => {
    const w = await fresh();
    const made = await w.console.post('/v1/agent/contacts', { email: 'kim@example.com', attributes: { seats: 3 } });
    expect(made).toMatchObject({ status: 201, body: { attributes: { seats: 3 } } });
    const wrong = await w.console.post('/v1/agent/contacts', { email: 'kim@example.com', attributes: { seats: '3' } });
    expect(wrong.body.error.details).toEqual([{ path: 'attributes.seats', message: 'Must be a number.' }]);
  });

  it("another workspace's attributes are not this one's", async () => {
    const a = await fresh();
    const { key } = await server.setup();
    const res = await api(server.url, key).post('/v1/contacts', {
      email: 'x@example.com',
      attributes: { plan: 'Pro' },
    });
    expect(res.status).toBe(422);
    expect((await a.zap.post('/v1/contacts', { email: 'x@example.com', attributes: { plan: 'Pro' } })).status).toBe(
      201,
    );
  });
});

describe('notes on contacts', () => {
  it('are added by a key or an agent with their author, counted on the contact, and fire nothing', async () => {
    const w = await fresh();
    const contact = (await w.zap.post('/v1/contacts', { email: 'ava@example.com' })).body;
    const events = (await recordedEvents(server, { workspaceId: w.workspace.id })).length;
    const byZap = await w.zap.post(`/v1/contacts/${contact.id}/notes`, { body: '  Asked about annual billing.  ' });
    expect(byZap.status).toBe(201);
    expect(byZap.body).toMatchObject({
      id: expect.stringMatching(/^note_/),
      contactId: contact.id,
      body: 'Asked about annual billing.',
      author: { type: 'api_key', id: w.keyId },
    });
    const byAgent = await w.console.post(`/v1/agent/contacts/${contact.id}/notes`, { body: 'Called back: 李小龍 👍' });
    expect(byAgent.body.author).toEqual({ type: 'agent', id: w.agent.id, name: 'Sam Rivera' });
    const read = (await w.zap.get(`/v1/contacts/${contact.id}`)).body;
    expect(read).toMatchObject({ id: contact.id, notesCount: 2, notes: null });
    expect(await recordedEvents(server, { workspaceId: w.workspace.id })).toHaveLength(events);
  });

  it('refuses a blank or too long note (422) and a contact of another workspace (404)', async () => {
    const a = await fresh();
    const b = await fresh();
    const contact = (await a.zap.post('/v1/contacts', { email: 'ava@example.com' })).body;
    expect((await a.zap.post(`/v1/contacts/${contact.id}/notes`, { body: '  ' })).status).toBe(422);
    expect((await a.zap.post(`/v1/contacts/${contact.id}/notes`, { body: 'x'.repeat(10_001) })).status).toBe(422);
    expect((await b.zap.post(`/v1/contacts/${contact.id}/notes`, { body: 'mine' })).status).toBe(404);
    expect((await b.zap.get(`/v1/contacts/${contact.id}`)).status).toBe(404);
    expect((await a.zap.get(`/v1/contacts/${contact.id}`)).body.notesCount).toBe(0);
  });
});

describe('Find Ticket reads', () => {
  it('by id and by number (also written #N), only in the caller’s workspace', async () => {
    const a = await fresh();
    const b = await fresh();
    await a.zap.post('/v1/tickets', { subject: 'First' });
    const second = (await a.zap.post('/v1/tickets', { subject: 'Second' })).body;
    expect((await a.zap.get(`/v1/tickets/${second.id}`)).body).toEqual(second);
    for (const n of ['2', '%232', ' 2 '])
      expect((await a.zap.get(`/v1/tickets?number=${n}`)).body).toEqual({ data: [second], nextCursor: null });
    expect((await a.zap.get('/v1/tickets?number=3')).body.data).toEqual([]);
    expect((await a.zap.get('/v1/tickets?number=two')).status).toBe(422);
    expect((await a.zap.get('/v1/tickets?number=0')).status).toBe(422);
    expect((await b.zap.get(`/v1/tickets/${second.id}`)).status).toBe(404);
    expect((await b.zap.get('/v1/tickets?number=2')).body.data).toEqual([]);
  });
});

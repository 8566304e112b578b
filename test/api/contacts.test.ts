/** Create or Update Contact, Find Contact, and the agent console's contacts; with their Lead Captured events. */
import { leadSchema } from '../../catalog/events';
import { recordedEvents, tableCounts } from '../support/api-events';
import { api, type ApiServer, startApiServer } from '../support/api-server';
import { at } from '../support/items';

let server: ApiServer;
beforeAll(async () => {
  server = await startApiServer();
});
afterAll(async () => await server.close());

async function fresh() {
  const { workspace, key, assistant } = await server.setup();
  return { workspace, assistant, client: api(server.url, key) };
}

describe('POST /v1/contacts', () => {
  it('creates a contact (201) and fires lead.captured with source api, isNew true, as the flat lead record', async () => {
    const { workspace, client } = await fresh();
    const res = await client.post('/v1/contacts', {
      email: 'Jane@Example.com',
      name: 'Jane',
      phone: '+1 555',
      company: 'Acme',
      notes: 'VIP',
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^con_/),
      email: 'Jane@Example.com',
      name: 'Jane',
      phone: '+1 555',
      company: 'Acme',
      notes: 'VIP',
      source: 'api',
      assistantId: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      tags: [],
      attributes: {},
      notesCount: 0,
    });
    const event = at(await recordedEvents(server, { type: 'lead.captured', workspaceId: workspace.id }), 0);
    expect(event.payload).toEqual({
      id: res.body.id,
      name: 'Jane',
      email: 'Jane@Example.com',
      phone: '+1 555',
      source: 'api',
      isNew: true,
      createdAt: res.body.createdAt,
      assistantId: null,
      assistantName: null,
      attributes: {},
    });
    expect(Object.keys(event.payload)).toEqual(Object.keys(leadSchema.shape));
  });

  it('updates the contact matched by email, case-insensitively (200), and fires nothing', async () => {
    const { workspace, client } = await fresh();
    const created = await client.post('/v1/contacts', { email: 'sam@example.com', name: 'Sam', company: 'Old Co' });
    const updated = await client.post('/v1/contacts', {
      email: '  SAM@EXAMPLE.COM ',
      phone: '+44 20',
      company: 'New Co',
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({
      id: created.body.id,
      email: 'sam@example.com',
      name: 'Sam',
      phone: '+44 20',
      company: 'New Co',
    });
    expect(await recordedEvents(server, { type: 'lead.captured', workspaceId: workspace.id })).toHaveLength(1);
  });

  it('treats blank and null optional fields as not given', async () => {
    const { client } = await fresh();
    await client.post('/v1/contacts', { email: 'keep@example.com', name: 'Keep Me' });
    const res = await client.post('/v1/contacts', { email: 'keep@example.com', name: '', phone: null });
    expect(res.body).toMatchObject({ name: 'Keep Me', phone: null });
  });

  it('refuses a missing or invalid email with 422 and stores nothing', async () => {
    const { client } = await fresh();
    const before = await tableCounts(server);
    for (const body of [
      {},
      { email: 'not-an-email' },
      { email: 42 },
      { email: 'a@b.co', name: 'x'.repeat(201) },
      { email: 'a@b.co', extra: 1 },
    ]) {
      const res = await client.post('/v1/contacts', body);
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.details.length).toBeGreaterThan(0);
    }
    expect(await tableCounts(server)).toEqual(before);
  });
});

describe('GET /v1/contacts?email=', () => {
  it('finds by exact email, case-insensitively; no match is an empty list', async () => {
    const { client } = await fresh();
    const created = await client.post('/v1/contacts', { email: 'find.me@example.com', name: 'Found' });
    expect((await client.get('/v1/contacts?email=FIND.ME@example.com')).body).toEqual({ data: [created.body] });
    expect((await client.get('/v1/contacts?email=find@example.com')).body).toEqual({ data: [] });
    expect((await client.get(`/v1/contacts?email=${encodeURIComponent('find.me@example.co')}`)).body).toEqual({
      data: [],
    });
  });

  it('needs the email', async () => {
    const { client } = await fresh();
    const res = await client.get('/v1/contacts');
    expect(res.status).toBe(422);
    expect(res.body.error.details).toEqual([{ path: 'email', message: 'Required.' }]);
  });
});

describe('POST /v1/agent/contacts', () => {
  it('creates with source crm and fires lead.captured (crm); an update fires nothing', async () => {
    const { workspace } = await fresh();
    const agent = await server.createAgent(workspace.id);
    const agentConsole = api(server.url, agent.token);
    const created = await agentConsole.post('/v1/agent/contacts', { email: 'crm@example.com', name: 'From CRM' });
    expect(created.status).toBe(201);
    expect(created.body.source).toBe('crm');
    const again = await agentConsole.post('/v1/agent/contacts', { email: 'CRM@example.com', phone: '123' });
    expect(again.status).toBe(200);
    const events = await recordedEvents(server, { type: 'lead.captured', workspaceId: workspace.id });
    expect(events.map((e) => e.payload)).toEqual([
      expect.objectContaining({ id: created.body.id, source: 'crm', isNew: true }),
    ]);
  });
});

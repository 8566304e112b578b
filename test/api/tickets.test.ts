/** Create Ticket, Update Ticket and its dropdown, the agent console's ticket operations, and ticket events. */
import { recordedEvents, tableCounts } from '../support/api-events';
import { api, type ApiServer, startApiServer } from '../support/api-server';
import { testClock } from '../support/helpers';
import { at } from '../support/items';

const clock = testClock();
let server: ApiServer;
beforeAll(async () => {
  server = await startApiServer({ clock });
});
afterAll(async () => await server.close());

async function fresh() {
  const { workspace, key, assistant } = await server.setup();
  return { workspace, assistant, client: api(server.url, key) };
}

describe('POST /v1/tickets', () => {
  it('creates a ticket in status new with source api, and fires ticket.created carrying data.ticket.id', async () => {
    const { workspace, client } = await fresh();
    const res = await client.post('/v1/tickets', {
      subject: 'Cannot log in',
      description: 'Since Monday',
      priority: 'high',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.stringMatching(/^tkt_/),
      number: 1,
      subject: 'Cannot log in',
      description: 'Since Monday',
      status: 'new',
      priority: 'high',
      source: 'api',
      contactId: null,
      resolvedAt: null,
      closedAt: null,
    });
    const event = at(await recordedEvents(server, { type: 'ticket.created', workspaceId: workspace.id }), 0);
    expect(event.payload).toMatchObject({
      type: 'ticket.created',
      workspaceId: workspace.id,
      assistantId: null,
      data: { ticket: res.body },
    });
    expect(event.payload.id).toBe(event.id);
  });

  it('numbers tickets per workspace and defaults the priority to normal', async () => {
    const { client } = await fresh();
    const first = await client.post('/v1/tickets', { subject: 'One' });
    const second = await client.post('/v1/tickets', { subject: 'Two' });
    expect([first.body.number, second.body.number]).toEqual([1, 2]);
    expect(first.body.priority).toBe('normal');
  });

  it('links a contact by email, case-insensitively', async () => {
    const { client } = await fresh();
    const contact = await client.post('/v1/contacts', { email: 'linked@example.com', name: 'Linked' });
    const res = await client.post('/v1/tickets', { subject: 'Hi', contact_email: 'LINKED@example.com' });
    expect(res.body).toMatchObject({
      contactId: contact.body.id,
      contactName: 'Linked',
      contactEmail: 'linked@example.com',
    });
  });

  it('fails with 422 contact_not_found and the spec’s advice when no contact matches; nothing is stored', async () => {
    const { client } = await fresh();
    const before = await tableCounts(server);
    const res = await client.post('/v1/tickets', { subject: 'Hi', contact_email: 'ghost@example.com' });
    expect(res.status).toBe(422);
    expect(res.body.error).toEqual({
      code: 'contact_not_found',
      message:
        'No contact in this workspace has the email ghost@example.com. Add a Find or Create Contact step before Create Ticket, or leave Contact Email blank to create the ticket without a contact link.',
    });
    expect(await tableCounts(server)).toEqual(before);
  });

  it('tells an agent in the console what to do in the console’s terms, with the same code', async () => {
    const { workspace } = await fresh();
    const agentConsole = api(server.url, (await server.createAgent(workspace.id)).token);
    const before = await tableCounts(server);
    const res = await agentConsole.post('/v1/agent/tickets', { subject: 'Hi', contact_email: 'ghost@example.com' });
    expect(res.status).toBe(422);
    expect(res.body.error).toEqual({
      code: 'contact_not_found',
      message:
        'No contact in this workspace has the email ghost@example.com. Create the contact first, or leave the email out.',
    });
    expect(await tableCounts(server)).toEqual(before);
  });

  it('treats a blank contact_email as no link', async () => {
    const { client } = await fresh();
    const res = await client.post('/v1/tickets', { subject: 'Hi', contact_email: '' });
    expect(res.status).toBe(201);
    expect(res.body.contactId).toBeNull();
  });
});

describe('PATCH /v1/tickets/:id', () => {
  it('updates any of status, priority, subject, description; a status change fires ticket.status_changed', async () => {
    const { workspace, client } = await fresh();
    const ticket = (await client.post('/v1/tickets', { subject: 'Old' })).body;
    clock.advance(1000);
    const res = await client.patch(`/v1/tickets/${ticket.id}`, {
      status: 'open',
      priority: 'urgent',
      subject: 'New',
      description: 'More',
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: ticket.id,
      status: 'open',
      priority: 'urgent',
      subject: 'New',
      description: 'More',
    });
    expect(res.body.updatedAt > ticket.updatedAt).toBe(true);
    const events = await recordedEvents(server, { type: 'ticket.status_changed', workspaceId: workspace.id });
    expect(events).toHaveLength(1);
    expect(at(events, 0).payload.data).toEqual({ ticket: res.body, previousStatus: 'new' });
  });

  it('fires nothing when the status does not change', async () => {
    const { workspace, client } = await fresh();
    const ticket = (await client.post('/v1/tickets', { subject: 'Same' })).body;
    await client.patch(`/v1/tickets/${ticket.id}`, { subject: 'Renamed', status: 'new' });
    expect(await recordedEvents(server, { type: 'ticket.status_changed', workspaceId: workspace.id })).toHaveLength(0);
  });

  it('stamps resolvedAt and closedAt; reopening clears both', async () => {
    const { client } = await fresh();
    const { id } = (await client.post('/v1/tickets', { subject: 'Lifecycle' })).body;
    clock.advance(1000);
    const resolved = (await client.patch(`/v1/tickets/${id}`, { status: 'resolved' })).body;
    expect(resolved.resolvedAt).toBe(new Date(clock.now()).toISOString());
    expect(resolved.closedAt).toBeNull();
    clock.advance(1000);
    const closed = (await client.patch(`/v1/tickets/${id}`, { status: 'closed' })).body;
    expect(closed.resolvedAt).toBe(resolved.resolvedAt);
    expect(closed.closedAt).toBe(new Date(clock.now()).toISOString());
    const reopened = (await client.patch(`/v1/tickets/${id}`, { status: 'open' })).body;
    expect([reopened.resolvedAt, reopened.closedAt]).toEqual([null, null]);
  });

  it('404s an unknown ticket and 422s an empty or invalid change', async () => {
    const { client } = await fresh();
    const missing = await client.patch('/v1/tickets/tkt_doesnotexist', { status: 'open' });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('not_found');
    const { id } = (await client.post('/v1/tickets', { subject: 'x' })).body;
    for (const body of [{}, { status: 'done' }, { subject: '   ' }, { priority: 1 }]) {
      const res = await client.patch(`/v1/tickets/${id}`, body);
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('validation_failed');
    }
  });
});

describe('GET /v1/tickets', () => {
  it('lists newest first with an opaque cursor', async () => {
    const { client } = await fresh();
    for (let i = 1; i <= 5; i++) await client.post('/v1/tickets', { subject: `T${i}` });
    const first = await client.get('/v1/tickets?limit=2');
    expect(first.body.data.map((t: { subject: string }) => t.subject)).toEqual(['T5', 'T4']);
    const second = await client.get(`/v1/tickets?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.data.map((t: { subject: string }) => t.subject)).toEqual(['T3', 'T2']);
    const last = await client.get(`/v1/tickets?limit=2&cursor=${second.body.nextCursor}`);
    expect(last.body).toEqual({ data: [expect.objectContaining({ subject: 'T1' })], nextCursor: null });
  });

  it('defaults to 25 and refuses a bad limit or cursor', async () => {
    const { client } = await fresh();
    for (let i = 0; i < 26; i++) await client.post('/v1/tickets', { subject: `T${i}` });
    expect((await client.get('/v1/tickets')).body.data).toHaveLength(25);
    for (const query of [
      'limit=0',
      'limit=101',
      'limit=abc',
      'limit=2.5',
      'cursor=garbage',
      'cursor=W10',
      'sort=asc',
    ]) {
      const res = await client.get(`/v1/tickets?${query}`);
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('validation_failed');
    }
  });
});

describe('the agent console', () => {
  it('opens (source agent), assigns and changes status, each with its event', async () => {
    const { workspace, assistant } = await fresh();
    const sam = await server.createAgent(workspace.id, { name: 'Sam', email: 'sam@acme.test' });
    const kim = await server.createAgent(workspace.id, { name: 'Kim', email: 'kim@acme.test' });
    const agentConsole = api(server.url, sam.token);
    const conversation = (
      await api(server.url).post(`/v1/widget/assistants/${assistant.id}/conversations`, { message: 'Help' })
    ).body;
    const created = await agentConsole.post('/v1/agent/tickets', {
      subject: 'From chat',
      conversation_id: conversation.id,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ source: 'agent', status: 'new', conversationId: conversation.id });

    const assigned = await agentConsole.post(`/v1/agent/tickets/${created.body.id}/assign`, { agent_id: kim.id });
    expect(assigned.body).toMatchObject({ assigneeId: kim.id, assigneeName: 'Kim', assigneeEmail: 'kim@acme.test' });
    const reassigned = await agentConsole.post(`/v1/agent/tickets/${created.body.id}/assign`, { agent_id: sam.id });
    await agentConsole.post(`/v1/agent/tickets/${created.body.id}/assign`, { agent_id: sam.id }); // no change, no event
    const status = await agentConsole.post(`/v1/agent/tickets/${created.body.id}/status`, { status: 'pending' });
    expect(status.body.status).toBe('pending');

    const events = (await recordedEvents(server, { workspaceId: workspace.id })).filter((e) =>
      e.type.startsWith('ticket.'),
    );
    expect(events.map((e) => e.type)).toEqual([
      'ticket.created',
      'ticket.assigned',
      'ticket.assigned',
      'ticket.status_changed',
    ]);
    // A ticket from a conversation reports that conversation's assistant, so assistant filters apply.
    for (const e of events) expect(e.payload).toMatchObject({ assistantId: assistant.id, assistantName: 'Acme Bot' });
    expect(at(events, 1).payload.data.previousAssigneeId).toBeNull();
    expect(at(events, 2).payload.data).toMatchObject({ previousAssigneeId: kim.id, ticket: reassigned.body });
    expect(at(events, 3).payload.data).toMatchObject({ previousStatus: 'new', ticket: status.body });
  });

  it('404s another workspace’s agent or conversation', async () => {
    const { workspace } = await fresh();
    const other = await fresh();
    const otherAgent = await server.createAgent(other.workspace.id);
    const otherConversation = (
      await api(server.url).post(`/v1/widget/assistants/${other.assistant.id}/conversations`, { message: 'x' })
    ).body;
    const agentConsole = api(server.url, (await server.createAgent(workspace.id)).token);
    expect(
      (await agentConsole.post('/v1/agent/tickets', { subject: 'x', conversation_id: otherConversation.id })).status,
    ).toBe(404);
    const ticket = (await agentConsole.post('/v1/agent/tickets', { subject: 'x' })).body;
    expect((await agentConsole.post(`/v1/agent/tickets/${ticket.id}/assign`, { agent_id: otherAgent.id })).status).toBe(
      404,
    );
  });
});

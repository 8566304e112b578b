/**
 * Where conversation events come from: the widget and in-app SDKs (public, keyed by assistant), the lead
 * form, live chat from handoff to end, and the Send Message action that needs takeover mode.
 */
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

const TAKEOVER_MESSAGE =
  'The conversation must be in live-chat takeover mode. The action cannot post into a conversation that the assistant is still handling automatically.';

async function fresh() {
  const { workspace, key, assistant } = await server.setup();
  const sam = await server.createAgent(workspace.id, { name: 'Sam', email: 'sam@acme.test' });
  const kim = await server.createAgent(workspace.id, { name: 'Kim', email: 'kim@acme.test' });
  return {
    workspace,
    assistant,
    sam,
    kim,
    zap: api(server.url, key),
    visitor: api(server.url),
    samConsole: api(server.url, sam.token),
    kimConsole: api(server.url, kim.token),
  };
}

const widgetStart = (assistantId: string) => `/v1/widget/assistants/${assistantId}/conversations`;

describe('starting conversations', () => {
  it('a widget visitor starts one: widget.conversation_started with the conversation as it is', async () => {
    const { workspace, assistant, visitor } = await fresh();
    const res = await visitor.post(widgetStart(assistant.id), {
      message: 'Do you ship to Canada?',
      visitor_id: 'vis_1',
      visitor_name: 'Jane',
      visitor_email: 'jane@example.com',
      page_url: 'https://shop.example.com/pricing',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.stringMatching(/^cnv_/),
      channel: 'widget',
      mode: 'assistant',
      status: 'open',
      visitorId: 'vis_1',
      visitorName: 'Jane',
      visitorEmail: 'jane@example.com',
      pageUrl: 'https://shop.example.com/pricing',
      firstMessage: 'Do you ship to Canada?',
      assistantId: assistant.id,
    });
    const event = at(
      await recordedEvents(server, { type: 'widget.conversation_started', workspaceId: workspace.id }),
      0,
    );
    expect(event.payload).toMatchObject({
      assistantId: assistant.id,
      assistantName: 'Acme Bot',
      workspaceId: workspace.id,
    });
    const { assistantId, assistantName, updatedAt, ...conversation } = res.body;
    expect(event.payload.data).toEqual({ conversation });
    expect(
      await server.ctx.db.all('SELECT sender_type, body FROM messages WHERE conversation_id = ?', res.body.id),
    ).toEqual([{ sender_type: 'visitor', body: 'Do you ship to Canada?' }]);
  });

  it('an in-app user starts one: chat.conversation_started', async () => {
    const { workspace, assistant, visitor } = await fresh();
    const res = await visitor.post(`/v1/in-app/assistants/${assistant.id}/conversations`, {
      message: 'Where is my invoice?',
      user_id: 'u_42',
      user_name: 'Lee',
      user_email: 'lee@example.com',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ channel: 'in_app', visitorId: 'u_42', visitorName: 'Lee', pageUrl: null });
    const events = await recordedEvents(server, { type: 'chat.conversation_started', workspaceId: workspace.id });
    expect(events.map((e) => e.payload.data.conversation.id)).toEqual([res.body.id]);
  });

  it('404s an unknown assistant and 422s a missing message, storing nothing', async () => {
    const { assistant, visitor } = await fresh();
    const before = await tableCounts(server);
    const unknown = await visitor.post(widgetStart('ast_nope'), { message: 'hi' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
    expect((await visitor.post(`/v1/in-app/assistants/ast_nope/conversations`, { message: 'hi' })).status).toBe(404);
    const invalid = await visitor.post(widgetStart(assistant.id), { visitor_email: 'nope' });
    expect(invalid.status).toBe(422);
    expect(invalid.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      'message',
      'visitor_email',
    ]);
    expect(await tableCounts(server)).toEqual(before);
  });
});

describe('the widget lead form', () => {
  it('creates a contact and fires lead.captured (widget_form, isNew true, the conversation’s assistant)', async () => {
    const { workspace, assistant, visitor } = await fresh();
    const conversation = (await visitor.post(widgetStart(assistant.id), { message: 'Hi' })).body;
    const res = await visitor.post(`/v1/widget/conversations/${conversation.id}/lead`, {
      email: 'New@Lead.com',
      name: 'New Lead',
      phone: '555',
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ conversationId: conversation.id, received: true });
    const contact = (await server.ctx.db.one<any>('SELECT * FROM contacts WHERE workspace_id = ?', workspace.id))!;
    expect(contact).toMatchObject({ email: 'New@Lead.com', source: 'widget_form', assistant_id: assistant.id });
    const event = at(await recordedEvents(server, { type: 'lead.captured', workspaceId: workspace.id }), 0);
    expect(event.payload).toEqual({
      id: contact.id,
      name: 'New Lead',
      email: 'New@Lead.com',
      phone: '555',
      source: 'widget_form',
      isNew: true,
      createdAt: contact.created_at,
      assistantId: assistant.id,
      assistantName: 'Acme Bot',
      attributes: {},
    });
    expect(event.assistantId).toBe(assistant.id);
    const linked = await server.ctx.db.one(
      'SELECT contact_id, visitor_email FROM conversations WHERE id = ?',
      conversation.id,
    );
    expect(linked).toEqual({ contact_id: contact.id, visitor_email: 'New@Lead.com' });
  });

  it('always fires, with isNew false when the email matched, and keeps what the CRM had', async () => {
    const { workspace, assistant, visitor, zap } = await fresh();
    const known = (await zap.post('/v1/contacts', { email: 'known@example.com', name: 'CRM Name' })).body;
    const conversation = (await visitor.post(widgetStart(assistant.id), { message: 'Hi' })).body;
    const res = await visitor.post(`/v1/widget/conversations/${conversation.id}/lead`, {
      email: 'KNOWN@example.com',
      name: 'Typed Name',
      phone: '777',
    });
    expect(res.body).toEqual({ conversationId: conversation.id, received: true }); // nothing of the CRM's record
    const contact = await server.ctx.db.one('SELECT id, name, phone, source FROM contacts WHERE id = ?', known.id);
    expect(contact).toEqual({ id: known.id, name: 'CRM Name', phone: '777', source: 'api' });
    const events = await recordedEvents(server, { type: 'lead.captured', workspaceId: workspace.id });
    expect(events.map((e) => [e.payload.source, e.payload.isNew])).toEqual([
      ['api', true],
      ['widget_form', false],
    ]);
    expect(at(events, 1).payload).toMatchObject({ id: known.id, assistantId: assistant.id });
  });

  it('404s an unknown conversation', async () => {
    const { visitor } = await fresh();
    const res = await visitor.post('/v1/widget/conversations/cnv_nope/lead', { email: 'a@b.co' });
    expect(res.status).toBe(404);
  });
});

describe('live chat, from handoff to end', () => {
  it('queues, takes over, transfers and ends, with the four events and the mode at each step', async () => {
    const { workspace, assistant, visitor, sam, kim, samConsole, kimConsole } = await fresh();
    const conversation = (await visitor.post(widgetStart(assistant.id), { message: 'I need a human' })).body;
    const mode = async () => await server.ctx.db.value('SELECT mode FROM conversations WHERE id = ?', conversation.id);

    const queued = await visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {
      reason: 'Asked for a human',
    });
    expect(queued.status).toBe(201);
    expect(queued.body).toMatchObject({
      id: expect.stringMatching(/^lcs_/),
      status: 'queued',
      agentId: null,
      reason: 'Asked for a human',
    });
    expect(await mode()).toBe('assistant');

    clock.advance(5_000);
    const accepted = await samConsole.post(`/v1/agent/live-chat/sessions/${queued.body.id}/accept`);
    expect(accepted.status).toBe(200);
    expect(accepted.body).toMatchObject({
      status: 'active',
      agentId: sam.id,
      agentName: 'Sam',
      agentEmail: 'sam@acme.test',
    });
    expect(await mode()).toBe('human');

    clock.advance(30_000);
    const transferred = await samConsole.post(`/v1/agent/live-chat/sessions/${queued.body.id}/transfer`, {
      to_agent_id: kim.id,
      note: 'Billing',
    });
    expect(transferred.body).toMatchObject({ status: 'active', agentId: kim.id, assignedAt: accepted.body.assignedAt });
    expect(await mode()).toBe('human');

    clock.advance(60_500);
    const ended = await kimConsole.post(`/v1/agent/live-chat/sessions/${queued.body.id}/end`, { ended_by: 'visitor' });
    expect(ended.body).toMatchObject({ status: 'ended', endedAt: new Date(clock.now()).toISOString() });
    expect(await mode()).toBe('assistant');

    const events = (await recordedEvents(server, { workspaceId: workspace.id })).filter((e) =>
      e.type.startsWith('live_chat.'),
    );
    expect(events.map((e) => e.type)).toEqual([
      'live_chat.session_queued',
      'live_chat.agent_assigned',
      'live_chat.session_transferred',
      'live_chat.session_ended',
    ]);
    for (const e of events) {
      expect(e.payload).toMatchObject({ assistantId: assistant.id, assistantName: 'Acme Bot' });
      expect(e.payload.data.session.id).toBe(queued.body.id);
      expect(e.payload.data.conversation.id).toBe(conversation.id);
    }
    expect(at(events, 0).payload.data).toMatchObject({
      reason: 'Asked for a human',
      conversation: { mode: 'assistant' },
    });
    expect(at(events, 1).payload.data).toMatchObject({
      agent: { id: sam.id, name: 'Sam', email: 'sam@acme.test' },
      conversation: { mode: 'human' },
    });
    expect(at(events, 2).payload.data).toMatchObject({
      fromAgent: { id: sam.id },
      toAgent: { id: kim.id },
      note: 'Billing',
      conversation: { mode: 'human' },
    });
    // From Sam's pickup to the end, across the transfer: 30 s + 60.5 s, in whole seconds.
    expect(at(events, 3).payload.data).toMatchObject({
      endedBy: 'visitor',
      durationSeconds: 90,
      conversation: { mode: 'assistant' },
    });
  });

  it('refuses steps that do not fit the state with 409 invalid_state, and changes nothing', async () => {
    const { assistant, visitor, sam, samConsole } = await fresh();
    const conversation = (await visitor.post(widgetStart(assistant.id), { message: 'x' })).body;
    const session = (await visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {})).body;
    const expectState = async (p: Promise<{ status: number; body: any }>) => {
      const before = await tableCounts(server);
      const res = await p;
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('invalid_state');
      expect(await tableCounts(server)).toEqual(before);
    };
    await expectState(visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {}));
    await expectState(samConsole.post(`/v1/agent/live-chat/sessions/${session.id}/transfer`, { to_agent_id: sam.id }));
    await samConsole.post(`/v1/agent/live-chat/sessions/${session.id}/accept`);
    await expectState(samConsole.post(`/v1/agent/live-chat/sessions/${session.id}/accept`));
    await expectState(samConsole.post(`/v1/agent/live-chat/sessions/${session.id}/transfer`, { to_agent_id: sam.id }));
    await samConsole.post(`/v1/agent/live-chat/sessions/${session.id}/end`);
    await expectState(samConsole.post(`/v1/agent/live-chat/sessions/${session.id}/end`));
    // Once ended, the visitor may ask for a human again.
    expect((await visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {})).status).toBe(201);
  });

  it('an agent of another workspace sees no session', async () => {
    const a = await fresh();
    const b = await fresh();
    const conversation = (await a.visitor.post(widgetStart(a.assistant.id), { message: 'x' })).body;
    const session = (await a.visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {})).body;
    const res = await b.samConsole.post(`/v1/agent/live-chat/sessions/${session.id}/accept`);
    expect(res.status).toBe(404);
    expect(await server.ctx.db.value('SELECT status FROM live_chat_sessions WHERE id = ?', session.id)).toBe('queued');
  });
});

describe('Send Message to Conversation', () => {
  it('posts into a conversation in takeover, as the integration', async () => {
    const { assistant, visitor, samConsole, zap } = await fresh();
    const conversation = (await visitor.post(widgetStart(assistant.id), { message: 'x' })).body;
    const session = (await visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {})).body;
    await samConsole.post(`/v1/agent/live-chat/sessions/${session.id}/accept`);
    const res = await zap.post(`/v1/conversations/${conversation.id}/messages`, { message: 'Your order shipped.' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^msg_/),
      conversationId: conversation.id,
      body: 'Your order shipped.',
      senderType: 'integration',
      createdAt: expect.any(String),
    });
  });

  it('refuses a conversation the assistant still handles with 409 conversation_not_in_takeover, in the spec’s words', async () => {
    const { assistant, visitor, samConsole, zap } = await fresh();
    const conversation = (await visitor.post(widgetStart(assistant.id), { message: 'x' })).body;
    const session = (await visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {})).body;
    const before = await tableCounts(server);
    const queuedOnly = await zap.post(`/v1/conversations/${conversation.id}/messages`, { message: 'Hello?' });
    expect(queuedOnly.status).toBe(409);
    expect(queuedOnly.body.error).toEqual({ code: 'conversation_not_in_takeover', message: TAKEOVER_MESSAGE });
    await samConsole.post(`/v1/agent/live-chat/sessions/${session.id}/accept`);
    await samConsole.post(`/v1/agent/live-chat/sessions/${session.id}/end`);
    const afterEnd = await zap.post(`/v1/conversations/${conversation.id}/messages`, { message: 'Hello?' });
    expect(afterEnd.body.error.code).toBe('conversation_not_in_takeover');
    expect((await tableCounts(server)).messages).toBe(before.messages);
  });

  it('404s an unknown conversation and 422s an empty message', async () => {
    const { zap } = await fresh();
    expect((await zap.post('/v1/conversations/cnv_nope/messages', { message: 'x' })).status).toBe(404);
    const empty = await zap.post('/v1/conversations/cnv_nope/messages', { message: ' ' });
    expect(empty.status).toBe(422);
  });
});

describe('GET /v1/conversations', () => {
  it('lists newest first, filters by mode, and pages with a cursor', async () => {
    const { assistant, visitor, samConsole, zap } = await fresh();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await visitor.post(widgetStart(assistant.id), { message: `c${i}` })).body.id);
    for (const id of [ids[1], ids[3]]) {
      const session = (await visitor.post(`/v1/widget/conversations/${id}/handoff`, {})).body;
      await samConsole.post(`/v1/agent/live-chat/sessions/${session.id}/accept`);
    }
    const all = await zap.get('/v1/conversations?limit=3');
    expect(all.body.data.map((c: { id: string }) => c.id)).toEqual([ids[3], ids[2], ids[1]]);
    const rest = await zap.get(`/v1/conversations?limit=3&cursor=${all.body.nextCursor}`);
    expect(rest.body).toEqual({ data: [expect.objectContaining({ id: ids[0] })], nextCursor: null });
    const human = await zap.get('/v1/conversations?mode=human');
    expect(human.body.data.map((c: { id: string; mode: string }) => [c.id, c.mode])).toEqual([
      [ids[3], 'human'],
      [ids[1], 'human'],
    ]);
    expect((await zap.get('/v1/conversations?mode=robot')).status).toBe(422);
  });
});

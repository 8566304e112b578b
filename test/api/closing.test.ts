/**
 * Closing conversations (issue 14): an agent (console) or the assistant (the widget) closes an open
 * conversation; conversation.closed fires in the same transaction with who closed it, the message count and
 * the duration. Also reading a conversation by id and finding the latest by visitor email.
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

async function fresh() {
  const { workspace, assistant, key } = await server.setup();
  const agent = await server.createAgent(workspace.id, { name: 'Sam Rivera', email: 'sam@example.com' });
  const visitor = api(server.url);
  const start = async (body: Record<string, unknown> = {}) =>
    (await visitor.post(`/v1/widget/assistants/${assistant.id}/conversations`, { message: 'Hello', ...body })).body;
  return {
    workspace,
    assistant,
    agent,
    zap: api(server.url, key),
    console: api(server.url, agent.token),
    visitor,
    start,
  };
}

const closedEvents = async (workspaceId: string) =>
  await recordedEvents(server, { type: 'conversation.closed', workspaceId });

describe('an agent closes a conversation', () => {
  it('fires conversation.closed with the agent, the closing time, every message counted and the duration', async () => {
    const w = await fresh();
    const conversation = await w.start();
    const session = (await w.visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {})).body;
    await w.console.post(`/v1/agent/live-chat/sessions/${session.id}/accept`);
    await w.zap.post(`/v1/conversations/${conversation.id}/messages`, { message: 'From a Zap' });
    await w.console.post(`/v1/agent/live-chat/sessions/${session.id}/end`, {});
    clock.advance(7 * 60_000 + 999);
    const res = await w.console.post(`/v1/agent/conversations/${conversation.id}/close`, {});
    expect(res.status).toBe(200);
    const closedAt = new Date(clock.now()).toISOString();
    expect(res.body).toMatchObject({
      id: conversation.id,
      status: 'closed',
      closedAt,
      closedBy: { type: 'agent', id: w.agent.id, name: 'Sam Rivera' },
      messageCount: 2,
    });
    const event = at(await closedEvents(w.workspace.id), 0);
    expect(event.assistantId).toBe(w.assistant.id);
    expect(event.payload).toMatchObject({
      type: 'conversation.closed',
      assistantId: w.assistant.id,
      assistantName: w.assistant.name,
      data: {
        conversation: { id: conversation.id, status: 'closed', mode: 'assistant' },
        closedBy: { type: 'agent', id: w.agent.id, name: 'Sam Rivera' },
        closedAt,
        messageCount: 2,
        durationSeconds: 420,
      },
    });
  });

  it.each([
    [
      'already closed',
      async (w: Awaited<ReturnType<typeof fresh>>, id: string) =>
        void (await w.console.post(`/v1/agent/conversations/${id}/close`, {})),
    ],
    [
      'with a queued live chat',
      async (w: Awaited<ReturnType<typeof fresh>>, id: string) =>
        void (await w.visitor.post(`/v1/widget/conversations/${id}/handoff`, {})),
    ],
  ])('is 409 invalid_state when %s, and stores and fires nothing', async (_what, before) => {
    const w = await fresh();
    const conversation = await w.start();
    await before(w, conversation.id);
    const counts = await tableCounts(server);
    const events = (await closedEvents(w.workspace.id)).length;
    const res = await w.console.post(`/v1/agent/conversations/${conversation.id}/close`, {});
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('invalid_state');
    expect(await tableCounts(server)).toEqual(counts);
    expect(await closedEvents(w.workspace.id)).toHaveLength(events);
  });

  it("is 404 for another workspace's conversation, which stays open", async () => {
    const a = await fresh();
    const b = await fresh();
    const conversation = await a.start();
    expect((await b.console.post(`/v1/agent/conversations/${conversation.id}/close`, {})).status).toBe(404);
    expect((await a.zap.get(`/v1/conversations/${conversation.id}`)).body.status).toBe('open');
  });

  it('closes once when two agents close it at the same time: one 200, one 409, one event', async () => {
    const w = await fresh();
    const other = api(server.url, (await server.createAgent(w.workspace.id)).token);
    const conversation = await w.start();
    const results = await Promise.all([
      w.console.post(`/v1/agent/conversations/${conversation.id}/close`, {}),
      other.post(`/v1/agent/conversations/${conversation.id}/close`, {}),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(await closedEvents(w.workspace.id)).toHaveLength(1);
  });

  it('a closed conversation takes no handoff', async () => {
    const w = await fresh();
    const conversation = await w.start();
    await w.console.post(`/v1/agent/conversations/${conversation.id}/close`, {});
    const res = await w.visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {});
    expect(res.body.error.code).toBe('invalid_state');
  });
});

describe('the assistant closes a conversation from the widget', () => {
  it('fires conversation.closed with closedBy the assistant, and tells the visitor only that it is closed', async () => {
    const w = await fresh();
    const conversation = await w.start({ visitor_email: 'ava@example.com' });
    const res = await w.visitor.post(`/v1/widget/conversations/${conversation.id}/close`, {});
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ conversationId: conversation.id, status: 'closed', closedAt: expect.any(String) });
    expect(at(await closedEvents(w.workspace.id), 0).payload.data).toMatchObject({
      closedBy: { type: 'assistant', id: w.assistant.id, name: w.assistant.name },
      messageCount: 1,
      durationSeconds: 0,
    });
    expect((await w.zap.get(`/v1/conversations/${conversation.id}`)).body.closedBy).toEqual({
      type: 'assistant',
      id: w.assistant.id,
      name: w.assistant.name,
    });
  });

  it('is 404 for an unknown conversation', async () => {
    const w = await fresh();
    expect((await w.visitor.post('/v1/widget/conversations/cnv_000000000000000000000000/close', {})).status).toBe(404);
  });
});

describe('reading a conversation', () => {
  it('by id: the record with its tags, message count and the 20 latest messages, oldest first', async () => {
    const w = await fresh();
    const conversation = await w.start();
    const session = (await w.visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {})).body;
    await w.console.post(`/v1/agent/live-chat/sessions/${session.id}/accept`);
    for (let i = 1; i <= 24; i++) {
      clock.advance(1000);
      await w.zap.post(`/v1/conversations/${conversation.id}/messages`, { message: `Zap ${i}` });
    }
    const res = await w.zap.get(`/v1/conversations/${conversation.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: conversation.id, status: 'open', closedAt: null, closedBy: null, tags: [] });
    expect(res.body.messageCount).toBe(25);
    expect(res.body.recentMessages.map((m: { body: string }) => m.body)).toEqual(
      Array.from({ length: 20 }, (_, i) => `Zap ${i + 5}`),
    );
  });

  it("is 404 for another workspace's conversation", async () => {
    const a = await fresh();
    const b = await fresh();
    const conversation = await a.start();
    const res = await b.zap.get(`/v1/conversations/${conversation.id}`);
    expect(res.status).toBe(404);
    expect(JSON.stringify(res.body)).not.toContain('Hello');
  });

  it('the latest by visitor email: matched case-insensitively, newest first, in this workspace only', async () => {
    const w = await fresh();
    const other = await fresh();
    await other.start({ visitor_email: 'ava@example.com' });
    const first = await w.start({ visitor_email: 'Ava@Example.com' });
    clock.advance(1000);
    const second = await w.start();
    clock.advance(1000);
    await w.visitor.post(`/v1/widget/conversations/${second.id}/lead`, { email: 'AVA@example.COM' });
    await w.start({ visitor_email: 'bob@example.com' });
    const res = await w.zap.get(`/v1/conversations?visitor_email=${encodeURIComponent('ava@EXAMPLE.com')}&limit=1`);
    expect(res.body.data.map((c: { id: string }) => c.id)).toEqual([second.id]);
    const page2 = await w.zap.get(
      `/v1/conversations?visitor_email=ava@example.com&limit=1&cursor=${encodeURIComponent(res.body.nextCursor)}`,
    );
    expect(page2.body).toMatchObject({ data: [{ id: first.id }], nextCursor: null });
    expect((await w.zap.get('/v1/conversations?visitor_email=nobody@example.com')).body.data).toEqual([]);
    expect((await w.zap.get('/v1/conversations?visitor_email=not-an-email')).status).toBe(422);
  });
});

/**
 * A key of one workspace never reads or changes another's data, even holding its ids: every such request
 * is a 404 (or, where the contract says so, an answer that changes nothing), never a 403 that would
 * confirm the id exists.
 */
import { tableCounts } from '../support/api-events';
import { api, type ApiServer, startApiServer } from '../support/api-server';

let server: ApiServer;
let victim: {
  workspaceId: string;
  assistantId: string;
  agentId: string;
  contactEmail: string;
  ticketId: string;
  conversationId: string;
  sessionId: string;
  subscriptionId: string;
};
let attacker: ReturnType<typeof api>;
let attackerConsole: ReturnType<typeof api>;

beforeAll(async () => {
  server = await startApiServer();
  const v = await server.setup();
  const zap = api(server.url, v.key);
  const agent = await server.createAgent(v.workspace.id);
  await zap.post('/v1/contacts', { email: 'secret.customer@victim.test', name: 'Secret' });
  const ticket = (
    await zap.post('/v1/tickets', { subject: 'Private matter', contact_email: 'secret.customer@victim.test' })
  ).body;
  const conversation = (
    await api(server.url).post(`/v1/widget/assistants/${v.assistant.id}/conversations`, { message: 'private' })
  ).body;
  const session = (await api(server.url).post(`/v1/widget/conversations/${conversation.id}/handoff`, {})).body;
  await api(server.url, agent.token).post(`/v1/agent/live-chat/sessions/${session.id}/accept`);
  const subscription = (
    await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: 'http://127.0.0.1:9/victim' })
  ).body;
  victim = {
    workspaceId: v.workspace.id,
    assistantId: v.assistant.id,
    agentId: agent.id,
    contactEmail: 'secret.customer@victim.test',
    ticketId: ticket.id,
    conversationId: conversation.id,
    sessionId: session.id,
    subscriptionId: subscription.id,
  };
  const a = await server.setup();
  attacker = api(server.url, a.key);
  attackerConsole = api(server.url, (await server.createAgent(a.workspace.id)).token);
});
afterAll(async () => await server.close());

/** Everything of the victim's that a request could change, to compare before and after. */
async function victimState() {
  const db = server.ctx.db;
  return {
    tickets: await db.all('SELECT * FROM tickets WHERE workspace_id = ?', victim.workspaceId),
    contacts: await db.all('SELECT * FROM contacts WHERE workspace_id = ?', victim.workspaceId),
    messages: await db.all('SELECT * FROM messages WHERE workspace_id = ?', victim.workspaceId),
    sessions: await db.all('SELECT * FROM live_chat_sessions WHERE workspace_id = ?', victim.workspaceId),
    subscriptions: await db.all('SELECT * FROM subscriptions WHERE workspace_id = ?', victim.workspaceId),
    events: await db.all('SELECT * FROM events WHERE workspace_id = ?', victim.workspaceId),
  };
}

it('lists show only the caller’s own records', async () => {
  const everything = JSON.stringify(
    [
      await attacker.get('/v1/tickets'),
      await attacker.get('/v1/conversations'),
      await attacker.get('/v1/conversations?mode=human'),
      await attacker.get('/v1/assistants'),
      await attacker.get(`/v1/contacts?email=${victim.contactEmail}`),
      await attacker.get('/v1/samples?event_type=ticket.created'),
      await attacker.get(`/v1/samples?event_type=widget.conversation_started&assistant_id=${victim.assistantId}`),
    ].map((r) => r.body),
  );
  for (const id of Object.values(victim)) expect(everything).not.toContain(id);
  expect(everything).not.toContain('Private matter');
});

it('writes aimed at the other workspace’s ids are 404s or no-ops, and change none of its data', async () => {
  const before = await victimState();
  const expect404 = async (p: Promise<{ status: number; body: any }>) => {
    const res = await p;
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  };
  await expect404(attacker.patch(`/v1/tickets/${victim.ticketId}`, { status: 'closed', subject: 'pwned' }));
  await expect404(attacker.post(`/v1/conversations/${victim.conversationId}/messages`, { message: 'pwned' }));
  await expect404(attackerConsole.post(`/v1/agent/tickets/${victim.ticketId}/assign`, { agent_id: victim.agentId }));
  await expect404(attackerConsole.post(`/v1/agent/tickets/${victim.ticketId}/status`, { status: 'closed' }));
  await expect404(attackerConsole.post(`/v1/agent/live-chat/sessions/${victim.sessionId}/end`));
  await expect404(
    attackerConsole.post(`/v1/agent/live-chat/sessions/${victim.sessionId}/transfer`, { to_agent_id: victim.agentId }),
  );
  await expect404(attackerConsole.post('/v1/agent/tickets', { subject: 'x', conversation_id: victim.conversationId }));

  const unsubscribe = await attacker.delete(`/v1/subscriptions/${victim.subscriptionId}`);
  expect(unsubscribe.status).toBe(200);
  const subscribe = await attacker.post('/v1/subscriptions', {
    event_type: 'ticket.created',
    target_url: 'http://127.0.0.1:9/attacker',
    assistant_id: victim.assistantId,
  });
  expect(subscribe.status).toBe(422);
  const ticket = await attacker.post('/v1/tickets', { subject: 'link?', contact_email: victim.contactEmail });
  expect(ticket.body.error.code).toBe('contact_not_found');
  // The same email in the attacker's workspace is the attacker's own new contact.
  const contact = await attacker.post('/v1/contacts', { email: victim.contactEmail, name: 'Mine' });
  expect(contact.status).toBe(201);

  expect(await victimState()).toEqual(before);
});

it('a guessed id that does not exist and one that belongs elsewhere get the same answer', async () => {
  const counts = await tableCounts(server);
  const elsewhere = await attacker.patch(`/v1/tickets/${victim.ticketId}`, { status: 'open' });
  const nowhere = await attacker.patch('/v1/tickets/tkt_000000000000000000000000', { status: 'open' });
  expect(elsewhere.status).toBe(nowhere.status);
  expect(elsewhere.body.error.code).toBe(nowhere.body.error.code);
  expect(await tableCounts(server)).toEqual(counts);
});

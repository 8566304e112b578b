/**
 * The API's answers for the records no event carries (contacts, messages, subscriptions) are exactly the
 * catalog's shapes: the Zapier app's output fields, samples and subscribeData are typed from the same
 * schemas, so a field the API adds, drops or retypes fails here rather than in a Zap.
 */
import type { z } from 'zod';

import { contactSchema, messageSchema, subscribedSchema, subscriptionStatusSchema } from '../../catalog/records';
import { api, type ApiServer, startApiServer } from '../support/api-server';

let server: ApiServer;
beforeAll(async () => {
  server = await startApiServer();
});
afterAll(async () => await server.close());

const strictly = (schema: z.ZodObject, body: unknown) => schema.strict().safeParse(body).error?.issues ?? [];

it('a contact, created, updated and found, is the catalog’s contact record', async () => {
  const { key } = await server.setup();
  const zap = api(server.url, key);
  const created = await zap.post('/v1/contacts', { email: 'Ada@Example.com', name: 'Ada', company: 'Analytical' });
  expect(created.status).toBe(201);
  expect(strictly(contactSchema, created.body)).toEqual([]);

  const updated = await zap.post('/v1/contacts', { email: 'ada@example.com', phone: '+44 20 7946 0000' });
  expect(updated.status).toBe(200);
  expect(strictly(contactSchema, updated.body)).toEqual([]);

  const found = await zap.get('/v1/contacts?email=ada@example.com');
  expect(found.body.data).toHaveLength(1);
  expect(strictly(contactSchema, found.body.data[0])).toEqual([]);
});

it('a message sent into a taken-over conversation is the catalog’s message record', async () => {
  const { workspace, key, assistant } = await server.setup();
  const agent = await server.createAgent(workspace.id, { name: 'Sam' });
  const visitor = api(server.url);
  const conversation = (
    await visitor.post(`/v1/widget/assistants/${assistant.id}/conversations`, { message: 'A human, please' })
  ).body;
  const session = (await visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {})).body;
  expect((await api(server.url, agent.token).post(`/v1/agent/live-chat/sessions/${session.id}/accept`)).status).toBe(
    200,
  );

  const sent = await api(server.url, key).post(`/v1/conversations/${conversation.id}/messages`, {
    message: 'Your order shipped.',
  });
  expect(sent.status).toBe(201);
  expect(strictly(messageSchema, sent.body)).toEqual([]);
  expect(sent.body).toMatchObject({
    conversationId: conversation.id,
    senderType: 'integration',
    body: 'Your order shipped.',
  });
});

it('a subscription, as subscribe answers it and as the list shows it active and stopped, is the catalog’s', async () => {
  const { key, assistant } = await server.setup();
  const zap = api(server.url, key);
  const body = {
    event_type: 'ticket.created',
    target_url: 'https://hooks.example.com/records/1',
    assistant_id: assistant.id,
  };
  const created = await zap.post('/v1/subscriptions', body);
  expect(created.status).toBe(201);
  expect(strictly(subscribedSchema, created.body)).toEqual([]);
  const again = await zap.post('/v1/subscriptions', body);
  expect(again.status).toBe(200);
  expect(strictly(subscribedSchema, again.body)).toEqual([]);

  const other = await zap.post('/v1/subscriptions', {
    event_type: 'lead.captured',
    target_url: 'https://hooks.example.com/records/2',
  });
  expect((await zap.delete(`/v1/subscriptions/${other.body.id}`)).status).toBe(200);
  const listed = (await zap.get('/v1/subscriptions')).body.data as { active: boolean }[];
  expect(listed.map((s) => s.active).sort()).toEqual([false, true]);
  for (const subscription of listed) expect(strictly(subscriptionStatusSchema, subscription)).toEqual([]);
});

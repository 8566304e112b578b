import { CONVERSATION_EVENT_TYPES } from '../../catalog/events';
import { fixtureFor } from '../../fixtures';
import * as conversationEvent from '../../zapier-app/triggers/conversation_event';
import * as leadCaptured from '../../zapier-app/triggers/lead_captured';
import assistantList from '../../zapier-app/triggers/assistant_list';
import ticketList from '../../zapier-app/triggers/ticket_list';
import conversationList, { conversationLabel } from '../../zapier-app/triggers/conversation_list';
import { api, appTester, bundle, rejectionOf, useMockedApi } from './support/app';

useMockedApi();

const targetUrl = 'https://hooks.zapier.com/hooks/standard/123/abcdef/';
const subscription = (eventType: string, assistantId: string | null = null) => ({
  id: 'sub_000000000000000000001',
  eventType,
  targetUrl,
  assistantId,
  secret: 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0',
  active: true,
  createdAt: '2026-01-15T09:30:00.000Z',
});

describe('Lead Captured', () => {
  it('subscribes to lead.captured for every assistant when none is chosen', async () => {
    api()
      .post('/v1/subscriptions', { event_type: 'lead.captured', target_url: targetUrl })
      .reply(201, subscription('lead.captured'));

    const subscribeData = await appTester(leadCaptured.performSubscribe, bundle({ targetUrl, inputData: {} }));

    // Zapier keeps this as bundle.subscribeData for unsubscribe.
    expect(subscribeData).toEqual(subscription('lead.captured'));
  });

  it('sends the chosen assistant with the subscription, so IllumiChat filters', async () => {
    api()
      .post('/v1/subscriptions', { event_type: 'lead.captured', target_url: targetUrl, assistant_id: 'ast_1' })
      .reply(201, subscription('lead.captured', 'ast_1'));
    await appTester(leadCaptured.performSubscribe, bundle({ targetUrl, inputData: { assistant_id: 'ast_1' } }));
  });

  it('unsubscribes by the id subscribe returned', async () => {
    api().delete('/v1/subscriptions/sub_000000000000000000001').reply(200, { id: 'sub_000000000000000000001', active: false });
    const result = await appTester(
      leadCaptured.performUnsubscribe,
      bundle({ subscribeData: { id: 'sub_000000000000000000001' } }),
    );
    expect(result).toEqual({ id: 'sub_000000000000000000001', active: false });
  });

  it('returns the delivered record as it came: the flat lead', async () => {
    const delivered = fixtureFor('lead.captured');
    const records = await appTester(leadCaptured.perform, bundle({ cleanedRequest: delivered }));
    expect(records).toEqual([delivered]);
  });

  it('refuses a delivery without a JSON record', async () => {
    const error = await rejectionOf(appTester(leadCaptured.perform, bundle({ cleanedRequest: 'not json' })));
    expect(error).toMatchObject({ name: 'AppError', code: 'invalid_delivery' });
  });

  it('shows recent real leads on Test trigger', async () => {
    const live = [{ ...fixtureFor('lead.captured'), id: 'con_live', name: 'Real Person' }];
    api().get('/v1/samples').query({ event_type: 'lead.captured' }).reply(200, { data: live, source: 'live' });
    await expect(appTester(leadCaptured.performList, bundle())).resolves.toEqual(live);
  });

  it('shows the fixture on Test trigger when the workspace has no lead yet', async () => {
    api()
      .get('/v1/samples')
      .query({ event_type: 'lead.captured', assistant_id: 'ast_1' })
      .reply(200, { data: [fixtureFor('lead.captured')], source: 'fixture' });
    const records = await appTester(leadCaptured.performList, bundle({ inputData: { assistant_id: 'ast_1' } }));
    expect(records).toEqual([fixtureFor('lead.captured')]);
  });
});

describe('Conversation Event', () => {
  it.each(CONVERSATION_EVENT_TYPES)('subscribes to %s when it is the chosen Event Type', async (eventType) => {
    api()
      .post('/v1/subscriptions', { event_type: eventType, target_url: targetUrl, assistant_id: 'ast_2' })
      .reply(201, subscription(eventType, 'ast_2'));
    const result = await appTester(
      conversationEvent.performSubscribe,
      bundle({ targetUrl, inputData: { event_type: eventType, assistant_id: ' ast_2 ' } }),
    );
    expect(result).toMatchObject({ eventType });
  });

  it('asks for an Event Type before subscribing to anything else', async () => {
    const error = await rejectionOf(
      appTester(conversationEvent.performSubscribe, bundle({ targetUrl, inputData: { event_type: 'lead.captured' } })),
    );
    expect(error).toMatchObject({ name: 'AppError', code: 'invalid_event_type' });
    expect(error.message).toMatch(/Choose an Event Type/);
  });

  it('loads samples of the chosen type', async () => {
    const sample = fixtureFor('live_chat.session_ended');
    api()
      .get('/v1/samples')
      .query({ event_type: 'live_chat.session_ended' })
      .reply(200, { data: [sample], source: 'fixture' });
    const records = await appTester(
      conversationEvent.performList,
      bundle({ inputData: { event_type: 'live_chat.session_ended' } }),
    );
    expect(records).toEqual([sample]);
  });

  it('returns the delivered event as it came, data.ticket.id included', async () => {
    const delivered = fixtureFor('ticket.status_changed');
    const [record] = await appTester(
      conversationEvent.perform,
      bundle({ cleanedRequest: delivered, inputData: { event_type: 'ticket.status_changed' } }),
    );
    expect(record).toEqual(delivered);
    expect((record as { data: { ticket: { id: string } } }).data.ticket.id).toMatch(/^tkt_/);
  });

  it('offers the nine events by readable name', () => {
    const field = conversationEvent.default.operation.inputFields?.[0] as { choices: { value: string; label: string }[] };
    expect(field.choices.map((c) => c.value)).toEqual(CONVERSATION_EVENT_TYPES);
    expect(field.choices[0].label).toBe('Ticket Created: a support ticket is opened');
  });
});

describe('unsubscribing', () => {
  it.each([
    [404, 'not_found'],
    [401, 'api_key_revoked'],
  ])('treats %i %s as done: nothing is left to deliver and the Zap must turn off', async (status, code) => {
    api().delete('/v1/subscriptions/sub_gone').reply(status, { error: { code, message: '…' } });
    const result = await appTester(conversationEvent.performUnsubscribe, bundle({ subscribeData: { id: 'sub_gone' } }));
    expect(result).toEqual({ id: 'sub_gone', active: false });
  });

  it('reports other failures, translated', async () => {
    api().delete('/v1/subscriptions/sub_1').reply(503, { error: { code: 'unavailable', message: 'Down for a moment.' } });
    const error = await rejectionOf(appTester(leadCaptured.performUnsubscribe, bundle({ subscribeData: { id: 'sub_1' } })));
    expect(error.name).toBe('ThrottledError');
    expect(error.message).toContain('(IllumiChat 503 unavailable)');
  });

  it('needs the subscription id', async () => {
    const error = await rejectionOf(appTester(leadCaptured.performUnsubscribe, bundle({ subscribeData: undefined })));
    expect(error.code).toBe('missing_subscription');
  });
});

describe('the hidden dropdown triggers', () => {
  it('lists assistants by name', async () => {
    api()
      .get('/v1/assistants')
      .query({ limit: '100' })
      .matchHeader('x-illumichat-zapier-operation', 'triggers.assistant_list.perform')
      .reply(200, { data: [{ id: 'ast_1', name: 'Sales Bot' }], nextCursor: null });
    const choices = await appTester(assistantList.operation.perform, bundle());
    expect(choices).toEqual([{ id: 'ast_1', name: 'Sales Bot', label: 'Sales Bot' }]);
  });

  it('lists recent tickets with number, subject and status', async () => {
    const ticket = (fixtureFor('ticket.created') as { data: { ticket: Record<string, unknown> } }).data.ticket;
    api().get('/v1/tickets').query({ limit: '100' }).reply(200, { data: [ticket], nextCursor: 'next' });
    const [choice] = (await appTester(ticketList.operation.perform, bundle())) as Record<string, unknown>[];
    expect(choice).toMatchObject({ id: ticket.id, label: '#1042 Sample ticket: cannot log in (new)' });
  });

  it('lists only conversations a human agent holds', async () => {
    const conversation = (fixtureFor('live_chat.agent_assigned') as { data: { conversation: Record<string, unknown> } })
      .data.conversation;
    api().get('/v1/conversations').query({ mode: 'human', limit: '100' }).reply(200, { data: [conversation], nextCursor: null });
    const [choice] = (await appTester(conversationList.operation.perform, bundle())) as Record<string, unknown>[];
    expect(choice).toMatchObject({ id: conversation.id, label: 'Jane Visitor: Hi, do you offer annual billing?' });
  });

  it('labels conversations without a name or a first message', () => {
    const base = { visitorName: null, visitorEmail: null, firstMessage: null } as never;
    expect(conversationLabel(base)).toBe('Visitor');
    expect(conversationLabel({ ...(base as object), visitorEmail: 'a@b.co', firstMessage: 'x'.repeat(100) } as never)).toBe(
      `a@b.co: ${'x'.repeat(59)}…`,
    );
  });
});

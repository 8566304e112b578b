import type { Bundle, ZObject } from 'zapier-platform-core';

import { CONVERSATION_EVENT_TYPES, type EventType } from '../../catalog/events';
import type { SubscribedRecord } from '../../catalog/records';
import { fixtureFor } from '../../fixtures';
import assistantList from '../../zapier-app/triggers/assistant_list';
import * as conversationEvent from '../../zapier-app/triggers/conversation_event';
import conversationList, { conversationLabel } from '../../zapier-app/triggers/conversation_list';
import * as leadCaptured from '../../zapier-app/triggers/lead_captured';
import ticketList from '../../zapier-app/triggers/ticket_list';
import { at } from '../support/items';
import { api, appTester, bundle, hookBundle, rejectionOf, useMockedApi, useZapierCursorStore } from './support/app';

useMockedApi();

const targetUrl = 'https://hooks.zapier.com/hooks/standard/123/abcdef/';
/** What the API answers a subscribe with: the catalog's subscribed record. */
const subscription = (eventType: EventType, assistantId: string | null = null): SubscribedRecord => ({
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
    api()
      .delete('/v1/subscriptions/sub_000000000000000000001')
      .reply(200, { id: 'sub_000000000000000000001', active: false });
    const result = await appTester(
      leadCaptured.performUnsubscribe,
      bundle({ subscribeData: { id: 'sub_000000000000000000001' } }),
    );
    expect(result).toEqual({ id: 'sub_000000000000000000001', active: false });
  });

  it('returns the delivered record exactly, the flat lead, without the querystring Zapier adds', async () => {
    const delivered = fixtureFor('lead.captured');
    const records = await appTester(leadCaptured.perform, hookBundle(delivered, {}, 'zap=1'));
    expect(records).toEqual([delivered]);
  });

  it('without a raw body, returns the cleaned request minus Zapier’s querystring', async () => {
    const delivered = fixtureFor('lead.captured');
    const cleanedRequest = { ...delivered, querystring: { zap: '1' } };
    const records = await appTester(leadCaptured.perform, bundle({ cleanedRequest, rawRequest: { headers: {} } }));
    expect(records).toEqual([delivered]);
  });

  it.each([
    ['a body that is not JSON', { cleanedRequest: 'not json', rawRequest: { content: 'not json' } }],
    ['a JSON array', { cleanedRequest: { querystring: {} }, rawRequest: { content: '[1]' } }],
    ['no body at all', { cleanedRequest: 'not json' }],
  ])('refuses a delivery with %s', async (_, request) => {
    const error = await rejectionOf(appTester(leadCaptured.perform, bundle(request as never)));
    expect(error).toMatchObject({ name: 'AppError', code: 'invalid_delivery' });
  });

  it('shows recent real leads on Test trigger', async () => {
    const live = [{ ...fixtureFor('lead.captured'), id: 'con_live', name: 'Real Person' }];
    api().get('/v1/samples').query({ event_type: 'lead.captured' }).reply(200, { data: live, source: 'live' });
    await expect(appTester(leadCaptured.performList, bundle())).resolves.toEqual(live);
  });

  it('returns no more records than bundle.meta.limit asks for, and asks the API for no more', async () => {
    const live = [1, 2, 3].map((n) => ({ ...fixtureFor('lead.captured'), id: `con_live${n}` }));
    api()
      .get('/v1/samples')
      .query({ event_type: 'lead.captured', limit: '1' })
      .reply(200, { data: live, source: 'live' });
    const records = await appTester(leadCaptured.performList, bundle({ meta: { limit: 1, page: 0 } } as never));
    expect(records).toEqual([live[0]]);
  });

  it('asks for at most the API’s 10 samples, and for its default when Zapier sets no limit (-1)', async () => {
    api()
      .get('/v1/samples')
      .query({ event_type: 'lead.captured', limit: '10' })
      .reply(200, { data: [], source: 'live' });
    await appTester(leadCaptured.performList, bundle({ meta: { limit: 50, page: 0 } } as never));
    api().get('/v1/samples').query({ event_type: 'lead.captured' }).reply(200, { data: [], source: 'live' });
    await appTester(leadCaptured.performList, bundle({ meta: { limit: -1, page: 0 } } as never));
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

  it('returns the delivered event exactly, data.ticket.id included', async () => {
    const delivered = fixtureFor('ticket.status_changed');
    const [record] = await appTester(
      conversationEvent.perform,
      hookBundle(delivered, { inputData: { event_type: 'ticket.status_changed' } }),
    );
    expect(record).toEqual(delivered);
    expect((record as { data: { ticket: { id: string } } }).data.ticket.id).toMatch(/^tkt_/);
  });

  it('offers the nine events by readable name', () => {
    const field = conversationEvent.default.operation.inputFields?.[0] as {
      choices: { value: string; label: string }[];
    };
    expect(field.choices.map((c) => c.value)).toEqual(CONVERSATION_EVENT_TYPES);
    expect(at(field.choices, 0).label).toBe('Ticket Created: a support ticket is opened');
  });
});

describe('unsubscribing', () => {
  it.each([
    [404, 'not_found'],
    [401, 'api_key_revoked'],
  ])('treats %i %s as done: nothing is left to deliver and the Zap must turn off', async (status, code) => {
    api()
      .delete('/v1/subscriptions/sub_gone')
      .reply(status, { error: { code, message: '…' } });
    const result = await appTester(conversationEvent.performUnsubscribe, bundle({ subscribeData: { id: 'sub_gone' } }));
    expect(result).toEqual({ id: 'sub_gone', active: false });
  });

  it('reports other failures, translated', async () => {
    api()
      .delete('/v1/subscriptions/sub_1')
      .reply(503, { error: { code: 'unavailable', message: 'Down for a moment.' } });
    const error = await rejectionOf(
      appTester(leadCaptured.performUnsubscribe, bundle({ subscribeData: { id: 'sub_1' } })),
    );
    expect(error.name).toBe('ThrottledError');
    expect(error.message).toContain('(IllumiChat 503 unavailable)');
  });

  it.each([
    ['no subscribeData', undefined],
    ['an empty subscribeData', {}],
    ['a subscribeData without an id', { secret: 'whsec_x' }],
  ])('with %s, unsubscribes by the hook URL, so the subscription ends with the Zap', async (_, subscribeData) => {
    api()
      .delete('/v1/subscriptions')
      .query({ target_url: targetUrl })
      .matchHeader('x-illumichat-zapier-operation', 'triggers.lead_captured.performUnsubscribe')
      .reply(200, { ...subscription('lead.captured'), active: false });
    const result = await appTester(leadCaptured.performUnsubscribe, bundle({ targetUrl, subscribeData } as never));
    expect(result).toEqual({ id: subscription('lead.captured').id, active: false });
  });

  it('by the hook URL, treats 404 (nothing active there) as done', async () => {
    api()
      .delete('/v1/subscriptions')
      .query({ target_url: targetUrl })
      .reply(404, { error: { code: 'not_found', message: '…' } });
    const result = await appTester(
      conversationEvent.performUnsubscribe,
      bundle({ targetUrl, subscribeData: {} } as never),
    );
    expect(result).toEqual({ id: null, active: false });
  });

  it('by the hook URL, reports other failures, translated', async () => {
    api()
      .delete('/v1/subscriptions')
      .query({ target_url: targetUrl })
      .reply(403, { error: { code: 'insufficient_scope', message: 'x', requiredScope: 'events:read' } });
    const error = await rejectionOf(
      appTester(leadCaptured.performUnsubscribe, bundle({ targetUrl, subscribeData: {} } as never)),
    );
    expect(error).toMatchObject({ name: 'AppError', code: 'insufficient_scope' });
  });

  it('without an id or a hook URL, says nothing can be removed', async () => {
    const error = await rejectionOf(appTester(leadCaptured.performUnsubscribe, bundle()));
    expect(error.code).toBe('missing_subscription');
  });
});

describe('the hidden dropdown triggers', () => {
  beforeEach(useZapierCursorStore);

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
    api()
      .get('/v1/tickets')
      .query({ limit: '100' })
      .reply(200, { data: [ticket], nextCursor: 'next' });
    const [choice] = (await appTester(ticketList.operation.perform, bundle())) as Record<string, unknown>[];
    expect(choice).toMatchObject({ id: ticket.id, label: '#1042 Sample ticket: cannot log in (new)' });
  });

  it('lists only conversations a human agent holds', async () => {
    const conversation = (fixtureFor('live_chat.agent_assigned') as { data: { conversation: Record<string, unknown> } })
      .data.conversation;
    api()
      .get('/v1/conversations')
      .query({ mode: 'human', limit: '100' })
      .reply(200, { data: [conversation], nextCursor: null });
    const [choice] = (await appTester(conversationList.operation.perform, bundle())) as Record<string, unknown>[];
    expect(choice).toMatchObject({ id: conversation.id, label: 'Jane Visitor: Hi, do you offer annual billing?' });
  });

  it.each([
    ['ticket_list', ticketList, '/v1/tickets', {}],
    ['conversation_list', conversationList, '/v1/conversations', { mode: 'human' }],
  ] as const)(
    '%s pages through every record with Load more: page n asks for the cursor page n-1 returned',
    async (_, trigger, path, params) => {
      const record = (id: string) => ({
        id,
        number: 1,
        subject: 's',
        status: 'open',
        visitorName: 'V',
        visitorEmail: null,
        firstMessage: null,
      });
      api()
        .get(path)
        .query({ ...params, limit: '100' })
        .reply(200, { data: [record('rec_1')], nextCursor: 'c2' });
      api()
        .get(path)
        .query({ ...params, limit: '100', cursor: 'c2' })
        .reply(200, { data: [record('rec_2')], nextCursor: 'c3' });
      api()
        .get(path)
        .query({ ...params, limit: '100', cursor: 'c3' })
        .reply(200, { data: [record('rec_3')], nextCursor: null });
      const perform = trigger.operation.perform as unknown as (z: ZObject, b: Bundle) => Promise<{ id: string }[]>;
      const page = async (n: number) =>
        ((await appTester(perform, bundle({ meta: { page: n, limit: -1 } } as never))) as { id: string }[]).map(
          (c) => c.id,
        );

      expect(await page(0)).toEqual(['rec_1']);
      expect(await page(1)).toEqual(['rec_2']);
      expect(await page(2)).toEqual(['rec_3']);
      expect(await page(3)).toEqual([]); // the last page said there is no next one: no request
    },
  );

  it('the assistant list comes whole on page 0, and Load more adds nothing', async () => {
    api()
      .get('/v1/assistants')
      .query({ limit: '100' })
      .reply(200, { data: [{ id: 'ast_1', name: 'Sales Bot' }] });
    const page = (n: number) =>
      appTester(assistantList.operation.perform, bundle({ meta: { page: n, limit: -1 } } as never));
    expect(await page(0)).toEqual([{ id: 'ast_1', name: 'Sales Bot', label: 'Sales Bot' }]);
    expect(await page(1)).toEqual([]);
  });
});

describe('dropdown labels', () => {
  it('labels conversations without a name or a first message', () => {
    const base = { visitorName: null, visitorEmail: null, firstMessage: null } as never;
    expect(conversationLabel(base)).toBe('Visitor');
    expect(
      conversationLabel({ ...(base as object), visitorEmail: 'a@b.co', firstMessage: 'x'.repeat(100) } as never),
    ).toBe(`a@b.co: ${'x'.repeat(59)}…`);
  });
});

/**
 * Both instant triggers end to end: the Zap turns on (performSubscribe to a local receiver), something
 * happens in IllumiChat through its real endpoints, the delivery worker posts the event, the delivery's
 * signature checks out with the secret subscribing returned, and perform turns it into what the Zap runs on.
 * Around it, Test trigger (performList) shows the fixture on a new workspace and the real event afterwards,
 * and the static sample, Test trigger's records and the delivered record all have the output fields' keys.
 */
import { CONVERSATION_EVENT_TYPES, type ConversationEventType, type EventType } from '../../catalog/events';
import { fixtureFor } from '../../fixtures';
import App from '../../zapier-app';
import { at, firstItems } from '../support/items';
import {
  deliveriesTo,
  flatKeys,
  hookUrl,
  type LiveHook,
  type TriggerKey,
  waitForDeliveries,
  zapierError,
} from '../support/zapier-live';
import {
  causeConversationEvent,
  type LiveWorkspace,
  newWorkspace,
  ok,
  startWidgetConversation,
  submitLeadForm,
} from '../support/zapier-product';
import { useLiveStack } from './live';

const live = useLiveStack();
let zaps = 0;

const deliveryRows = async (hook: LiveHook) =>
  await live.stack.server.ctx.db.value(
    'SELECT COUNT(*) FROM deliveries WHERE subscription_id = ?',
    hook.subscribeData.id,
  );

/** Turns a Zap on, checking what subscribing returned: the subscription, with a secret to verify deliveries. */
async function turnOn(
  w: LiveWorkspace,
  trigger: TriggerKey,
  inputData: Record<string, string> = {},
): Promise<LiveHook> {
  const hook = await w.zap.turnOn(trigger, inputData, hookUrl(live.rx, `${trigger}-${++zaps}`));
  const eventType: EventType =
    trigger === 'lead_captured'
      ? 'lead.captured'
      : trigger === 'tag_added'
        ? 'tag.added'
        : (inputData.event_type as EventType);
  expect(hook.subscribeData).toMatchObject({
    id: expect.stringMatching(/^sub_/),
    eventType,
    targetUrl: hook.targetUrl,
    assistantId: inputData.assistant_id ?? null,
    secret: expect.stringMatching(/^whsec_/),
    active: true,
  });
  return hook;
}

/** Waits for the Zap's nth delivery and runs the Zap on it: the one record perform returns. */
async function runOnDelivery(
  w: LiveWorkspace,
  hook: LiveHook,
  n = 1,
): Promise<{ record: Record<string, any>; body: unknown; webhookId: string }> {
  const delivery = at(await waitForDeliveries(live.rx, hook, n), n - 1);
  expect(delivery.headers['content-type']).toBe('application/json');
  const records = await w.zap.receive(hook, delivery); // throws unless the signature verifies
  expect(records).toHaveLength(1);
  // What the Zap runs on is exactly what IllumiChat sent.
  expect(records).toEqual([delivery.json()]);
  return { record: at(records, 0), body: delivery.json(), webhookId: String(delivery.headers['webhook-id']) };
}

/** Test trigger on a workspace where nothing has happened yet: the fixture, with the output fields' keys. */
async function expectFixtureOnTestTrigger(
  w: LiveWorkspace,
  trigger: TriggerKey,
  type: EventType,
  inputData: Record<string, string>,
) {
  const listed = await w.zap.testTrigger(trigger, inputData);
  expect(listed).toEqual([fixtureFor(type)]);
  expect(flatKeys(listed[0])).toEqual(await w.zap.outputKeys(trigger, inputData));
}

describe('Conversation Event', () => {
  it.each(CONVERSATION_EVENT_TYPES)(
    '%s: delivered when it happens, signed, and run by the Zap',
    async (type: ConversationEventType) => {
      const w = await newWorkspace(live.stack);
      const inputData = { event_type: type };
      const outputKeys = await w.zap.outputKeys('conversation_event', inputData);
      if (type.startsWith('ticket.')) expect(outputKeys).toContain('data__ticket__id');
      await expectFixtureOnTestTrigger(w, 'conversation_event', type, inputData);
      const hook = await turnOn(w, 'conversation_event', inputData);

      const expected = await causeConversationEvent(w, type);

      const { record, webhookId } = await runOnDelivery(w, hook);
      expect(record).toMatchObject(expected);
      expect(record.id).toMatch(/^evt_/);
      expect(webhookId).toBe(record.id); // the receiver's de-duplication key is the event's id
      expect(flatKeys(record)).toEqual(outputKeys);
      // Only the chosen type reaches this Zap, though the steps before it fired other events.
      expect(await deliveryRows(hook)).toBe(1);

      const listed = await w.zap.testTrigger('conversation_event', inputData);
      expect(listed[0]).toEqual(record);
      expect(listed.every((r) => flatKeys(r).join() === outputKeys.join())).toBe(true);
    },
  );

  it('has a static sample with the output fields of its sample event type', async () => {
    const w = await newWorkspace(live.stack);
    const sample = App.triggers.conversation_event.operation.sample;
    expect(sample).toEqual(fixtureFor('ticket.created'));
    expect(flatKeys(sample)).toEqual(await w.zap.outputKeys('conversation_event', { event_type: 'ticket.created' }));
  });

  it('with an Assistant chosen, delivers only that assistant’s events', async () => {
    const w = await newWorkspace(live.stack);
    const other = await live.stack.server.createAssistant(w.workspace.id, 'Sales Bot');
    const inputData = { event_type: 'widget.conversation_started', assistant_id: w.assistant.id };
    const filtered = await turnOn(w, 'conversation_event', inputData);
    const everyAssistant = await turnOn(w, 'conversation_event', { event_type: 'widget.conversation_started' });

    const fromOther = await startWidgetConversation(w, other.id, 'Sales question');
    const fromOurs = await startWidgetConversation(w, w.assistant.id, 'Support question');

    // Both happened and reached the unfiltered Zap: the filtered one had every chance to get both.
    const [first, second] = firstItems(await waitForDeliveries(live.rx, everyAssistant, 2), 2);
    expect([first.json(), second.json()].map((r: any) => r.data.conversation.id).sort()).toEqual(
      [fromOther.id, fromOurs.id].sort(),
    );
    const { record } = await runOnDelivery(w, filtered);
    expect(record).toMatchObject({ assistantId: w.assistant.id, data: { conversation: { id: fromOurs.id } } });
    await live.stack.server.worker!.idle();
    expect(deliveriesTo(live.rx, filtered)).toHaveLength(1);
    expect(await deliveryRows(filtered)).toBe(1);

    // Test trigger follows the same filter.
    const listed = await w.zap.testTrigger('conversation_event', inputData);
    expect(listed.map((r) => r.data.conversation.id)).toEqual([fromOurs.id]);
  });
});

describe('a request to the hook URL that IllumiChat did not sign', () => {
  it('does not run the Zap: a tampered body, or a real delivery replayed to another Zap', async () => {
    const w = await newWorkspace(live.stack);
    const leads = await turnOn(w, 'lead_captured');
    const otherZap = await turnOn(w, 'lead_captured');
    const conversation = await startWidgetConversation(w);
    await submitLeadForm(w, conversation.id, { email: 'jane@example.com', name: 'Jane Visitor' });
    const real = at(await waitForDeliveries(live.rx, leads, 1), 0);
    await expect(w.zap.perform(leads, real)).resolves.toEqual([real.json()]);

    const tampered = { ...real, body: Buffer.from(real.text.replace('jane@example.com', 'mallory@example.com')) };
    const forged = await zapierError(w.zap.perform(leads, tampered));
    expect(forged.name).toBe('HaltedError');
    expect(forged.message).toContain('did not sign');

    // Signed, but with the other subscription's secret: a delivery is only good for its own Zap.
    expect((await zapierError(w.zap.perform(otherZap, real))).name).toBe('HaltedError');
  });
});

describe('Lead Captured', () => {
  it('has a static sample with exactly the spec’s nine output fields', async () => {
    const w = await newWorkspace(live.stack);
    const outputKeys = await w.zap.outputKeys('lead_captured');
    expect(outputKeys).toEqual([
      'assistantId',
      'assistantName',
      'createdAt',
      'email',
      'id',
      'isNew',
      'name',
      'phone',
      'source',
    ]);
    expect(flatKeys(App.triggers.lead_captured.operation.sample)).toEqual(outputKeys);
  });

  it('a widget lead form: delivered as the flat contact record, with the assistant it came from', async () => {
    const w = await newWorkspace(live.stack);
    await expectFixtureOnTestTrigger(w, 'lead_captured', 'lead.captured', {});
    const hook = await turnOn(w, 'lead_captured');

    const conversation = await startWidgetConversation(w);
    const { contact } = await submitLeadForm(w, conversation.id, {
      email: 'jane@example.com',
      name: 'Jane Visitor',
      phone: '+1 555 0100',
    });

    const { record, webhookId } = await runOnDelivery(w, hook);
    expect(record).toEqual({
      id: contact.id,
      name: 'Jane Visitor',
      email: 'jane@example.com',
      phone: '+1 555 0100',
      source: 'widget_form',
      isNew: true,
      createdAt: contact.createdAt,
      assistantId: w.assistant.id,
      assistantName: 'Acme Bot',
      attributes: {},
    });
    expect(webhookId).toMatch(/^evt_/);
    expect(flatKeys(record)).toEqual(await w.zap.outputKeys('lead_captured'));

    const listed = await w.zap.testTrigger('lead_captured');
    expect(listed).toEqual([record]);
  });

  it('a contact added in the CRM and one created through the API: both leads, the same shape', async () => {
    const w = await newWorkspace(live.stack);
    const hook = await turnOn(w, 'lead_captured');

    const crm = await ok(w.sam.console.post('/v1/agent/contacts', { email: 'crm@example.com', name: 'Casey CRM' }));
    const first = await runOnDelivery(w, hook, 1);
    const viaApi = await ok(
      w.partner.post('/v1/contacts', { email: 'api@example.com', name: 'Avery API', company: 'Globex' }),
    );
    const second = await runOnDelivery(w, hook, 2);

    expect(first.record).toMatchObject({
      id: crm.id,
      source: 'crm',
      isNew: true,
      assistantId: null,
      assistantName: null,
    });
    expect(second.record).toMatchObject({ id: viaApi.id, source: 'api', isNew: true, name: 'Avery API' });
    const outputKeys = await w.zap.outputKeys('lead_captured');
    expect(flatKeys(first.record)).toEqual(outputKeys);
    expect(flatKeys(second.record)).toEqual(outputKeys);
    // Newest first, exactly as delivered.
    expect(await w.zap.testTrigger('lead_captured')).toEqual([second.record, first.record]);
  });

  it('with an Assistant chosen, a lead from another assistant is not delivered', async () => {
    const w = await newWorkspace(live.stack);
    const other = await live.stack.server.createAssistant(w.workspace.id, 'Sales Bot');
    const filtered = await turnOn(w, 'lead_captured', { assistant_id: w.assistant.id });
    const everyAssistant = await turnOn(w, 'lead_captured');

    const salesChat = await startWidgetConversation(w, other.id, 'Pricing?');
    const salesLead = (await submitLeadForm(w, salesChat.id, { email: 'sales-lead@example.com' })).contact;
    const supportChat = await startWidgetConversation(w, w.assistant.id, 'Help?');
    const supportLead = (await submitLeadForm(w, supportChat.id, { email: 'support-lead@example.com' })).contact;

    const both = await waitForDeliveries(live.rx, everyAssistant, 2);
    expect(both.map((d) => (d.json() as { id: string }).id).sort()).toEqual([salesLead.id, supportLead.id].sort());
    const { record } = await runOnDelivery(w, filtered);
    expect(record).toMatchObject({ id: supportLead.id, assistantId: w.assistant.id, assistantName: 'Acme Bot' });
    await live.stack.server.worker!.idle();
    expect(deliveriesTo(live.rx, filtered)).toHaveLength(1);
    expect(await deliveryRows(filtered)).toBe(1);

    expect((await w.zap.testTrigger('lead_captured', { assistant_id: other.id })).map((r) => r.id)).toEqual([
      salesLead.id,
    ]);
  });
});

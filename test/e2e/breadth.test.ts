/**
 * Issue 14 end to end, through the app tester against the real API: Tag Added fires from real tagging (a
 * Zap's action and an agent's console) and arrives signed; its filters drop what the Zap does not want; the
 * tag and note actions change the contact and conversation; Create or Update Contact shows the workspace's
 * attributes as typed fields and stores what a Zap maps into them, which Lead Captured then delivers; Find
 * Ticket, Find or Create Ticket and Find Conversation find what IllumiChat holds. Conversation Closed is in
 * triggers.test.ts with the other nine conversation event types.
 */
import { fixtureFor } from '../../fixtures';
import { at } from '../support/items';
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
  closeConversation,
  type LiveWorkspace,
  newWorkspace,
  ok,
  startWidgetConversation,
  submitLeadForm,
  takenOverConversation,
} from '../support/zapier-product';
import { useLiveStack } from './live';

const live = useLiveStack();
let zaps = 0;

const turnOn = (w: LiveWorkspace, trigger: TriggerKey, inputData: Record<string, string> = {}) =>
  w.zap.turnOn(trigger, inputData, hookUrl(live.rx, `${trigger}-${++zaps}`));

/** The Zap's nth delivery, signature-checked and run: what perform returns (none when a filter drops it). */
async function runOn(w: LiveWorkspace, hook: LiveHook, n = 1) {
  const delivery = at(await waitForDeliveries(live.rx, hook, n), n - 1);
  return { records: await w.zap.receive(hook, delivery), body: delivery.json() as Record<string, any> };
}

async function contactOf(w: LiveWorkspace, email = 'ava@example.com') {
  return ok(w.partner.post('/v1/contacts', { email, name: 'Ava Brooks' }));
}

describe('Tag Added', () => {
  it('fires when a Zap tags a contact and when an agent tags a conversation, signed, with who added it', async () => {
    const w = await newWorkspace(live.stack);
    expect(await w.zap.testTrigger('tag_added')).toEqual([fixtureFor('tag.added')]);
    const outputKeys = await w.zap.outputKeys('tag_added');
    const hook = await turnOn(w, 'tag_added');
    expect(hook.subscribeData).toMatchObject({ eventType: 'tag.added', secret: expect.stringMatching(/^whsec_/) });
    const contact = await contactOf(w);

    const result = await w.zap.create('add_tag_to_contact', { contact_id: contact.id, tag: ' VIP ' });
    expect(result).toEqual({ recordType: 'contact', recordId: contact.id, tag: 'VIP', changed: true, tags: ['VIP'] });
    const first = await runOn(w, hook);
    expect(first.records).toEqual([first.body]);
    expect(first.body).toMatchObject({
      type: 'tag.added',
      workspaceId: w.workspace.id,
      data: {
        tag: 'VIP',
        recordType: 'contact',
        recordId: contact.id,
        contactEmail: 'ava@example.com',
        addedBy: { type: 'api_key', id: w.keyId },
      },
    });
    expect(flatKeys(first.body)).toEqual(outputKeys);

    const conversation = await startWidgetConversation(w);
    await ok(w.sam.console.post(`/v1/agent/conversations/${conversation.id}/tags`, { tag: 'Billing' }));
    const second = await runOn(w, hook, 2);
    expect(second.body).toMatchObject({
      assistantId: w.assistant.id,
      data: {
        tag: 'Billing',
        recordType: 'conversation',
        conversationId: conversation.id,
        addedBy: { type: 'agent', id: w.sam.id, name: w.sam.name },
      },
    });
    expect(await w.zap.testTrigger('tag_added')).toEqual([second.body, first.body].slice(0, 3));
  });

  it('with Tag and Tagged Record chosen, runs only on that tag on that kind of record', async () => {
    const w = await newWorkspace(live.stack);
    const hook = await turnOn(w, 'tag_added', { tag: 'vip', record_type: 'contact' });
    const contact = await contactOf(w);
    const conversation = await startWidgetConversation(w);
    await w.zap.create('add_tag_to_contact', { contact_id: contact.id, tag: 'Newsletter' });
    await w.zap.create('add_tag_to_conversation', { conversation_id: conversation.id, tag: 'VIP' });
    await w.zap.create('add_tag_to_contact', { contact_id: contact.id, tag: 'VIP' });
    const delivered = await waitForDeliveries(live.rx, hook, 3);
    const runs = [];
    for (const delivery of delivered) runs.push(await w.zap.receive(hook, delivery));
    // Deliveries of three events made in a row may arrive in any order (several are sent at once): one run.
    expect(runs.map((r) => r.length).sort()).toEqual([0, 0, 1]);
    expect(at(runs.flat(), 0)).toMatchObject({ data: { tag: 'VIP', recordType: 'contact' } });
    const listed = await w.zap.testTrigger('tag_added', { tag: 'VIP', record_type: 'contact' });
    expect(listed.map((r) => r.data.recordId)).toEqual([contact.id]);
  });

  it('adding a tag the record already has (any letter case) fires nothing more', async () => {
    const w = await newWorkspace(live.stack);
    const hook = await turnOn(w, 'tag_added');
    const contact = await contactOf(w);
    await w.zap.create('add_tag_to_contact', { contact_id: contact.id, tag: 'VIP' });
    const again = await w.zap.create('add_tag_to_contact', { contact_id: contact.id, tag: 'vip' });
    expect(again).toMatchObject({ changed: false, tags: ['VIP'] });
    await waitForDeliveries(live.rx, hook, 1);
    await live.stack.server.worker!.idle();
    expect(deliveriesTo(live.rx, hook)).toHaveLength(1);
  });
});

describe('tag and note actions', () => {
  it('Remove Tag from Contact takes the tag off in any letter case; a second run changes nothing', async () => {
    const w = await newWorkspace(live.stack);
    const contact = await contactOf(w);
    await w.zap.create('add_tag_to_contact', { contact_id: contact.id, tag: 'Sales / EMEA' });
    await w.zap.create('add_tag_to_contact', { contact_id: contact.id, tag: 'VIP' });
    const removed = await w.zap.create('remove_tag_from_contact', { contact_id: contact.id, tag: 'sales / emea' });
    expect(removed).toMatchObject({ changed: true, tags: ['VIP'] });
    expect(
      await w.zap.create('remove_tag_from_contact', { contact_id: contact.id, tag: 'sales / emea' }),
    ).toMatchObject({
      changed: false,
    });
    expect((await ok(w.partner.get(`/v1/contacts/${contact.id}`))).tags).toEqual(['VIP']);
  });

  it('Add Note to Contact adds a note by the connection; a replay with the Unique Run ID adds no second one', async () => {
    const w = await newWorkspace(live.stack);
    const contact = await contactOf(w);
    const input = { contact_id: contact.id, body: 'Wants the annual plan', idempotency_key: 'evt_run_1' };
    const note = await w.zap.create('add_note_to_contact', input);
    expect(note).toMatchObject({
      contactId: contact.id,
      body: 'Wants the annual plan',
      author: { type: 'api_key', id: w.keyId },
    });
    expect(await w.zap.create('add_note_to_contact', input)).toEqual(note);
    await w.zap.create('add_note_to_contact', { ...input, idempotency_key: 'evt_run_2' });
    expect((await ok(w.partner.get(`/v1/contacts/${contact.id}`))).notesCount).toBe(2);
  });

  it('an unknown contact errors with what to check, and a tag over 50 characters names the field', async () => {
    const w = await newWorkspace(live.stack);
    const missing = await zapierError(
      w.zap.create('add_tag_to_contact', { contact_id: 'con_000000000000000000000000', tag: 'x' }),
    );
    expect(missing.message).toMatch(/Check the ID mapped into this step.*\(IllumiChat 404 not_found\)$/);
    const contact = await contactOf(w);
    const long = await zapierError(w.zap.create('add_tag_to_contact', { contact_id: contact.id, tag: 'x'.repeat(51) }));
    expect(long.message).toMatch(/tag: Must be at most 50 characters.*\(IllumiChat 422 validation_failed\)$/);
  });
});

describe('custom attributes', () => {
  it('Create or Update Contact shows them as typed fields after its own, stores mapped values by type, and Lead Captured carries them', async () => {
    const w = await newWorkspace(live.stack);
    for (const a of [
      { key: 'plan', label: 'Plan', type: 'text' },
      { key: 'seats', label: 'Seats', type: 'number' },
      { key: 'trial', label: 'On Trial', type: 'boolean' },
      { key: 'renewal_date', label: 'Renewal Date', type: 'date' },
    ])
      await ok(w.sam.console.post('/v1/agent/contact-attributes', a));
    const fields = await w.zap.inputKeys('create_or_update_contact');
    expect(fields.map((f) => f.key)).toEqual([
      'email',
      'name',
      'phone',
      'company',
      'notes',
      'idempotency_key',
      'attribute_plan',
      'attribute_renewal_date',
      'attribute_seats',
      'attribute_trial',
    ]);
    expect(fields.slice(6).map((f) => f.type)).toEqual(['string', 'datetime', 'number', 'boolean']);

    const leads = await turnOn(w, 'lead_captured');
    const created = await w.zap.create('create_or_update_contact', {
      email: 'ava@example.com',
      attribute_plan: 'Pro',
      attribute_seats: '25',
      attribute_trial: 'true',
      attribute_renewal_date: '2027-01-15T00:00:00-05:00',
    });
    const values = { plan: 'Pro', seats: 25, trial: true, renewal_date: '2027-01-15' };
    expect(created.attributes).toEqual(values);
    const { records } = await runOn(w, leads);
    expect(at(records, 0).attributes).toEqual(values);
    expect(await w.zap.outputKeys('lead_captured')).toEqual(
      expect.arrayContaining(['attributes__plan', 'attributes__trial']),
    );
    expect(flatKeys(at(records, 0))).toEqual(await w.zap.outputKeys('lead_captured'));

    const wrong = await zapierError(
      w.zap.create('create_or_update_contact', { email: 'ava@example.com', attribute_seats: 'twenty' }),
    );
    expect(wrong.message).toMatch(/attributes\.seats: Must be a number/);
  });
});

describe('Find Ticket and Find Conversation', () => {
  it('Find Ticket finds by ID and by number, and finds nothing (not an error) for an unknown one', async () => {
    const w = await newWorkspace(live.stack);
    await w.zap.create('create_ticket', { subject: 'First' });
    const second = await w.zap.create('create_ticket', { subject: 'Second' });
    expect(await w.zap.search('find_ticket', { ticket: second.id })).toEqual([second]);
    expect(await w.zap.search('find_ticket', { ticket: '#2' })).toEqual([second]);
    expect(await w.zap.search('find_ticket', { ticket: '99' })).toEqual([]);
    expect(await w.zap.search('find_ticket', { ticket: 'tkt_000000000000000000000000' })).toEqual([]);
  });

  it('Find or Create Ticket finds the ticket, or creates one from the same input', async () => {
    const w = await newWorkspace(live.stack);
    const made = await w.zap.findOrCreate('find_ticket', { ticket: '7', subject: 'Order 7 never arrived' });
    expect(made).toMatchObject({ found: false, record: { number: 1, subject: 'Order 7 never arrived' } });
    const found = await w.zap.findOrCreate('find_ticket', { ticket: '1', subject: 'ignored' });
    expect(found).toEqual({ found: true, record: made.record });
  });

  it('Find Conversation by ID, and the latest by visitor email, with its closing, tags and messages', async () => {
    const w = await newWorkspace(live.stack);
    const { conversation } = await takenOverConversation(w);
    await submitLeadForm(w, conversation.id, { email: 'Jane@Example.com' });
    const later = await startWidgetConversation(w);
    await submitLeadForm(w, later.id, { email: 'jane@example.com' });
    await w.zap.create('send_message', { conversation_id: conversation.id, message: 'Your refund is on its way.' });
    await w.zap.create('add_tag_to_conversation', { conversation_id: conversation.id, tag: 'Refund' });

    const [byId] = await w.zap.search('find_conversation', { conversation_id: conversation.id });
    expect(byId).toMatchObject({ id: conversation.id, tags: ['Refund'], messageCount: 2, closedBy: null });
    expect(byId!.recentMessages.map((m: { body: string }) => m.body)).toEqual([
      'I need to talk to a person',
      'Your refund is on its way.',
    ]);
    const [latest] = await w.zap.search('find_conversation', { visitor_email: 'JANE@example.com' });
    expect(latest!.id).toBe(later.id);

    await closeConversation(w.sam, later.id);
    const [closed] = await w.zap.search('find_conversation', { visitor_email: 'jane@example.com' });
    expect(closed).toMatchObject({ id: later.id, status: 'closed', closedBy: { type: 'agent', id: w.sam.id } });
    expect(await w.zap.search('find_conversation', { visitor_email: 'nobody@example.com' })).toEqual([]);
  });
});

/**
 * Every action and the search against the real API, run as Zapier runs them: what each returns, what it
 * changes in IllumiChat, the events it fires to other Zaps, the errors a builder reads, the dropdowns that
 * feed them, Find or Create Contact, separate runs that each act, and Zapier's replay of one run (with the
 * Unique Run ID mapped) creating nothing twice.
 */
import { createTicket as createTicketInDb } from '../../partner-api/domain/tickets';
import { times } from '../support/helpers';
import { at } from '../support/items';
import {
  type CreateKey,
  createOperation,
  flatKeys,
  hookUrl,
  searchOperation,
  waitForDeliveries,
  zapierError,
} from '../support/zapier-live';
import {
  accept,
  endChat,
  handOff,
  newWorkspace,
  setTicketStatus,
  startWidgetConversation,
  takenOverConversation,
} from '../support/zapier-product';
import { useLiveStack } from './live';

const live = useLiveStack();
let zaps = 0;
const url = (name: string) => hookUrl(live.rx, `${name}-${++zaps}`);
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The keys an action's output fields promise, flattened as Zapier shows them. */
const outputKeysOf = (operation: { outputFields?: unknown[] }) =>
  (operation.outputFields as { key: string }[]).map((f) => f.key).sort();

const count = async (sql: string, ...params: unknown[]) =>
  (await live.stack.server.ctx.db.value<number>(sql, ...params))!;

describe('Create or Update Contact', () => {
  it('creates a contact, then updates the same one when the email differs only in letter case', async () => {
    const w = await newWorkspace(live.stack);
    const leads = await w.zap.turnOn('lead_captured', {}, url('leads'));

    const created = await w.zap.create('create_or_update_contact', {
      email: 'Ava.Brooks@Example.com',
      name: 'Ava Brooks',
      phone: '+1 555 0101',
      company: 'Acme',
      notes: 'From the Typeform lead form',
    });
    expect(created).toMatchObject({ tags: [], attributes: {}, notesCount: 0 });
    expect({ ...created, tags: undefined, attributes: undefined, notesCount: undefined }).toEqual({
      tags: undefined,
      attributes: undefined,
      notesCount: undefined,
      id: expect.stringMatching(/^con_/),
      email: 'Ava.Brooks@Example.com',
      name: 'Ava Brooks',
      phone: '+1 555 0101',
      company: 'Acme',
      notes: 'From the Typeform lead form',
      source: 'api',
      assistantId: null,
      createdAt: expect.stringMatching(ISO),
      updatedAt: expect.stringMatching(ISO),
    });
    expect(flatKeys(created)).toEqual(outputKeysOf(createOperation('create_or_update_contact')));

    const updated = await w.zap.create('create_or_update_contact', {
      email: 'ava.brooks@example.COM',
      name: 'Ava B. Brooks',
      phone: '',
    });
    expect(updated).toMatchObject({ id: created.id, name: 'Ava B. Brooks', phone: '+1 555 0101', company: 'Acme' });
    expect(await count('SELECT COUNT(*) FROM contacts WHERE workspace_id = ?', w.workspace.id)).toBe(1);

    // Lead Captured fires for the new contact only: the next one created arrives right after the first.
    const next = await w.zap.create('create_or_update_contact', { email: 'next@example.com' });
    const delivered = await waitForDeliveries(live.rx, leads, 2);
    expect(delivered.map((d) => (d.json() as { id: string }).id).sort()).toEqual([created.id, next.id].sort());
  });
});

describe('Create Ticket', () => {
  it('creates a ticket with status new and source api', async () => {
    const w = await newWorkspace(live.stack);
    const ticket = await w.zap.create('create_ticket', {
      subject: 'Angry review',
      description: 'Two stars',
      priority: 'high',
    });
    expect(ticket).toMatchObject({
      id: expect.stringMatching(/^tkt_/),
      number: 1,
      subject: 'Angry review',
      description: 'Two stars',
      status: 'new',
      priority: 'high',
      source: 'api',
      contactId: null,
      resolvedAt: null,
    });
    expect(flatKeys(ticket)).toEqual(outputKeysOf(createOperation('create_ticket')));
  });

  it('links the ticket to the contact with the Contact Email', async () => {
    const w = await newWorkspace(live.stack);
    const contact = await w.zap.create('create_or_update_contact', { email: 'jane@example.com', name: 'Jane Visitor' });
    const ticket = await w.zap.create('create_ticket', {
      subject: 'Where is my order?',
      contact_email: 'JANE@example.com',
    });
    expect(ticket).toMatchObject({
      contactId: contact.id,
      contactName: 'Jane Visitor',
      contactEmail: 'jane@example.com',
    });
  });

  it('errors with the contact_not_found advice when no contact has the email, and creates nothing', async () => {
    const w = await newWorkspace(live.stack);
    const error = await zapierError(
      w.zap.create('create_ticket', { subject: 'Orphan', contact_email: 'nobody@example.com' }),
    );
    // An error, not a halt: the builder must fix the Zap, and a halted run alerts nobody.
    expect(error.name).toBe('AppError');
    expect(error.message).toContain('Add a Find or Create Contact step before this one, or leave Contact Email blank');
    expect(error.message).toContain('contact_not_found');
    expect(await count('SELECT COUNT(*) FROM tickets WHERE workspace_id = ?', w.workspace.id)).toBe(0);
  });
});

describe('Update Ticket', () => {
  it('resolving stamps resolvedAt and fires ticket.status_changed to a Zap', async () => {
    const w = await newWorkspace(live.stack);
    const changes = await w.zap.turnOn('conversation_event', { event_type: 'ticket.status_changed' }, url('status'));
    const ticket = await w.zap.create('create_ticket', { subject: 'Cannot log in' });

    const [listed] = await w.zap.dropdown('ticket_list');
    expect(listed).toMatchObject({ id: ticket.id, label: '#1 Cannot log in (new)' });

    const resolved = await w.zap.create('update_ticket', { ticket_id: ticket.id, status: 'resolved' });
    expect(resolved).toMatchObject({
      id: ticket.id,
      status: 'resolved',
      resolvedAt: expect.stringMatching(ISO),
      closedAt: null,
    });
    expect(flatKeys(resolved)).toEqual(outputKeysOf(createOperation('update_ticket')));

    const delivery = at(await waitForDeliveries(live.rx, changes, 1), 0);
    const [record] = await w.zap.receive(changes, delivery);
    expect(record).toMatchObject({
      type: 'ticket.status_changed',
      data: { ticket: { id: ticket.id, status: 'resolved', resolvedAt: resolved.resolvedAt }, previousStatus: 'new' },
    });

    const closed = await w.zap.create('update_ticket', { ticket_id: ticket.id, status: 'closed', priority: 'low' });
    expect(closed).toMatchObject({
      status: 'closed',
      priority: 'low',
      resolvedAt: resolved.resolvedAt,
      closedAt: expect.stringMatching(ISO),
    });
  });

  it('resolves a ticket again after an agent reopened it, on the same day and with the same input', async () => {
    const w = await newWorkspace(live.stack);
    const ticket = await w.zap.create('create_ticket', { subject: 'Keeps coming back' });
    await w.zap.create('update_ticket', { ticket_id: ticket.id, status: 'resolved' });
    await setTicketStatus(w.sam, ticket.id, 'open');
    const again = await w.zap.create('update_ticket', { ticket_id: ticket.id, status: 'resolved' });
    expect(again).toMatchObject({ id: ticket.id, status: 'resolved' });
    // What IllumiChat holds, not only what the action answered: a replayed answer would say resolved too.
    expect(await live.stack.server.ctx.db.value('SELECT status FROM tickets WHERE id = ?', ticket.id)).toBe('resolved');
  });

  it('changing only the subject fires no status event', async () => {
    const w = await newWorkspace(live.stack);
    const changes = await w.zap.turnOn('conversation_event', { event_type: 'ticket.status_changed' }, url('no-status'));
    const ticket = await w.zap.create('create_ticket', { subject: 'Typo in subjet' });
    const renamed = await w.zap.create('update_ticket', { ticket_id: ticket.id, subject: 'Typo in subject' });
    expect(renamed).toMatchObject({ subject: 'Typo in subject', status: 'new' });
    // Outbox rows are written with the change: none means no delivery can ever follow.
    expect(await count('SELECT COUNT(*) FROM deliveries WHERE subscription_id = ?', changes.subscribeData.id)).toBe(0);
  });
});

describe('Send Message to Conversation', () => {
  it('is refused with the takeover explanation until an agent accepts, then posted as the integration', async () => {
    const w = await newWorkspace(live.stack);
    const conversation = await startWidgetConversation(w);
    const send = () =>
      w.zap.create('send_message', { conversation_id: conversation.id, message: 'An agent will follow up today.' });

    const whileAssistant = await zapierError(send());
    expect(whileAssistant.name).toBe('AppError');
    expect(whileAssistant.message).toContain('not in live-chat takeover');
    expect(whileAssistant.message).toContain('conversation_not_in_takeover');

    const queued = await handOff(w, conversation.id);
    expect((await zapierError(send())).name).toBe('AppError'); // queued is not yet taken over
    expect(await w.zap.dropdown('conversation_list')).toEqual([]);

    await accept(w.sam, queued.id);
    expect((await w.zap.dropdown('conversation_list')).map((c) => c.id)).toEqual([conversation.id]);
    const message = await send();
    expect(message).toEqual({
      id: expect.stringMatching(/^msg_/),
      conversationId: conversation.id,
      body: 'An agent will follow up today.',
      senderType: 'integration',
      createdAt: expect.stringMatching(ISO),
    });
    expect(flatKeys(message)).toEqual(outputKeysOf(createOperation('send_message')));

    await endChat(w.sam, queued.id);
    const afterEnd = await zapierError(
      w.zap.create('send_message', { conversation_id: conversation.id, message: 'Anyone there?' }),
    );
    expect(afterEnd.message).toContain('not in live-chat takeover');
  });
});

describe('Find Contact and Find or Create Contact', () => {
  it('finds a contact by exact email in any letter case, and returns an empty list when none matches', async () => {
    const w = await newWorkspace(live.stack);
    const contact = await w.zap.create('create_or_update_contact', { email: 'lee@example.com', name: 'Lee Park' });
    const found = await w.zap.search('find_contact', { email: 'LEE@example.com' });
    expect(found).toEqual([contact]);
    expect(flatKeys(found[0])).toEqual(outputKeysOf(searchOperation('find_contact')));
    await expect(w.zap.search('find_contact', { email: 'lee@example.org' })).resolves.toEqual([]);
  });

  it('creates the contact when the search finds none, and finds it the next time', async () => {
    const w = await newWorkspace(live.stack);
    const first = await w.zap.findOrCreate('find_contact', { email: 'new.lead@example.com' });
    expect(first.found).toBe(false);
    expect(first.record).toMatchObject({ email: 'new.lead@example.com', source: 'api' });

    const second = await w.zap.findOrCreate('find_contact', { email: 'New.Lead@example.com' });
    expect(second).toEqual({ found: true, record: first.record });
    // And Create Ticket can now link to it, which is why the spec pairs them.
    const ticket = await w.zap.create('create_ticket', { subject: 'Follow up', contact_email: 'new.lead@example.com' });
    expect(ticket.contactId).toBe(first.record.id);
  });
});

describe('separate runs with the same input each act', () => {
  it('two Create Ticket runs make two tickets, and each fires ticket.created', async () => {
    const w = await newWorkspace(live.stack);
    const created = await w.zap.turnOn('conversation_event', { event_type: 'ticket.created' }, url('daily'));
    const inputData = { subject: 'Daily backup check', priority: 'normal' };

    const first = await w.zap.create('create_ticket', inputData);
    const second = await w.zap.create('create_ticket', inputData);

    expect(second.id).not.toBe(first.id);
    expect(await count('SELECT COUNT(*) FROM tickets WHERE workspace_id = ?', w.workspace.id)).toBe(2);
    await waitForDeliveries(live.rx, created, 2);
  });

  it('two Send Message runs post the message twice', async () => {
    const w = await newWorkspace(live.stack);
    const { conversation } = await takenOverConversation(w);
    const inputData = { conversation_id: conversation.id, message: 'Reminder: your trial ends today.' };
    const first = await w.zap.create('send_message', inputData);
    const second = await w.zap.create('send_message', inputData);
    expect(second.id).not.toBe(first.id);
    expect(
      await count(
        `SELECT COUNT(*) FROM messages WHERE conversation_id = ? AND sender_type = 'integration'`,
        conversation.id,
      ),
    ).toBe(2);
  });

  it('a Create or Update Contact run writes its values even when an earlier run sent the same ones', async () => {
    const w = await newWorkspace(live.stack);
    const ava = { email: 'ops@example.com', name: 'Ava Ops' };
    await w.zap.create('create_or_update_contact', ava);
    await w.zap.create('create_or_update_contact', { email: 'ops@example.com', name: 'Bea Ops' });
    const again = await w.zap.create('create_or_update_contact', ava);
    expect(again.name).toBe('Ava Ops');
    expect(await w.zap.search('find_contact', { email: 'ops@example.com' })).toEqual([
      expect.objectContaining({ name: 'Ava Ops' }),
    ]);
  });
});

describe('a replayed run, with the trigger’s ID mapped into Unique Run ID, acts once', () => {
  it('running Create Ticket again with the same bundle, as autoreplay does, returns the first ticket', async () => {
    const w = await newWorkspace(live.stack);
    const created = await w.zap.turnOn('conversation_event', { event_type: 'ticket.created' }, url('created'));
    const inputData = {
      subject: 'Chargeback on order #1042',
      priority: 'urgent',
      idempotency_key: 'con_trigger_record_1',
    };

    const first = await w.zap.create('create_ticket', inputData);
    const replay = await w.zap.create('create_ticket', inputData);

    expect(replay).toEqual(first);
    expect(await count('SELECT COUNT(*) FROM tickets WHERE workspace_id = ?', w.workspace.id)).toBe(1);
    await waitForDeliveries(live.rx, created, 1);
    expect(await count('SELECT COUNT(*) FROM deliveries WHERE subscription_id = ?', created.subscribeData.id)).toBe(1);

    // The next trigger record is another run: another ticket, though every other value is the same.
    const next = await w.zap.create('create_ticket', { ...inputData, idempotency_key: 'con_trigger_record_2' });
    expect(next.id).not.toBe(first.id);
  });

  it('replaying Send Message posts the message once', async () => {
    const w = await newWorkspace(live.stack);
    const { conversation } = await takenOverConversation(w);
    const inputData = {
      conversation_id: conversation.id,
      message: 'Your refund was issued.',
      idempotency_key: 'evt_refund_1',
    };
    const first = await w.zap.create('send_message', inputData);
    expect(await w.zap.create('send_message', inputData)).toEqual(first);
    expect(
      await count(
        `SELECT COUNT(*) FROM messages WHERE conversation_id = ? AND sender_type = 'integration'`,
        conversation.id,
      ),
    ).toBe(1);
  });

  it('the same trigger ID in two steps of one Zap runs both steps', async () => {
    const w = await newWorkspace(live.stack);
    const runKey = { idempotency_key: 'con_lead_7' };
    const contact = await w.zap.create('create_or_update_contact', { email: 'lead7@example.com', ...runKey });
    const ticket = await w.zap.create('create_ticket', {
      subject: 'Call the new lead',
      contact_email: 'lead7@example.com',
      ...runKey,
    });
    expect(ticket.contactId).toBe(contact.id);
  });
});

describe('scopes', () => {
  it.each<[CreateKey | 'find_contact', string, Record<string, string>]>([
    ['create_or_update_contact', 'contacts:write', { email: 'a@example.com' }],
    ['find_contact', 'contacts:write', { email: 'a@example.com' }],
    ['create_ticket', 'tickets:write', { subject: 'Hi' }],
    ['update_ticket', 'tickets:write', { ticket_id: 'tkt_000000000000000000000000', status: 'open' }],
    ['send_message', 'chat:write', { conversation_id: 'cnv_000000000000000000000000', message: 'Hi' }],
  ])('%s with a key that lacks %s fails with a message naming that scope', async (key, scope, inputData) => {
    const w = await newWorkspace(live.stack, { scopes: ['events:read'] });
    const step = key === 'find_contact' ? w.zap.search(key, inputData) : w.zap.create(key, inputData);
    const error = await zapierError(step);
    expect(error).toMatchObject({
      code: 'insufficient_scope',
      message: expect.stringContaining(`lacks the ${scope} scope`),
    });
  });
});

describe('the dropdowns', () => {
  it('page through every ticket with Load more, beyond the newest 100', async () => {
    const w = await newWorkspace(live.stack);
    const ctx = live.stack.server.ctx;
    const made = await times(
      130,
      async (i) => (await createTicketInDb(ctx, w.workspace.id, { subject: `Ticket ${i + 1}` }, 'api')).id,
    );

    const first = await w.zap.dropdown('ticket_list', 0);
    const second = await w.zap.dropdown('ticket_list', 1);
    const third = await w.zap.dropdown('ticket_list', 2);

    expect(first).toHaveLength(100);
    expect(second).toHaveLength(30);
    expect(third).toEqual([]);
    expect([...first, ...second].map((c) => c.id)).toEqual([...made].reverse());
    expect(second.at(-1)?.label).toBe('#1 Ticket 1 (new)');
  });

  it('list the workspace’s assistants by name for the triggers’ Assistant field', async () => {
    const w = await newWorkspace(live.stack);
    const other = await live.stack.server.createAssistant(w.workspace.id, 'Sales Bot');
    const choices = await w.zap.dropdown('assistant_list');
    expect(choices.map((c) => [c.id, c.label])).toEqual([
      [w.assistant.id, 'Acme Bot'],
      [other.id, 'Sales Bot'],
    ]);
  });
});

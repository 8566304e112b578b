/**
 * Issue 14's operations against a mocked API: the requests they send, what they return, and the app-side
 * rules (Tag Added's filters, attribute values converted by type, searches' not-found as an empty result).
 */
import { fixtureFor } from '../../fixtures';
import { attributeInputFields, attributeOutputFields, attributeValue } from '../../zapier-app/attributes';
import { perform as addNote } from '../../zapier-app/creates/add_note_to_contact';
import { perform as createOrUpdateContact } from '../../zapier-app/creates/create_or_update_contact';
import { perform as sendMessage } from '../../zapier-app/creates/send_message';
import { addToContact, addToConversation, NO_TAG_TO_REMOVE, removeFromContact } from '../../zapier-app/creates/tags';
import { perform as updateTicket } from '../../zapier-app/creates/update_ticket';
import { BLANK_PATH_VALUE, DOT_SEGMENT_VALUE } from '../../zapier-app/http/middleware';
import {
  contactSample,
  contactTagsSample,
  conversationDetailSample,
  conversationTagsSample,
  noteSample,
  ticketSample,
} from '../../zapier-app/records';
import { NOTHING_TO_FIND, perform as findConversation } from '../../zapier-app/searches/find_conversation';
import { perform as findTicket } from '../../zapier-app/searches/find_ticket';
import * as tagAdded from '../../zapier-app/triggers/tag_added';
import { api, appTester, bundle, hookBundle, rejectionOf, useMockedApi } from './support/app';

useMockedApi();

const ATTRIBUTES = [
  { key: 'plan', label: 'Plan', type: 'text', createdAt: '2026-01-15T09:00:00.000Z' },
  { key: 'renewal_date', label: 'Renewal Date', type: 'date', createdAt: '2026-01-15T09:00:00.000Z' },
  { key: 'seats', label: 'Seats', type: 'number', createdAt: '2026-01-15T09:00:00.000Z' },
  { key: 'trial', label: 'On Trial', type: 'boolean', createdAt: '2026-01-15T09:00:00.000Z' },
];

describe('tag and note actions', () => {
  it('Add Tag to Contact posts the tag to the contact (id trimmed and encoded), with no Idempotency-Key', async () => {
    api()
      .post('/v1/contacts/con_1%2F2/tags', { tag: 'VIP' })
      .matchHeader('x-illumichat-zapier-operation', 'creates.add_tag_to_contact.perform')
      .matchHeader('idempotency-key', (v) => v === undefined)
      .reply(201, contactTagsSample);
    expect(await appTester(addToContact, bundle({ inputData: { contact_id: ' con_1/2 ', tag: 'VIP' } }))).toEqual(
      contactTagsSample,
    );
  });

  it('Remove Tag from Contact deletes the tag, percent-encoded in the path', async () => {
    api()
      .delete('/v1/contacts/con_1/tags/Sales%20%2F%20EMEA')
      .reply(200, { ...contactTagsSample, changed: true });
    await appTester(removeFromContact, bundle({ inputData: { contact_id: 'con_1', tag: ' Sales / EMEA ' } }));
  });

  it('Remove Tag from Contact with a blank mapped tag errors saying so, asking nothing', async () => {
    const error = await rejectionOf(
      appTester(removeFromContact, bundle({ inputData: { contact_id: 'con_1', tag: '  ' } })),
    );
    expect(error.message).toBe(NO_TAG_TO_REMOVE);
  });

  it('Add Tag to Conversation posts to the conversation', async () => {
    api().post('/v1/conversations/cnv_1/tags', { tag: 'Billing' }).reply(201, conversationTagsSample);
    expect(
      await appTester(addToConversation, bundle({ inputData: { conversation_id: 'cnv_1', tag: 'Billing' } })),
    ).toEqual(conversationTagsSample);
  });

  it('Add Note to Contact posts the note, and a mapped Unique Run ID becomes an Idempotency-Key', async () => {
    api()
      .post('/v1/contacts/con_1/notes', { body: 'Call back Monday' })
      .matchHeader('idempotency-key', /^zapier-add_note_to_contact-[0-9a-f]{64}$/)
      .reply(201, noteSample);
    const note = await appTester(
      addNote,
      bundle({ inputData: { contact_id: 'con_1', body: 'Call back Monday', idempotency_key: 'evt_1' } }),
    );
    expect(note).toEqual(noteSample);
  });

  it('a tag over the limit errors with the API’s words and code, alerting the owner', async () => {
    api()
      .post('/v1/contacts/con_1/tags')
      .reply(409, { error: { code: 'tag_limit_reached', message: 'This contact already has 100 tags.', limit: 100 } });
    const error = await rejectionOf(appTester(addToContact, bundle({ inputData: { contact_id: 'con_1', tag: 'x' } })));
    expect(error.name).toBe('AppError'); // z.errors.Error: the run errors and its owner is alerted
    expect(error.message).toMatch(/100 tags.*\(IllumiChat 409 tag_limit_reached\)$/);
  });
});

describe('a mapped ID or tag that is only dots', () => {
  // URL parsers drop `.` and `..` path segments (even as %2E): `/v1/tickets/.` asked the ticket LIST, which Find
  // Ticket then returned as the ticket it found; `/v1/contacts/../tags` asked another route. No mock is set: a
  // request sent would fail on nock's "no match" instead of this message.

  it.each([
    ['Find Ticket', { ticket: ' . ' }, findTicket],
    ['Find Ticket', { ticket: '..' }, findTicket],
    ['Find Conversation', { conversation_id: '.' }, findConversation],
    ['Add Tag to Contact', { contact_id: '..', tag: 'VIP' }, addToContact],
    ['Remove Tag from Contact', { contact_id: 'con_1', tag: '.' }, removeFromContact],
    ['Remove Tag from Contact', { contact_id: '.', tag: 'VIP' }, removeFromContact],
    ['Add Tag to Conversation', { conversation_id: '..', tag: 'VIP' }, addToConversation],
    ['Add Note to Contact', { contact_id: '.', body: 'hi' }, addNote],
    ['Update Ticket', { ticket_id: '.', status: 'open' }, updateTicket],
    ['Send Message', { conversation_id: '..', message: 'hi' }, sendMessage],
  ] as const)('%s with %j errors saying so, and sends nothing', async (_name, inputData, perform) => {
    const error = await rejectionOf(appTester(perform as never, bundle({ inputData })));
    expect(error.message).toBe(DOT_SEGMENT_VALUE);
  });
});

describe('a mapped ID that is blank in this run', () => {
  // Required fields can still be blank at run time (an earlier step found nothing); the path then had an empty
  // segment and IllumiChat answered "No route POST /v1/contacts//tags".
  it.each([
    ['Add Tag to Contact', { contact_id: '', tag: 'VIP' }, addToContact],
    ['Remove Tag from Contact', { contact_id: ' ', tag: 'VIP' }, removeFromContact],
    ['Add Tag to Conversation', { conversation_id: '', tag: 'VIP' }, addToConversation],
    ['Add Note to Contact', { contact_id: '  ', body: 'hi' }, addNote],
    ['Update Ticket', { ticket_id: '', status: 'open' }, updateTicket],
    ['Send Message', { conversation_id: '', message: 'hi' }, sendMessage],
  ] as const)('%s with %j errors saying so, and sends nothing', async (_name, inputData, perform) => {
    const error = await rejectionOf(appTester(perform as never, bundle({ inputData })));
    expect(error.message).toBe(BLANK_PATH_VALUE);
  });
});

describe('custom attributes in Create or Update Contact', () => {
  it('lists one typed optional field per attribute, keyed attribute_<key>', async () => {
    api().get('/v1/contact-attributes').reply(200, { data: ATTRIBUTES });
    const fields = await appTester(attributeInputFields, bundle());
    expect(fields.map((f) => [f.key, f.label, f.type, f.required])).toEqual([
      ['attribute_plan', 'Plan', 'string', false],
      ['attribute_renewal_date', 'Renewal Date', 'datetime', false],
      ['attribute_seats', 'Seats', 'number', false],
      ['attribute_trial', 'On Trial', 'boolean', false],
    ]);
  });

  it.each([
    ['number', ' 25 ', 25],
    ['number', '4.5', 4.5],
    ['number', 'many', 'many'],
    ['number', '-2.5', -2.5],
    ['number', '.5', 0.5],
    ['number', '1e3', 1000],
    // JavaScript's Number() reads these as 16, 3 and 7; a person typing them meant no such number.
    ['number', '0x10', '0x10'],
    ['number', '0b11', '0b11'],
    ['number', '0o7', '0o7'],
    ['boolean', 'true', true],
    ['boolean', 'No', false],
    ['boolean', 'maybe', 'maybe'],
    ['date', '2027-02-28T10:00:00-05:00', '2027-02-28'],
    ['date', '2027-02-28', '2027-02-28'],
    ['date', 'next week', 'next week'],
    ['text', ' as typed ', ' as typed '],
    ['number', 25, 25],
    ['boolean', true, true],
  ] as const)('converts a mapped %s %j to %j', (type, raw, expected) => {
    expect(attributeValue(type, raw)).toEqual(expected);
  });

  it('sends the filled attribute fields as `attributes`, converted, and leaves the blank ones out', async () => {
    api().get('/v1/contact-attributes').reply(200, { data: ATTRIBUTES });
    api()
      .post('/v1/contacts', {
        email: 'ava@example.com',
        attributes: { plan: 'Pro', seats: 30, trial: false, renewal_date: '2027-02-28' },
      })
      .reply(200, contactSample);
    await appTester(
      createOrUpdateContact,
      bundle({
        inputData: {
          email: 'ava@example.com',
          attribute_plan: 'Pro',
          attribute_seats: '30',
          attribute_trial: 'false',
          attribute_renewal_date: '2027-02-28T00:00:00+00:00',
          attribute_gone: '',
        },
      }),
    );
  });

  it('sends a field of an attribute deleted since as given, so IllumiChat’s 422 names it', async () => {
    api().get('/v1/contact-attributes').reply(200, { data: [] });
    api()
      .post('/v1/contacts', { email: 'ava@example.com', attributes: { gone: 'x' } })
      .reply(200, contactSample);
    await appTester(createOrUpdateContact, bundle({ inputData: { email: 'ava@example.com', attribute_gone: 'x' } }));
  });

  it('lists no attribute output fields, rather than failing the editor, for a key without contacts:write', async () => {
    api()
      .get('/v1/contact-attributes')
      .reply(403, { error: { code: 'insufficient_scope', message: 'x', requiredScope: 'contacts:write' } });
    expect(await appTester(attributeOutputFields, bundle())).toEqual([]);
  });

  it('asks for no attribute list when no attribute field is filled', async () => {
    api().post('/v1/contacts', { email: 'ava@example.com', name: 'Ava' }).reply(200, contactSample);
    await appTester(createOrUpdateContact, bundle({ inputData: { email: 'ava@example.com', name: 'Ava' } }));
  });
});

describe('Tag Added filters', () => {
  const delivered = (tag: string, recordType: string) => {
    const record = fixtureFor('tag.added') as { data: Record<string, unknown> };
    return { ...record, data: { ...record.data, tag, recordType } };
  };

  it.each([
    [{}, 'VIP', 'contact', 1],
    [{ tag: 'vip' }, 'VIP', 'contact', 1],
    [{ tag: ' STRASSE ' }, 'Straße', 'conversation', 1],
    [{ tag: 'vip' }, 'Billing', 'contact', 0],
    [{ record_type: 'conversation' }, 'VIP', 'contact', 0],
    [{ record_type: 'contact', tag: 'VIP' }, 'VIP', 'contact', 1],
    // A custom value typed into the dropdown, as its label reads.
    [{ record_type: ' Contact ' }, 'VIP', 'contact', 1],
    [{ record_type: 'CONVERSATION' }, 'VIP', 'conversation', 1],
    [{ record_type: 'Conversation' }, 'VIP', 'contact', 0],
  ])('with %j, a delivery of %j on a %s runs the Zap %i time(s)', async (inputData, tag, recordType, runs) => {
    const records = await appTester(tagAdded.perform, hookBundle(delivered(tag, recordType), { inputData }));
    expect(records).toHaveLength(runs);
  });

  it('Test trigger asks for the most samples and shows only those the filters accept', async () => {
    api()
      .get('/v1/samples')
      .query({ event_type: 'tag.added', limit: '10' })
      .reply(200, {
        data: [delivered('Billing', 'contact'), delivered('vip', 'contact'), delivered('VIP', 'conversation')],
        source: 'live',
      });
    const records = await appTester(
      tagAdded.performList,
      bundle({ inputData: { tag: 'VIP', record_type: 'contact' } }),
    );
    expect(records).toEqual([delivered('vip', 'contact')]);
  });
});

describe('Find Ticket', () => {
  it.each(['42', '#42', ' # 42 '])('reads %j as the ticket number', async (ticket) => {
    api()
      .get('/v1/tickets')
      .query({ number: '42' })
      .reply(200, { data: [ticketSample], nextCursor: null });
    expect(await appTester(findTicket, bundle({ inputData: { ticket } }))).toEqual([ticketSample]);
  });

  it('reads a number Zapier passes as a number, and asks nothing for a blank input', async () => {
    api().get('/v1/tickets').query({ number: '7' }).reply(200, { data: [], nextCursor: null });
    expect(await appTester(findTicket, bundle({ inputData: { ticket: 7 } }))).toEqual([]);
    expect(await appTester(findTicket, bundle({ inputData: { ticket: '  ' } }))).toEqual([]);
  });

  it.each(['0', '#0', ' # 000 '])(
    'finds nothing for %j, asking nothing (ticket numbers start at 1)',
    async (ticket) => {
      expect(await appTester(findTicket, bundle({ inputData: { ticket } }))).toEqual([]);
    },
  );

  it('reads anything else as an ID; a 404 is "not found" (an empty result), not an error', async () => {
    api().get('/v1/tickets/tkt_1').reply(200, ticketSample);
    expect(await appTester(findTicket, bundle({ inputData: { ticket: 'tkt_1' } }))).toEqual([ticketSample]);
    api()
      .get('/v1/tickets/tkt_gone')
      .reply(404, { error: { code: 'not_found', message: 'No ticket tkt_gone.' } });
    expect(await appTester(findTicket, bundle({ inputData: { ticket: 'tkt_gone' } }))).toEqual([]);
  });

  it('still errors on any other failure (a missing scope)', async () => {
    api()
      .get('/v1/tickets/tkt_1')
      .reply(403, { error: { code: 'insufficient_scope', message: 'x', requiredScope: 'tickets:write' } });
    const error = await rejectionOf(appTester(findTicket, bundle({ inputData: { ticket: 'tkt_1' } })));
    expect(error.message).toMatch(/tickets:write/);
  });
});

describe('Find Conversation', () => {
  it('by ID', async () => {
    api().get('/v1/conversations/cnv_1').reply(200, conversationDetailSample);
    expect(await appTester(findConversation, bundle({ inputData: { conversation_id: 'cnv_1' } }))).toEqual([
      conversationDetailSample,
    ]);
  });

  it('by visitor email: the latest conversation, read by its id', async () => {
    api()
      .get('/v1/conversations')
      .query({ visitor_email: 'ava@example.com', limit: '1' })
      .reply(200, { data: [{ id: 'cnv_latest' }], nextCursor: 'x' });
    api().get('/v1/conversations/cnv_latest').reply(200, conversationDetailSample);
    expect(await appTester(findConversation, bundle({ inputData: { visitor_email: ' ava@example.com ' } }))).toEqual([
      conversationDetailSample,
    ]);
  });

  it('finds nothing for a visitor without conversations, and errors when neither input is filled', async () => {
    api().get('/v1/conversations').query(true).reply(200, { data: [], nextCursor: null });
    expect(await appTester(findConversation, bundle({ inputData: { visitor_email: 'x@example.com' } }))).toEqual([]);
    const error = await rejectionOf(appTester(findConversation, bundle({ inputData: { visitor_email: ' ' } })));
    expect(error.message).toBe(NOTHING_TO_FIND);
  });
});

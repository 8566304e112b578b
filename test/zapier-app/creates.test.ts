import nock from 'nock';
import type { Bundle, ZObject } from 'zapier-platform-core';

import { perform as createOrUpdateContact } from '../../zapier-app/creates/create_or_update_contact';
import { perform as createTicket } from '../../zapier-app/creates/create_ticket';
import { perform as sendMessage } from '../../zapier-app/creates/send_message';
import { NOTHING_TO_UPDATE, perform as updateTicket } from '../../zapier-app/creates/update_ticket';
import { canonicalJson, idempotencyKey } from '../../zapier-app/idempotency';
import { contactSample, messageSample, ticketSample } from '../../zapier-app/records';
import { api, appTester, bundle, rejectionOf, useMockedApi } from './support/app';

useMockedApi();

/** Records each Idempotency-Key the API received. */
function keysSeen(): { keys: string[]; record: (this: nock.ReplyFnContext) => void } {
  const keys: string[] = [];
  return {
    keys,
    record(this: nock.ReplyFnContext) {
      keys.push(String(this.req.headers['idempotency-key']));
    },
  };
}

describe('Create or Update Contact', () => {
  it('posts the filled fields to /v1/contacts and returns the contact as one flat object', async () => {
    api()
      .post('/v1/contacts', { email: 'ava@example.com', name: 'Ava Brooks', company: 'Acme' })
      .matchHeader('x-illumichat-zapier-operation', 'creates.create_or_update_contact.perform')
      .reply(201, contactSample);

    const contact = await appTester(
      createOrUpdateContact,
      bundle({ inputData: { email: '  ava@example.com ', name: 'Ava Brooks', phone: '', company: 'Acme' } }),
    );

    expect(contact).toEqual(contactSample);
  });

  it('treats an update (200) the same as a creation', async () => {
    api()
      .post('/v1/contacts')
      .reply(200, { ...contactSample, name: 'Updated' });
    const contact = await appTester(
      createOrUpdateContact,
      bundle({ inputData: { email: 'jane.visitor@example.com' } }),
    );
    expect(contact).toMatchObject({ name: 'Updated' });
  });
});

describe('Create Ticket', () => {
  it('posts subject, description, priority and contact email, and returns the new ticket', async () => {
    api()
      .post('/v1/tickets', {
        subject: 'Angry review',
        description: 'Two stars on Trustpilot',
        priority: 'high',
        contact_email: 'jane.visitor@example.com',
      })
      .reply(201, ticketSample);

    const ticket = await appTester(
      createTicket,
      bundle({
        inputData: {
          subject: 'Angry review',
          description: 'Two stars on Trustpilot',
          priority: 'high',
          contact_email: 'jane.visitor@example.com ',
        },
      }),
    );

    expect(ticket).toEqual(ticketSample);
    expect(ticket).toMatchObject({ status: 'new', source: 'api' });
  });

  it('leaves out the contact when Contact Email is blank', async () => {
    api().post('/v1/tickets', { subject: 'No contact' }).reply(201, ticketSample);
    await appTester(createTicket, bundle({ inputData: { subject: 'No contact', contact_email: '' } }));
  });
});

describe('Update Ticket', () => {
  it('patches only the fields filled in this run', async () => {
    api()
      .patch('/v1/tickets/tkt_123', { status: 'resolved' })
      .reply(200, { ...ticketSample, status: 'resolved' });
    const ticket = await appTester(
      updateTicket,
      bundle({ inputData: { ticket_id: 'tkt_123', status: 'resolved', priority: '', subject: '  ' } }),
    );
    expect(ticket).toMatchObject({ status: 'resolved' });
  });

  it('escapes the mapped id into the path', async () => {
    api().patch('/v1/tickets/tkt%2F..%2Fx', { priority: 'low' }).reply(200, ticketSample);
    await appTester(updateTicket, bundle({ inputData: { ticket_id: 'tkt/../x', priority: 'low' } }));
  });

  it('halts before any request when there is nothing to change', async () => {
    const patch = api().patch('/v1/tickets/tkt_123').reply(200, ticketSample);
    const error = await rejectionOf(
      appTester(updateTicket, bundle({ inputData: { ticket_id: 'tkt_123', status: '' } })),
    );
    expect(error).toEqual({ name: 'HaltedError', message: NOTHING_TO_UPDATE });
    expect(patch.isDone()).toBe(false);
    nock.cleanAll();
  });
});

describe('Send Message to Conversation', () => {
  it('posts the message into the conversation', async () => {
    api().post('/v1/conversations/cnv_42/messages', { message: 'An agent will call you.' }).reply(201, messageSample);
    const message = await appTester(
      sendMessage,
      bundle({ inputData: { conversation_id: 'cnv_42', message: 'An agent will call you.' } }),
    );
    expect(message).toEqual(messageSample);
  });
});

describe('the Idempotency-Key', () => {
  const input = { subject: 'Daily backup check', priority: 'normal' };

  /** Each POST create with a minimal input; every run of these must act unless a Unique Run ID is mapped. */
  type AnyPerform = (z: ZObject, bundle: Bundle) => Promise<unknown>;
  const creates: [string, AnyPerform, string, Record<string, string>][] = [
    ['create_ticket', createTicket as AnyPerform, '/v1/tickets', { subject: 'Daily backup check' }],
    [
      'send_message',
      sendMessage as AnyPerform,
      '/v1/conversations/cnv_1/messages',
      { conversation_id: 'cnv_1', message: 'Backup done.' },
    ],
    [
      'create_or_update_contact',
      createOrUpdateContact as AnyPerform,
      '/v1/contacts',
      { email: 'ops@example.com', name: 'Ops' },
    ],
  ];

  it.each(creates)(
    '%s: two runs with identical input send no key, so IllumiChat acts twice',
    async (_, perform, path, inputData) => {
      const seen = keysSeen();
      api()
        .post(path)
        .times(2)
        .reply(function () {
          seen.record.call(this);
          return [201, {}];
        });
      await appTester(perform, bundle({ inputData: { ...inputData } }));
      await appTester(perform, bundle({ inputData: { ...inputData, idempotency_key: '   ' } }));
      expect(seen.keys).toEqual(['undefined', 'undefined']);
    },
  );

  it.each(creates)(
    '%s: with a Unique Run ID mapped, a replay of the run sends the same key',
    async (operation, perform, path, inputData) => {
      const seen = keysSeen();
      api()
        .post(path, (body) => !('idempotency_key' in body))
        .times(3)
        .reply(function () {
          seen.record.call(this);
          return [201, {}];
        });
      await appTester(perform, bundle({ inputData: { ...inputData, idempotency_key: 'evt_01' } }));
      await appTester(perform, bundle({ inputData: { ...inputData, idempotency_key: ' evt_01 ' } }));
      await appTester(perform, bundle({ inputData: { ...inputData, idempotency_key: 'evt_02' } }));
      expect(seen.keys[0]).toMatch(new RegExp(`^zapier-${operation}-[0-9a-f]{64}$`));
      expect(seen.keys[1]).toBe(seen.keys[0]);
      expect(seen.keys[2]).not.toBe(seen.keys[0]); // another run of the trigger: another record
    },
  );

  it('never gives one run ID the same key in two steps or for two requests, so the API cannot answer a conflict', async () => {
    const seen = keysSeen();
    const reply = function (this: nock.ReplyFnContext) {
      seen.record.call(this);
      return [201, {}] as [number, object];
    };
    api().post('/v1/tickets').times(2).reply(reply);
    api().post('/v1/conversations/cnv_1/messages').reply(reply);
    const runKey = { idempotency_key: 'evt_01' };
    await appTester(createTicket, bundle({ inputData: { ...input, ...runKey } }));
    await appTester(createTicket, bundle({ inputData: { ...input, subject: 'Weekly backup check', ...runKey } }));
    await appTester(sendMessage, bundle({ inputData: { conversation_id: 'cnv_1', message: 'Hi', ...runKey } }));
    expect(new Set(seen.keys).size).toBe(3);
    for (const key of seen.keys) expect(key.length).toBeLessThanOrEqual(255);
  });

  it('ignores blank fields and their order, which do not change the request', async () => {
    const seen = keysSeen();
    api()
      .post('/v1/tickets')
      .times(2)
      .reply(function () {
        seen.record.call(this);
        return [201, ticketSample];
      });
    await appTester(createTicket, bundle({ inputData: { ...input, idempotency_key: 'evt_01' } }));
    await appTester(
      createTicket,
      bundle({
        inputData: { priority: 'normal', description: '', subject: 'Daily backup check', idempotency_key: 'evt_01' },
      }),
    );
    expect(seen.keys[0]).toBe(seen.keys[1]);
  });

  it('is not sent by Update Ticket, whose repeat is harmless and whose remembered answer could be stale', async () => {
    const seen = keysSeen();
    api()
      .patch('/v1/tickets/tkt_1')
      .times(2)
      .reply(function () {
        seen.record.call(this);
        return [200, ticketSample];
      });
    await appTester(updateTicket, bundle({ inputData: { ticket_id: 'tkt_1', status: 'resolved' } }));
    await appTester(
      updateTicket,
      bundle({ inputData: { ticket_id: 'tkt_1', status: 'resolved', idempotency_key: 'evt_01' } }),
    );
    expect(seen.keys).toEqual(['undefined', 'undefined']);
  });

  it('hashes a canonical form of the body', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null }, e: undefined })).toBe(
      '{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}',
    );
    expect(idempotencyKey('r', 'x', 'post', '/p', { a: 1, b: 2 })).toBe(
      idempotencyKey('r', 'x', 'POST', '/p', { b: 2, a: 1 }),
    );
  });
});

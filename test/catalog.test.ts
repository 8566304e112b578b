import fs from 'node:fs';
import path from 'node:path';

import { renderEventDocs } from '../catalog/docs';
import { CONVERSATION_EVENT_TYPES, EVENT_TYPES, payloadSchema } from '../catalog/events';
import { labelFor, payloadFields } from '../catalog/fields';
import { fixtureFor } from '../fixtures';

describe('the event catalog', () => {
  it('has the spec’s nine conversation events, Conversation Closed (issue 14), Lead Captured and Tag Added', () => {
    expect(CONVERSATION_EVENT_TYPES).toEqual([
      'ticket.created',
      'ticket.assigned',
      'ticket.status_changed',
      'live_chat.session_queued',
      'live_chat.agent_assigned',
      'live_chat.session_transferred',
      'live_chat.session_ended',
      'chat.conversation_started',
      'widget.conversation_started',
      'conversation.closed',
    ]);
    expect(EVENT_TYPES).toContain('lead.captured');
    expect(EVENT_TYPES).toContain('tag.added');
  });

  it.each(EVENT_TYPES)('the %s fixture is a valid payload of its type', (type) => {
    const result = payloadSchema(type).strict().safeParse(fixtureFor(type));
    expect(result.error?.issues ?? []).toEqual([]);
  });

  it('gives Lead Captured exactly the spec’s output fields', () => {
    expect(payloadFields(payloadSchema('lead.captured')).map((f) => f.key)).toEqual([
      'id',
      'name',
      'email',
      'phone',
      'source',
      'isNew',
      'createdAt',
      'assistantId',
      'assistantName',
    ]);
  });

  it('puts data.ticket.id in every ticket event', () => {
    for (const type of CONVERSATION_EVENT_TYPES.filter((t) => t.startsWith('ticket.'))) {
      expect(payloadFields(payloadSchema(type)).map((f) => f.key)).toContain('data__ticket__id');
    }
  });

  it('types fields and labels them for people', () => {
    const fields = payloadFields(payloadSchema('live_chat.session_ended'));
    expect(fields.find((f) => f.key === 'data__durationSeconds')).toMatchObject({
      type: 'integer',
      label: 'Duration Seconds',
    });
    expect(fields.find((f) => f.key === 'createdAt')).toMatchObject({ type: 'datetime' });
    expect(labelFor('data__ticket__assigneeEmail')).toBe('Ticket Assignee Email');
    expect(labelFor('data__conversation__pageUrl')).toBe('Conversation Page URL');
  });

  it('hands out copies of fixtures that callers cannot corrupt', () => {
    const a = fixtureFor('lead.captured');
    a.email = 'changed@example.com';
    expect(fixtureFor('lead.captured').email).toBe('jane.visitor@example.com');
  });
});

describe('docs/events.md', () => {
  it('is what the catalog renders today (run `npm run docs:events` after changing the catalog)', () => {
    expect(fs.readFileSync(path.join(__dirname, '..', 'docs', 'events.md'), 'utf8')).toBe(renderEventDocs());
  });
});

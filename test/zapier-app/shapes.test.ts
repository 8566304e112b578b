/**
 * Zapier's review checks (D024, T004, T006, Z001) that the sample, the output fields and the live payload
 * agree. For every trigger: the static sample, what Test trigger loads (performList, answered with the API's
 * fixture response) and a delivered payload (perform, on the bundle Zapier builds) have exactly the keys of its output fields; and every
 * action's and search's sample has exactly the keys of its output fields.
 */
import type { PlainOutputField } from 'zapier-platform-core';

import { CONVERSATION_EVENT_TYPES, type EventType, payloadSchema } from '../../catalog/events';
import { fixtureFor } from '../../fixtures';
import App from '../../zapier-app';
import * as conversationEvent from '../../zapier-app/triggers/conversation_event';
import { eventOutputFields, SAMPLE_EVENT_TYPE } from '../../zapier-app/triggers/conversation_event';
import * as leadCaptured from '../../zapier-app/triggers/lead_captured';
import * as tagAdded from '../../zapier-app/triggers/tag_added';
import { api, appTester, bundle, hookBundle, useMockedApi } from './support/app';

useMockedApi();

/**
 * The keys Zapier shows for a record: nested objects flattened with `__`, as output field keys are, and a list
 * of objects as line items (`recentMessages[]body`, the keys of its first item).
 */
function flatKeys(record: unknown, prefix = ''): string[] {
  return Object.entries(record as Record<string, unknown>)
    .flatMap(([key, value]) => {
      const path = prefix ? `${prefix}__${key}` : key;
      if (Array.isArray(value) && typeof value[0] === 'object' && value[0] !== null)
        return flatKeys(value[0]).map((item) => `${path}[]${item}`);
      return value !== null && typeof value === 'object' && !Array.isArray(value) ? flatKeys(value, path) : [path];
    })
    .sort();
}

const keysOf = (fields: unknown[]) => (fields as PlainOutputField[]).map((f) => f.key).sort();

/**
 * Every output field's key: plain fields, and those a field function lists (the workspace's attributes, here
 * `attributes`: none by default, as on a workspace that defined none, which is what the samples show).
 */
async function outputKeysOf(fields: unknown[], attributes: { key: string }[] = []): Promise<string[]> {
  const keys: string[] = [];
  for (const field of fields) {
    if (typeof field !== 'function') {
      keys.push((field as PlainOutputField).key);
      continue;
    }
    api().get('/v1/contact-attributes').reply(200, { data: attributes });
    const listed = (await appTester(field as Parameters<typeof appTester>[0], bundle())) as PlainOutputField[];
    keys.push(...listed.map((f) => f.key));
  }
  return keys.sort();
}

/** A payload as IllumiChat delivers it: valid for its type under the catalog's strict schema. */
function deliveredPayload(type: EventType): Record<string, unknown> {
  return payloadSchema(type).strict().parse(fixtureFor(type));
}

async function sampleList(type: EventType, performList: typeof leadCaptured.performList) {
  api()
    .get('/v1/samples')
    .query((query) => query.event_type === type)
    .reply(200, { data: [fixtureFor(type)], source: 'fixture' });
  const records = await appTester(performList, bundle({ inputData: { event_type: type } }));
  expect(records).toHaveLength(1);
  return records[0];
}

describe('Lead Captured', () => {
  const operation = App.triggers.lead_captured.operation;
  let outputKeys: string[];
  beforeAll(async () => {
    outputKeys = await outputKeysOf(operation.outputFields ?? []);
  });

  it('has the spec’s nine output fields, and the workspace’s custom attributes (issue 14)', async () => {
    const spec = ['id', 'name', 'email', 'phone', 'source', 'isNew', 'createdAt', 'assistantId', 'assistantName'];
    expect(outputKeys).toEqual(spec.sort());
    const attributes = [
      { key: 'plan', label: 'Plan', type: 'text', createdAt: '2026-01-15T09:00:00.000Z' },
      { key: 'seats', label: 'Seats', type: 'number', createdAt: '2026-01-15T09:00:00.000Z' },
    ];
    expect(await outputKeysOf(operation.outputFields ?? [], attributes)).toEqual(
      [...spec, 'attributes__plan', 'attributes__seats'].sort(),
    );
  });

  it('has a static sample, a Test trigger record and a delivered record with those keys', async () => {
    expect(flatKeys(operation.sample)).toEqual(outputKeys);
    expect(flatKeys(await sampleList('lead.captured', leadCaptured.performList))).toEqual(outputKeys);
    const [delivered] = await appTester(leadCaptured.perform, hookBundle(deliveredPayload('lead.captured')));
    expect(flatKeys(delivered)).toEqual(outputKeys);
  });
});

describe('Tag Added', () => {
  const operation = App.triggers.tag_added.operation;
  const outputKeys = keysOf(operation.outputFields ?? []);

  it('has a static sample, a Test trigger record and a delivered record with its output fields’ keys', async () => {
    expect(outputKeys).toContain('data__tag');
    expect(flatKeys(operation.sample)).toEqual(outputKeys);
    expect(flatKeys(await sampleList('tag.added', tagAdded.performList))).toEqual(outputKeys);
    const [delivered] = await appTester(tagAdded.perform, hookBundle(deliveredPayload('tag.added')));
    expect(flatKeys(delivered)).toEqual(outputKeys);
  });
});

describe('Conversation Event', () => {
  const operation = App.triggers.conversation_event.operation;

  const outputKeysFor = async (eventType?: string) =>
    keysOf(await appTester(eventOutputFields, bundle({ inputData: eventType ? { event_type: eventType } : {} })));

  it.each(CONVERSATION_EVENT_TYPES)('for %s, Test trigger and deliveries match the output fields', async (type) => {
    const outputKeys = await outputKeysFor(type);
    expect(flatKeys(await sampleList(type, conversationEvent.performList))).toEqual(outputKeys);
    const [delivered] = await appTester(
      conversationEvent.perform,
      hookBundle(deliveredPayload(type), { inputData: { event_type: type } }),
    );
    expect(flatKeys(delivered)).toEqual(outputKeys);
    if (type.startsWith('ticket.')) expect(outputKeys).toContain('data__ticket__id');
  });

  it('has a static sample with the output fields of its own event type', async () => {
    expect(flatKeys(operation.sample)).toEqual(await outputKeysFor(SAMPLE_EVENT_TYPE));
  });

  it('shows the envelope every event shares before an event type is chosen', async () => {
    const envelope = await outputKeysFor();
    expect(envelope).toEqual(['assistantId', 'assistantName', 'createdAt', 'id', 'type', 'workspaceId']);
    for (const type of CONVERSATION_EVENT_TYPES)
      expect(await outputKeysFor(type)).toEqual(expect.arrayContaining(envelope));
  });
});

describe('actions and the search', () => {
  const operations = [
    ...Object.values(App.creates).map((c) => [`creates.${c.key}`, c.operation] as const),
    ...Object.values(App.searches).map((s) => [`searches.${s.key}`, s.operation] as const),
  ];

  it.each(operations)('%s has a sample with exactly its output fields', async (_, operation) => {
    expect(flatKeys(operation.sample)).toEqual(await outputKeysOf(operation.outputFields ?? []));
  });
});

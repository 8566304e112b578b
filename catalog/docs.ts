/**
 * Renders docs/events.md from the catalog, so the event reference can never drift from what the API
 * delivers and the Zapier app declares. `npm run docs:events` writes it; a test fails when it is stale.
 */
import fs from 'node:fs';
import path from 'node:path';

import { fixtureFor } from '../fixtures';
import {
  CONVERSATION_EVENT_TYPES,
  CONVERSATION_EVENTS,
  type EventType,
  LEAD_CAPTURED,
  LEAD_EVENT,
  payloadSchema,
  TAG_ADDED,
  TAG_ADDED_EVENT,
} from './events';
import { payloadFields } from './fields';

function fieldTable(type: EventType): string {
  const rows = payloadFields(payloadSchema(type)).map(
    (f) =>
      `| \`${f.key}\` | ${f.label} | ${f.type}${f.choices ? `: ${f.choices.map((c) => `\`${c}\``).join(', ')}` : ''}${f.nullable ? '; may be null' : ''} |`,
  );
  return ['| key | label | type |', '|---|---|---|', ...rows].join('\n');
}

function section(type: EventType, label: string, firesWhen: string): string {
  return [
    `### \`${type}\`: ${label}`,
    '',
    `Fires when: ${firesWhen}.`,
    '',
    fieldTable(type),
    '',
    '<details><summary>Sample (the fixture Test trigger shows before a real event exists)</summary>',
    '',
    '```json',
    JSON.stringify(fixtureFor(type), null, 2),
    '```',
    '',
    '</details>',
  ].join('\n');
}

export function renderEventDocs(): string {
  return [
    '# Events',
    '',
    '<!-- Generated from catalog/events.ts by `npm run docs:events`. Do not edit by hand. -->',
    '',
    'Every event IllumiChat sends to Zapier. A subscription receives the record below as the JSON body of an',
    'HTTP POST (see `docs/delivery.md` for headers and signatures). Keys with `__` are how Zapier names a',
    'nested field: `data__ticket__id` is `data.ticket.id` in the body.',
    '',
    '## Lead Captured trigger',
    '',
    section(LEAD_CAPTURED, LEAD_EVENT.label, LEAD_EVENT.firesWhen),
    '',
    '`attributes` holds the contact’s values of the workspace’s custom attributes, by key (text and dates as',
    '`YYYY-MM-DD` strings, numbers, booleans); the keys are each workspace’s own, so the Zapier app lists them as',
    'output fields `attributes__<key>` from the workspace (GET /v1/contact-attributes) rather than from this table.',
    '',
    '## Tag Added trigger',
    '',
    section(TAG_ADDED, TAG_ADDED_EVENT.label, TAG_ADDED_EVENT.firesWhen),
    '',
    '## Conversation Event trigger',
    '',
    'Every conversation event has the same envelope (`id`, `type`, `createdAt`, `workspaceId`, `assistantId`,',
    '`assistantName`); only `data` differs by type.',
    '',
    '| event type | label | fires when |',
    '|---|---|---|',
    ...CONVERSATION_EVENT_TYPES.map(
      (t) => `| \`${t}\` | ${CONVERSATION_EVENTS[t].label} | ${CONVERSATION_EVENTS[t].firesWhen} |`,
    ),
    '',
    ...CONVERSATION_EVENT_TYPES.flatMap((t) => [
      section(t, CONVERSATION_EVENTS[t].label, CONVERSATION_EVENTS[t].firesWhen),
      '',
    ]),
  ].join('\n');
}

if (require.main === module) {
  fs.writeFileSync(path.join(__dirname, '..', 'docs', 'events.md'), renderEventDocs());
}

/** Conversation Event: one trigger for the conversation lifecycle; the builder picks which event fires it. */
import {
  type Bundle,
  defineInputFields,
  defineTrigger,
  type PlainOutputField,
  type ZObject,
} from 'zapier-platform-core';

import {
  CONVERSATION_EVENT_TYPES,
  CONVERSATION_EVENTS,
  type ConversationEventType,
  payloadSchema,
} from '../../catalog/events';
import { fixtureFor } from '../../fixtures';
import { assistantFilterField } from '../inputFields';
import { outputFieldsOf } from '../outputFields';
import { type EventTypeOf, restHookOperation } from '../rest-hooks';

/** The static sample: a new ticket, the event most Zaps start from. */
export const SAMPLE_EVENT_TYPE: ConversationEventType = 'ticket.created';

const inputFields = defineInputFields([
  {
    key: 'event_type',
    label: 'Event Type',
    required: true,
    choices: CONVERSATION_EVENT_TYPES.map((type) => ({
      value: type,
      sample: type,
      label: `${CONVERSATION_EVENTS[type].label}: ${CONVERSATION_EVENTS[type].firesWhen.toLowerCase()}`,
    })),
    helpText:
      'Which event starts the Zap. Ticket events include the ticket’s ID (`data.ticket.id`), ready to map into Update Ticket.',
  },
  assistantFilterField,
]);

export function isConversationEventType(value: unknown): value is ConversationEventType {
  return typeof value === 'string' && (CONVERSATION_EVENT_TYPES as string[]).includes(value);
}

const chosenEventType: EventTypeOf = (z, bundle) => {
  const chosen = bundle.inputData.event_type;
  if (isConversationEventType(chosen)) return chosen;
  throw new z.errors.Error(
    `Choose an Event Type for this trigger (one of ${CONVERSATION_EVENT_TYPES.join(', ')}).`,
    'invalid_event_type',
    400,
  );
};

/** The delivered record's fields for the chosen event; before one is chosen, the envelope every event shares. */
export function eventOutputFields(_z: ZObject, bundle: Bundle): Promise<PlainOutputField[]> {
  const chosen = bundle.inputData.event_type;
  const fields = outputFieldsOf(payloadSchema(isConversationEventType(chosen) ? chosen : SAMPLE_EVENT_TYPE));
  return Promise.resolve(
    isConversationEventType(chosen) ? fields : fields.filter((field) => !field.key.startsWith('data__')),
  );
}

const operation = restHookOperation({
  eventType: chosenEventType,
  inputFields,
  outputFields: [eventOutputFields],
  sample: fixtureFor(SAMPLE_EVENT_TYPE),
});

export const { performSubscribe, performUnsubscribe, perform, performList } = operation;

export default defineTrigger({
  key: 'conversation_event',
  noun: 'Conversation Event',
  display: {
    label: 'Conversation Event',
    description: 'Triggers when the ticket, live chat or conversation event you choose happens.',
  },
  operation,
});

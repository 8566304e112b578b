/** Lead Captured: a new contact, from the widget lead form, the CRM or the API, as one flat record. */
import { defineInputFields, defineTrigger } from 'zapier-platform-core';

import { LEAD_CAPTURED, LEAD_EVENT } from '../../catalog/events';
import { fixtureFor } from '../../fixtures';
import { attributeOutputFields } from '../attributes';
import { assistantFilterField } from '../inputFields';
import { outputFieldsOf } from '../outputFields';
import { restHookOperation } from '../rest-hooks';

const operation = restHookOperation({
  eventType: () => LEAD_CAPTURED,
  inputFields: defineInputFields([assistantFilterField]),
  outputFields: [...outputFieldsOf(LEAD_EVENT.schema), attributeOutputFields],
  sample: fixtureFor(LEAD_CAPTURED),
});

export const { performSubscribe, performUnsubscribe, perform, performList } = operation;

export default defineTrigger({
  key: 'lead_captured',
  noun: 'Lead',
  display: {
    label: 'Lead Captured',
    description: 'Triggers when a new contact is created, from the widget lead form or in your CRM.',
  },
  operation,
});

/** Lead Captured: a new contact, from the widget lead form, the CRM or the API, as one flat record. */
import { defineInputFields, defineTrigger } from 'zapier-platform-core';

import { LEAD_CAPTURED, LEAD_EVENT } from '../../catalog/events';
import { fixtureFor } from '../../fixtures';
import { restHook } from '../hooks';
import { assistantFilterField } from '../inputFields';
import { outputFieldsOf } from '../outputFields';

const inputFields = defineInputFields([assistantFilterField]);

export const { performSubscribe, performUnsubscribe, perform, performList } = restHook(() => LEAD_CAPTURED);

export default defineTrigger({
  key: 'lead_captured',
  noun: 'Lead',
  display: {
    label: 'Lead Captured',
    description: 'Triggers when a new contact is created, from the widget lead form or in your CRM.',
  },
  operation: {
    type: 'hook',
    performSubscribe,
    performUnsubscribe,
    perform,
    performList,
    inputFields,
    outputFields: outputFieldsOf(LEAD_EVENT.schema),
    sample: fixtureFor(LEAD_CAPTURED),
  },
});

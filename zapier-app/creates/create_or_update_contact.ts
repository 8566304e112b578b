/** Create or Update Contact: an upsert matched by email, so re-sending a lead never makes a second contact. */
import { type CreatePerform, defineCreate, defineInputFields, type InferInputData } from 'zapier-platform-core';

import { attributeInputFields, attributeOutputFields, attributeValues } from '../attributes';
import { runKeyField, runKeyOf } from '../idempotency';
import { cleanEmail, presentValues } from '../inputFields';
import { outputFieldsOf } from '../outputFields';
import { type ContactRecord, contactSample, contactSchema } from '../records';
import { writeRecord } from './write';

export const KEY = 'create_or_update_contact';

const inputFields = defineInputFields([
  {
    key: 'email',
    label: 'Email',
    required: true,
    helpText: 'The contact’s email address. If a contact already has it (in any letter case), that contact is updated.',
  },
  { key: 'name', label: 'Name', required: false, helpText: 'Full name, as your team should see it in IllumiChat.' },
  { key: 'phone', label: 'Phone', required: false, helpText: 'Any format; IllumiChat stores it as given.' },
  { key: 'company', label: 'Company', required: false, helpText: 'The organisation the contact belongs to.' },
  {
    key: 'notes',
    label: 'Notes',
    type: 'text',
    required: false,
    helpText: 'Free text for your agents. Blank fields never overwrite what the contact already has.',
  },
  runKeyField,
  // The workspace's custom attributes, typed, after the static fields (attributes.ts).
  attributeInputFields,
]);

export const perform = (async (z, bundle) => {
  const { email, name, phone, company, notes } = bundle.inputData;
  const attributes = await attributeValues(z, bundle.inputData);
  return writeRecord<ContactRecord>(z, {
    operationKey: KEY,
    method: 'POST',
    path: '/v1/contacts',
    body: presentValues({ email: cleanEmail(email), name, phone, company, notes, attributes }),
    runKey: runKeyOf(bundle.inputData),
  });
}) satisfies CreatePerform<InferInputData<typeof inputFields>>;

export default defineCreate({
  key: KEY,
  noun: 'Contact',
  display: {
    label: 'Create or Update Contact',
    description: 'Creates a contact in your CRM, or updates the one with the same email address.',
  },
  operation: {
    perform,
    inputFields,
    outputFields: [...outputFieldsOf(contactSchema), attributeOutputFields],
    sample: contactSample,
  },
});

/** Find Contact: exact email (any letter case); no match is an empty result, which Zapier shows as "not found". */
import { defineInputFields, defineSearch, type InferInputData, type SearchPerform } from 'zapier-platform-core';

import { attributeOutputFields } from '../attributes';
import { cleanEmail } from '../inputFields';
import { outputFieldsOf } from '../outputFields';
import { type ContactRecord, contactSample, contactSchema } from '../records';

export const KEY = 'find_contact';

const inputFields = defineInputFields([
  {
    key: 'email',
    label: 'Email',
    required: true,
    helpText: 'The exact email address of the contact to look for; letter case does not matter.',
  },
]);

export const perform = (async (z, bundle) => {
  const email = cleanEmail(bundle.inputData.email);
  if (!email) return [];
  const response = await z.request<{ data: ContactRecord[] }>({ url: '/v1/contacts', params: { email } });
  return response.data.data;
}) satisfies SearchPerform<InferInputData<typeof inputFields>>;

export default defineSearch({
  key: KEY,
  noun: 'Contact',
  display: {
    label: 'Find Contact',
    description: 'Finds a contact in your CRM by exact email address.',
  },
  operation: {
    perform,
    inputFields,
    outputFields: [...outputFieldsOf(contactSchema), attributeOutputFields],
    sample: contactSample,
  },
});

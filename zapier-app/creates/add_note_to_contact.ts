/** Add Note to Contact: a note for the team on the contact, with this connection's API key as its author. */
import { type CreatePerform, defineCreate, defineInputFields, type InferInputData } from 'zapier-platform-core';

import { runKeyField, runKeyOf } from '../idempotency';
import { outputFieldsOf } from '../outputFields';
import { type NoteRecord, noteSample, noteSchema } from '../records';
import { writeRecord } from './write';

export const KEY = 'add_note_to_contact';

const inputFields = defineInputFields([
  {
    key: 'contact_id',
    label: 'Contact ID',
    required: true,
    helpText:
      'The contact’s ID (`con_…`): map it from Lead Captured, Find Contact or Create or Update Contact in an earlier step.',
  },
  {
    key: 'body',
    label: 'Note',
    type: 'text',
    required: true,
    helpText:
      'What your agents should know, up to 10,000 characters. It is added beside earlier notes, never over them.',
  },
  runKeyField,
]);

export const perform = (async (z, bundle) => {
  const { contact_id, body } = bundle.inputData;
  return writeRecord<NoteRecord>(z, {
    operationKey: KEY,
    method: 'POST',
    path: `/v1/contacts/${encodeURIComponent(String(contact_id).trim())}/notes`,
    body: { body },
    runKey: runKeyOf(bundle.inputData),
  });
}) satisfies CreatePerform<InferInputData<typeof inputFields>>;

export default defineCreate({
  key: KEY,
  noun: 'Note',
  display: {
    label: 'Add Note to Contact',
    description: 'Creates a note on a contact, with the time and this connection as its author.',
  },
  operation: { perform, inputFields, outputFields: outputFieldsOf(noteSchema), sample: noteSample },
});

/** Create Ticket: a support ticket with status `new` and source `api`, optionally linked to a contact. */
import { type CreatePerform, defineCreate, defineInputFields, type InferInputData } from 'zapier-platform-core';

import { TICKET_PRIORITIES, type TicketRecord } from '../../catalog/events';
import { runKeyField, runKeyOf } from '../idempotency';
import { cleanEmail, presentValues } from '../inputFields';
import { outputFieldsOf } from '../outputFields';
import { ticketSample, ticketSchema } from '../records';
import { writeRecord } from './write';

export const KEY = 'create_ticket';

export const priorityChoices = TICKET_PRIORITIES.map((priority) => ({
  value: priority,
  sample: priority,
  label: priority.charAt(0).toUpperCase() + priority.slice(1),
}));

const inputFields = defineInputFields([
  { key: 'subject', label: 'Subject', required: true, helpText: 'A one-line summary agents see in the ticket list.' },
  {
    key: 'description',
    label: 'Description',
    type: 'text',
    required: false,
    helpText: 'The full details of the request, such as the customer’s message.',
  },
  {
    key: 'priority',
    label: 'Priority',
    required: false,
    choices: priorityChoices,
    helpText: 'How urgent the ticket is. IllumiChat uses Normal when this is blank.',
  },
  {
    key: 'contact_email',
    label: 'Contact Email',
    required: false,
    helpText:
      'Links the ticket to the CRM contact with this email. It must already exist: add a Find or Create Contact step before this one, or leave this blank to create the ticket without a contact.',
  },
  runKeyField,
]);

export const perform = (async (z, bundle) => {
  const { subject, description, priority, contact_email } = bundle.inputData;
  return writeRecord<TicketRecord>(z, {
    operationKey: KEY,
    method: 'POST',
    path: '/v1/tickets',
    body: presentValues({ subject, description, priority, contact_email: cleanEmail(contact_email) }),
    runKey: runKeyOf(bundle.inputData),
  });
}) satisfies CreatePerform<InferInputData<typeof inputFields>>;

export default defineCreate({
  key: KEY,
  noun: 'Ticket',
  display: {
    label: 'Create Ticket',
    description: 'Creates a support ticket with status new and source api.',
  },
  operation: { perform, inputFields, outputFields: outputFieldsOf(ticketSchema), sample: ticketSample },
});

/** Update Ticket: changes only the fields the builder fills; resolved or closed stamp the ticket's time. */
import { type CreatePerform, defineCreate, defineInputFields, type InferInputData } from 'zapier-platform-core';

import { TICKET_STATUSES, type TicketRecord } from '../../catalog/events';
import { presentValues } from '../inputFields';
import { outputFieldsOf } from '../outputFields';
import { ticketSample, ticketSchema } from '../records';
import { priorityChoices } from './create_ticket';
import { writeRecord } from './write';

export const KEY = 'update_ticket';

export const NOTHING_TO_UPDATE =
  'Nothing to update: fill at least one of Status, Priority, Subject or Description (this run’s mapped values were all blank).';

const inputFields = defineInputFields([
  {
    key: 'ticket_id',
    label: 'Ticket',
    required: true,
    dynamic: 'ticket_list.id.label',
    helpText:
      'Map the Ticket ID from a Conversation Event trigger (every ticket event includes it) or from an earlier Create Ticket step, or pick a recent ticket.',
  },
  {
    key: 'status',
    label: 'Status',
    required: false,
    choices: TICKET_STATUSES.map((status) => ({
      value: status,
      sample: status,
      label: status.charAt(0).toUpperCase() + status.slice(1),
    })),
    helpText: 'Resolved or Closed also record when the ticket was resolved or closed.',
  },
  {
    key: 'priority',
    label: 'Priority',
    required: false,
    choices: priorityChoices,
    helpText: 'Leave blank to keep it.',
  },
  { key: 'subject', label: 'Subject', required: false, helpText: 'A new one-line summary; leave blank to keep it.' },
  {
    key: 'description',
    label: 'Description',
    type: 'text',
    required: false,
    helpText: 'Replaces the ticket’s details; leave blank to keep them.',
  },
]);

export const perform = (async (z, bundle) => {
  const { ticket_id, status, priority, subject, description } = bundle.inputData;
  const changes = presentValues({ status, priority, subject, description });
  if (Object.keys(changes).length === 0) throw new z.errors.HaltedError(NOTHING_TO_UPDATE);
  return writeRecord<TicketRecord>(z, {
    operationKey: KEY,
    method: 'PATCH',
    path: `/v1/tickets/${encodeURIComponent(String(ticket_id).trim())}`,
    body: changes,
  });
}) satisfies CreatePerform<InferInputData<typeof inputFields>>;

export default defineCreate({
  key: KEY,
  noun: 'Ticket',
  display: {
    label: 'Update Ticket',
    description: 'Updates a ticket’s status, priority, subject or description.',
  },
  operation: { perform, inputFields, outputFields: outputFieldsOf(ticketSchema), sample: ticketSample },
});

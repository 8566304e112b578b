/**
 * Find Ticket: by its ID (`tkt_…`) or its number (`42` or `#42`), so a Zap can update a ticket that no trigger
 * handed it. Paired with Create Ticket as Find or Create Ticket.
 */
import { defineInputFields, defineSearch, type InferInputData, type SearchPerform } from 'zapier-platform-core';

import type { TicketRecord } from '../../catalog/events';
import { outputFieldsOf } from '../outputFields';
import { ticketSample, ticketSchema } from '../records';
import { readById, textOf } from './read';

export const KEY = 'find_ticket';

/** A ticket number as people write it: digits, perhaps after a `#`. */
const TICKET_NUMBER = /^#?\s*(\d{1,15})$/;

const inputFields = defineInputFields([
  {
    key: 'ticket',
    label: 'Ticket ID or Number',
    required: true,
    helpText:
      'The ticket’s ID (`tkt_…`, from a ticket event or an earlier step) or its number as your team sees it (`42` or `#42`).',
  },
]);

export const perform = (async (z, bundle) => {
  const ticket = textOf(bundle.inputData.ticket);
  if (!ticket) return [];
  const number = TICKET_NUMBER.exec(ticket)?.[1];
  // Numbering starts at 1, and IllumiChat refuses 0 as a number: #0 is a ticket that does not exist.
  if (number && Number(number) === 0) return [];
  if (number) {
    const response = await z.request<{ data: TicketRecord[] }>({ url: '/v1/tickets', params: { number } });
    return response.data.data;
  }
  return readById<TicketRecord>(z, `/v1/tickets/${encodeURIComponent(ticket)}`);
}) satisfies SearchPerform<InferInputData<typeof inputFields>>;

export default defineSearch({
  key: KEY,
  noun: 'Ticket',
  display: {
    label: 'Find Ticket',
    description: 'Finds a ticket by its ID or its number.',
  },
  operation: { perform, inputFields, outputFields: outputFieldsOf(ticketSchema), sample: ticketSample },
});

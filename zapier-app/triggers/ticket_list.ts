/** The Ticket dropdown of Update Ticket: `#1042 Cannot log in (open)`. */
import type { TicketRecord } from '../../catalog/events';
import { dropdownTrigger } from './dropdown';

export default dropdownTrigger({
  key: 'ticket_list',
  noun: 'Ticket',
  path: '/v1/tickets',
  label: (ticket: TicketRecord) => `#${ticket.number} ${ticket.subject} (${ticket.status})`,
});

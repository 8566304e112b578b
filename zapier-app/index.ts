/**
 * IllumiChat for Zapier. The keys of triggers, creates and searches are a public contract: Zaps store them,
 * so they never change; a retired operation is hidden, not deleted.
 */
import { type App, type Create, type Search, type Trigger, version as platformVersion } from 'zapier-platform-core';

import authentication from './authentication';
import addNoteToContact from './creates/add_note_to_contact';
import createOrUpdateContact from './creates/create_or_update_contact';
import createTicket from './creates/create_ticket';
import sendMessage from './creates/send_message';
import { addTagToContact, addTagToConversation, removeTagFromContact } from './creates/tags';
import updateTicket from './creates/update_ticket';
import { addApiContext, translateApiErrors } from './http/middleware';
import findContact from './searches/find_contact';
import findConversation from './searches/find_conversation';
import findTicket from './searches/find_ticket';
import assistantList from './triggers/assistant_list';
import conversationEvent from './triggers/conversation_event';
import conversationList from './triggers/conversation_list';
import leadCaptured from './triggers/lead_captured';
import tagAdded from './triggers/tag_added';
import ticketList from './triggers/ticket_list';
import { APP_VERSION } from './version';

/**
 * `satisfies` rather than defineApp: the schema is still checked, and the exported type keeps what is
 * really there (authentication, searchOrCreates), so callers need no optional chaining.
 */
const app = {
  version: APP_VERSION,
  platformVersion,
  authentication,
  beforeRequest: [addApiContext],
  afterResponse: [translateApiErrors],
  flags: {
    // Let translateApiErrors turn a 429 into a ThrottledError that carries IllumiChat's code and Retry-After.
    throwForThrottlingEarly: false,
    // Core's patch of node's http(s).request logs calls made without z.request; every call here uses
    // z.request, so it would log nothing. It also stays on the shared module for the whole process and
    // drops the options of the three-argument https.request(url, options, cb), which broke nock in any
    // test file that ran after another file's real request.
    skipHttpPatch: true,
  },

  triggers: {
    [leadCaptured.key]: leadCaptured,
    [conversationEvent.key]: conversationEvent,
    [assistantList.key]: assistantList,
    [ticketList.key]: ticketList,
    [conversationList.key]: conversationList,
    [tagAdded.key]: tagAdded,
  },
  creates: {
    [createOrUpdateContact.key]: createOrUpdateContact,
    [createTicket.key]: createTicket,
    [updateTicket.key]: updateTicket,
    [sendMessage.key]: sendMessage,
    [addTagToContact.key]: addTagToContact,
    [removeTagFromContact.key]: removeTagFromContact,
    [addTagToConversation.key]: addTagToConversation,
    [addNoteToContact.key]: addNoteToContact,
  },
  searches: {
    [findContact.key]: findContact,
    [findTicket.key]: findTicket,
    [findConversation.key]: findConversation,
  },
  searchOrCreates: {
    find_contact: {
      key: 'find_contact',
      display: {
        label: 'Find or Create Contact',
        description: 'Finds a contact by exact email address, or creates one when none matches.',
      },
      search: findContact.key,
      create: createOrUpdateContact.key,
    },
    // Find Conversation has no pair: conversations are started by visitors, never by a Zap (docs/zapier-app.md).
    find_ticket: {
      key: 'find_ticket',
      display: {
        label: 'Find or Create Ticket',
        description: 'Finds a ticket by its ID or number, or creates one when none matches.',
      },
      search: findTicket.key,
      create: createTicket.key,
    },
  },
} satisfies App<Record<string, Trigger>, Record<string, Create>, Record<string, Search>>;

export default app;

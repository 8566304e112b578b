/**
 * What each API key scope lets a Zap do: the one list that the connection wizard's help text and the "this
 * step needs the … scope" errors (zapier-app) and Settings → API Keys' "Needed for" (partner-api) all show.
 * It is the spec's "API Key Scopes" table (illumichat-zapier-help.txt) grown by the operations added since
 * (app 1.2.0); test/zapier-app/authentication.test.ts fails when a visible operation is missing from it. The
 * scopes themselves, and which route needs which, are the API's (partner-api/domain/credentials.ts SCOPES).
 */
export const SCOPE_USES = {
  'events:read': 'the connection test and every trigger (Lead Captured, Conversation Event, Tag Added)',
  'contacts:write':
    'Create or Update Contact, Find Contact, Add Tag to Contact, Remove Tag from Contact and Add Note to Contact',
  'tickets:write': 'Create Ticket, Update Ticket and Find Ticket',
  'chat:write': 'Send Message to Conversation, Add Tag to Conversation and Find Conversation',
} as const;

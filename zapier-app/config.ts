/** Where the app finds IllumiChat, and what an API key must look like before it is ever sent. */

export const DEFAULT_API_URL = 'https://api.illumichat.com';

/** Read on every request, so `zapier-platform env:set ILLUMICHAT_API_URL=…` and tests take effect at once. */
export function apiBaseUrl(): string {
  const configured = process.env.ILLUMICHAT_API_URL?.trim();
  return (configured || DEFAULT_API_URL).replace(/\/+$/, '');
}

export const API_KEY_PREFIX = 'wsk_live_';

/** Where a workspace admin creates keys; linked from the connection wizard. */
export const API_KEYS_SETTINGS_URL = 'https://app.illumichat.com/settings/api-keys';

/** The scope each step needs, as the spec's table lists them. */
export const SCOPES = {
  'events:read': 'the connection test, all triggers and their sample data',
  'contacts:write': 'Create or Update Contact and Find Contact',
  'tickets:write': 'Create Ticket and Update Ticket',
  'chat:write': 'Send Message to Conversation',
} as const;

export type Scope = keyof typeof SCOPES;

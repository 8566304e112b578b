/** Where the app finds IllumiChat, and what an API key must look like before it is ever sent. */
import { SCOPE_USES } from '../catalog/scopes';

export const DEFAULT_API_URL = 'https://api.illumichat.com';

/** Read on every request, so `zapier-platform env:set ILLUMICHAT_API_URL=…` and tests take effect at once. */
export function apiBaseUrl(): string {
  const configured = process.env.ILLUMICHAT_API_URL?.trim();
  return (configured || DEFAULT_API_URL).replace(/\/+$/, '');
}

export const API_KEY_PREFIX = 'wsk_live_';

/** Where a workspace admin creates keys; linked from the connection wizard. */
export const API_KEYS_SETTINGS_URL = 'https://app.illumichat.com/settings/api-keys';

/** The operations each scope is needed for (catalog/scopes.ts, the one list the API's Settings shows too). */
export const SCOPES = SCOPE_USES;

export type Scope = keyof typeof SCOPES;

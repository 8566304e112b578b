/**
 * A workspace API key, pasted once. The test calls GET /v1/me (which needs events:read, as the spec says) and
 * returns the workspace, so the connection label can show its name.
 */
import type { Authentication, Bundle, ZObject } from 'zapier-platform-core';

import { API_KEY_PREFIX, API_KEYS_SETTINGS_URL, SCOPES } from './config';

export interface Workspace {
  id: string;
  name: string;
  plan: string;
  key: { id: string; prefix: string; scopes: string[] };
}

const scopeList = Object.entries(SCOPES)
  .map(([scope, usedBy]) => `\`${scope}\` for ${usedBy}`)
  .join('; ');

/** Zapier's D002: say where the key is. The spec's troubleshooting: the connection test needs events:read. */
export const API_KEY_HELP_TEXT =
  `Create a workspace API key in IllumiChat under [Settings → API Keys](${API_KEYS_SETTINGS_URL}); ` +
  `it starts with \`${API_KEY_PREFIX}\` and is shown only once. Every key needs \`events:read\`: the connection ` +
  'test uses it, so a key made for actions alone cannot connect. Also grant the scopes your Zaps use: ' +
  `${scopeList}. The integration needs a Pro plan or higher.`;

export async function testAuth(z: ZObject, _bundle: Bundle): Promise<Workspace> {
  const response = await z.request<Workspace>({ url: '/v1/me' });
  return response.data;
}

export default {
  type: 'custom',
  fields: [{ key: 'apiKey', label: 'API Key', type: 'password', required: true, helpText: API_KEY_HELP_TEXT }],
  test: testAuth,
  // The test returns the workspace itself, so its fields are top-level in the label template.
  connectionLabel: '{{name}}',
} satisfies Authentication;

import nock from 'nock';

import App from '../../zapier-app';
import authentication, { API_KEY_HELP_TEXT, testAuth } from '../../zapier-app/authentication';
import { API_KEYS_SETTINGS_URL, SCOPES } from '../../zapier-app/config';
import { KEY_PREFIX_MESSAGE } from '../../zapier-app/http/middleware';
import { at } from '../support/items';
import { api, API_KEY, appTester, bundle, rejectionOf, useMockedApi } from './support/app';

useMockedApi();

const workspace = {
  id: 'ws_0000000000000000000001',
  name: 'Acme Support',
  plan: 'pro',
  key: { id: 'key_000000000000000000001', prefix: 'wsk_live_a1B2', scopes: Object.keys(SCOPES) },
};

/** Zapier renders the label template over the test's result; `{{name}}` must reach the workspace name. */
function renderLabel(template: string, data: object): string {
  return template.replace(/{{\s*([\w.]+)\s*}}/g, (_, path: string) =>
    String(path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)?.[k], data)),
  );
}

describe('connecting an IllumiChat account', () => {
  it('tests the key with GET /v1/me, as a Bearer token, and labels the connection with the workspace name', async () => {
    api()
      .get('/v1/me')
      .matchHeader('authorization', `Bearer ${API_KEY}`)
      .matchHeader('accept', 'application/json')
      .matchHeader('x-illumichat-zapier-operation', 'authentication.test')
      .reply(200, workspace);

    const result = await appTester(testAuth, bundle());

    expect(result).toEqual(workspace);
    expect(App.authentication?.test).toBe(testAuth);
    expect(renderLabel(String(App.authentication?.connectionLabel), result)).toBe('Acme Support');
  });

  it('trims the spaces a pasted key often carries', async () => {
    api().get('/v1/me').matchHeader('authorization', `Bearer ${API_KEY}`).reply(200, workspace);
    await expect(appTester(testAuth, bundle({ authData: { apiKey: `  ${API_KEY}\n` } }))).resolves.toEqual(workspace);
  });

  it.each([
    ['a key of another product', 'sk_live_abcdefghijklmnopqrstuvwxyz012345'],
    ['a test-mode style key', 'wsk_test_abcdefghijklmnopqrstuvwxyz012345'],
    ['an empty field', ''],
  ])('refuses %s before any request, saying keys start with wsk_live_', async (_, apiKey) => {
    const me = api().get('/v1/me').reply(200, workspace);

    const error = await rejectionOf(appTester(testAuth, bundle({ authData: { apiKey } })));

    expect(error).toEqual({ name: 'ExpiredAuthError', message: KEY_PREFIX_MESSAGE });
    expect(error.message).toContain('wsk_live_');
    expect(me.isDone()).toBe(false);
    nock.cleanAll();
  });

  it('asks to reconnect with a new key when the key was revoked', async () => {
    api()
      .get('/v1/me')
      .reply(401, { error: { code: 'api_key_revoked', message: 'This API key was revoked.' } });
    const error = await rejectionOf(appTester(testAuth, bundle()));
    expect(error.name).toBe('ExpiredAuthError');
    expect(error.message).toBe(
      'This API key was revoked in IllumiChat (Settings → API Keys). Reconnect your IllumiChat account with a new key. (IllumiChat 401 api_key_revoked)',
    );
  });

  it('gives the spec’s Pro-plan answer to a workspace below Pro', async () => {
    api()
      .get('/v1/me')
      .reply(403, { error: { code: 'plan_upgrade_required', message: 'Upgrade to Pro.' } });
    const error = await rejectionOf(appTester(testAuth, bundle()));
    expect(error.message).toContain(
      'The Zapier integration is gated to Pro and above. Upgrade your workspace plan, then reconnect the account in Zapier.',
    );
  });

  it('names events:read when the key lacks the scope the connection test needs', async () => {
    api()
      .get('/v1/me')
      .reply(403, {
        error: { code: 'insufficient_scope', message: 'This key lacks events:read.', requiredScope: 'events:read' },
      });
    const error = await rejectionOf(appTester(testAuth, bundle()));
    expect(error.message).toMatch(/lacks the events:read scope/);
    expect(error.message).toMatch(/Create a key with it under Settings → API Keys and reconnect\./);
    // Whole, to the last word: the reason (the connection test needs it) included, nothing cut off.
    expect(error.message).toMatch(
      /It is needed for the connection test and every trigger \(.*\)\. \(IllumiChat 403 insufficient_scope\)$/,
    );
    expect(error.message).not.toContain('…');
  });
});

describe('the API Key field', () => {
  const field = at(authentication.fields, 0);

  it('is the one required password field, keyed apiKey', () => {
    expect(authentication.type).toBe('custom');
    expect(authentication.fields).toHaveLength(1);
    expect(field).toMatchObject({ key: 'apiKey', type: 'password', required: true });
  });

  it('links to Settings → API Keys, names the wsk_live_ prefix and the scope each step needs', () => {
    expect(API_KEY_HELP_TEXT).toContain(`[Settings → API Keys](${API_KEYS_SETTINGS_URL})`);
    expect(API_KEYS_SETTINGS_URL).toMatch(/^https:\/\//);
    expect(API_KEY_HELP_TEXT).toContain('wsk_live_');
    for (const [scope, usedBy] of Object.entries(SCOPES))
      expect(API_KEY_HELP_TEXT).toContain(`\`${scope}\` for ${usedBy}`);
    expect(SCOPES['events:read']).toMatch(/connection test.*every trigger/);
    // A key made for actions alone cannot connect: the field says so before the wizard fails.
    expect(API_KEY_HELP_TEXT).toMatch(/Every key needs `events:read`: the connection test uses it/);
    expect(SCOPES['contacts:write']).toMatch(/Create or Update Contact.*Find Contact/);
    expect(SCOPES['tickets:write']).toMatch(/Create Ticket.*Update Ticket/);
    expect(SCOPES['chat:write']).toMatch(/Send Message to Conversation/);
    expect(field.helpText).toBe(API_KEY_HELP_TEXT);
    expect(API_KEY_HELP_TEXT.length).toBeLessThanOrEqual(1000);
  });

  it('names every operation a Zap builder can pick under the scope it needs, so a new one cannot be left out', () => {
    const visible = [App.triggers, App.creates, App.searches]
      .flatMap((operations) => Object.values(operations ?? {}))
      .filter((operation) => operation.display.hidden !== true)
      .map((operation) => operation.display.label);
    expect(visible).toEqual(expect.arrayContaining(['Tag Added', 'Find Ticket', 'Add Note to Contact']));
    const listed = Object.values(SCOPES).join('; ');
    for (const label of visible) expect(listed).toContain(label);
  });
});

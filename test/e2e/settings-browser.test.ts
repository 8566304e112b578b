/**
 * Settings in a real browser (issue 11 §5): playwright-core drives Debian's Chromium, headless, one launch
 * for the file. The whole story a workspace owner lives: sign in with a link; create a key with two scopes
 * and read it once; use it through the API to subscribe a local receiver and see the Zap appear; make the
 * receiver fail and read the attempt with its response excerpt; fix the receiver, replay, see success;
 * revoke the key and see its Zap disconnected; a used and an expired sign-in link refused. axe-core checks
 * every page for serious or critical accessibility violations, and no hostile text ever runs as script.
 *
 * Chromium is /usr/bin/chromium (`apt-get install chromium`; .ci/run installs it through
 * scripts/ensure-chromium.sh); without it this test fails saying so, it is never skipped.
 * ILLUMICHAT_WRITE_SCREENSHOTS=1 also writes the pages' screenshots to docs/settings/ (docs/settings.md).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { type BrowserContext, chromium, type Page } from 'playwright-core';

import { loadConfig } from '../../partner-api/config';
import { hashSecret } from '../../partner-api/domain/credentials';
import { createSignInLink, signInUrl } from '../../partner-api/domain/sessions';
import { createAgent } from '../../partner-api/domain/workspaces';
import { api, type ApiServer, startApiServer, waitUntil } from '../support/api-server';
import { type Receiver, reply, startReceiver } from '../support/receiver';

export const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = path.join(__dirname, '../../docs/settings');
const writeScreenshots = process.env.ILLUMICHAT_WRITE_SCREENSHOTS === '1';
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

let server: ApiServer;
let rx: Receiver;
let context: BrowserContext;
let page: Page;
let profile: string;
const dialogs: string[] = [];

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y --no-install-recommends chromium, or scripts/ensure-chromium.sh as root). The settings browser test needs it.`,
    );
  }
  rx = await startReceiver();
  // One attempt per delivery: a failure is final at once, so it can be replayed without waiting for retries.
  server = await startApiServer({
    delivery: true,
    config: { delivery: { ...loadConfig({}).delivery, retryScheduleMs: [] } },
  });
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'illumichat-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 800 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
  await server?.close();
  await rx?.close();
});

/** axe-core run inside the page (evaluated, not injected as a script tag, which the CSP would refuse). */
async function expectAccessible(name: string): Promise<void> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as { axe: { run: () => Promise<{ violations: { id: string; impact: string }[] }> } }
    ).axe;
    const result = await axe.run();
    return result.violations.map((v) => ({ id: v.id, impact: v.impact }));
  });
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect({ page: name, serious }).toEqual({ page: name, serious: [] });
  if (writeScreenshots) {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  }
}

const text = (selector: string) => page.locator(selector).innerText();

it('an owner signs in, makes a key, sees its Zap, its failing delivery, replays it and revokes the key', async () => {
  const { workspace } = await server.setup();
  const owner = await createAgent(server.ctx, workspace.id, {
    name: 'Olive Owner',
    email: 'olive@example.com',
    role: 'owner',
  });

  await page.goto(`${server.url}/`);
  await expectAccessible('landing');

  // Sign in with a one-time link.
  const link = signInUrl(server.url, (await createSignInLink(server.ctx, owner.id)).token);
  await page.goto(link);
  await expectAccessible('sign-in');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${server.url}/settings/keys`);
  await expectAccessible('api-keys');

  // Create a key with two scopes; it is shown once, with a working copy button (the external script ran).
  await page.getByLabel('Name').fill('Zapier <b>"production"</b>');
  await page.getByLabel(/events:read/).check();
  await page.getByLabel(/contacts:write/).check();
  await page.getByRole('button', { name: 'Create key' }).click();
  const key = await page.locator('#new-key').inputValue();
  expect(key).toMatch(/^wsk_live_\w{38}$/);
  expect(await text('main')).toContain('you will only see it once');
  await expect(page.getByRole('button', { name: 'Copy' }).isVisible()).resolves.toBe(true);
  await expectAccessible('api-key-created');
  await page.goto(`${server.url}/settings/keys`);
  expect(await page.content()).not.toContain(key);
  expect(await text('table')).toContain('events:read, contacts:write');

  // Use it through the API: a Zap subscribes a local receiver, and a contact fires Lead Captured.
  const zap = api(server.url, key);
  expect((await zap.get('/v1/me')).body.key.scopes).toEqual(['events:read', 'contacts:write']);
  rx.setDefault(reply(500, { body: 'receiver down <script>alert("x")</script>' }));
  expect(
    (await zap.post('/v1/subscriptions', { event_type: 'lead.captured', target_url: `${rx.url}/zap-1` })).status,
  ).toBe(201);
  await page.getByRole('link', { name: 'Connected Zaps' }).click();
  const zapsTable = await text('table');
  expect(zapsTable).toContain('Lead Captured');
  expect(zapsTable).toContain(new URL(rx.url).host);
  expect(zapsTable).not.toContain('zap-1'); // the hook path is masked
  expect(zapsTable).toContain('Active');

  await zap.post('/v1/contacts', { email: 'lead@example.com', name: 'Lee <img src=x onerror=alert(1)>' });
  await rx.waitFor(1);
  await waitUntil(
    async () => {
      await page.goto(`${server.url}/settings/deliveries?status=failed`);
      return (await page.locator('tbody tr').first().innerText()).includes('500');
    },
    10_000,
    'the failed delivery in the log',
  );
  expect(await text('tbody')).toContain('receiver down <script>alert("x")</script>');
  await expectAccessible('delivery-log');
  await page.goto(`${server.url}/settings/zaps`);
  await expectAccessible('connected-zaps');

  // Fix the receiver, open the delivery, replay it: the manual attempt succeeds.
  rx.setDefault(reply(200, { body: 'ok' }));
  await page.goto(`${server.url}/settings/deliveries`);
  await page.locator('tbody tr').first().getByRole('link').click();
  expect(await text('.facts')).toContain('failed');
  await page.getByRole('button', { name: 'Replay this delivery' }).click();
  await page.waitForURL(/replayed=1/);
  const attempts = await text('table');
  expect(attempts).toMatch(/2\s.*manual\s+succeeded\s+200/);
  expect(await text('.facts')).toContain('succeeded');
  expect(rx.requests.at(-1)!.headers['webhook-id']).toBe(rx.requests[0]!.headers['webhook-id']);
  await expectAccessible('delivery');

  await page.getByRole('link', { name: 'Workspace' }).click();
  await expectAccessible('workspace');

  // Revoke the key: the confirmation says one Zap disconnects; afterwards it is disconnected.
  await page.getByRole('link', { name: 'API Keys' }).click();
  await page.getByRole('link', { name: /^Revoke Zapier/ }).click();
  expect(await text('main')).toContain('1 Zap will disconnect');
  await expectAccessible('revoke');
  await page.getByRole('button', { name: 'Revoke key' }).click();
  await page.waitForURL(/\/settings\/keys\?revoked=/);
  expect(await text('[role=status]')).toContain('Revoked');
  await page.getByRole('link', { name: 'Connected Zaps' }).click();
  expect(await text('table')).toContain('Its API key was revoked');
  expect((await zap.get('/v1/me')).body.error.code).toBe('api_key_revoked');

  // The link used above is refused now, as is an expired one.
  await page.goto(link);
  expect(await text('main')).toContain('already used');
  const expired = (await createSignInLink(server.ctx, owner.id)).token;
  await server.ctx.db.run('UPDATE sign_in_links SET expires_at_ms = 0 WHERE token_hash = ?', hashSecret(expired));
  await page.goto(signInUrl(server.url, expired));
  expect(await text('main')).toContain('expired');
  await expectAccessible('sign-in-refused');

  // Sign out: the settings ask for a sign-in again.
  await page.goto(`${server.url}/settings/keys`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.goto(`${server.url}/settings/keys`);
  expect(await text('main')).toContain('You are not signed in');

  expect(dialogs).toEqual([]); // no hostile text ever ran as script
}, 60_000);

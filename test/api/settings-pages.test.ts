/**
 * The settings pages over HTTP, as a browser without JavaScript uses them (issue 11 §1, §2, §4): who may
 * open them, sign-in links (once, short-lived), the session cookie, CSRF on every form, the security headers,
 * and hostile text from receivers, visitors and key names rendered only escaped. The real-browser flow is
 * test/e2e/settings-browser.test.ts.
 */
import { SCOPE_USES } from '../../catalog/scopes';
import * as apiKeys from '../../partner-api/domain/api-keys';
import { createApiKey } from '../../partner-api/domain/api-keys';
import { createSignInLink, SESSION_TTL_MS, SIGN_IN_LINK_TTL_MS } from '../../partner-api/domain/sessions';
import { createAgent, setAgentRole } from '../../partner-api/domain/workspaces';
import { maskedTarget } from '../../partner-api/http/settings-pages';
import { api, type ApiServer, startApiServer, waitUntil } from '../support/api-server';
import { testClock } from '../support/helpers';
import { type Receiver, reply, startReceiver } from '../support/receiver';
import { fetchPage, formBody, sessionCookieOf, signInAs } from '../support/settings-session';

const clock = testClock();
let server: ApiServer;
let rx: Receiver;
beforeAll(async () => {
  server = await startApiServer({ clock });
  rx = await startReceiver();
});
afterAll(async () => {
  await rx.close();
  await server.close();
});

async function workspaceWithOwner(name = 'Acme Support') {
  const workspace = await server.createWorkspace({ plan: 'pro', name });
  const owner = await createAgent(server.ctx, workspace.id, {
    name: 'Olive Owner',
    email: 'olive@example.com',
    role: 'owner',
  });
  return { workspace, owner };
}

const PAGES = ['/settings/keys', '/settings/zaps', '/settings/deliveries', '/settings/workspace'];

describe('the landing page and the security headers', () => {
  it('GET / is a page that points to sign-in, the docs and the OpenAPI document', async () => {
    const page = await fetchPage(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.html).toContain('href="/openapi.json"');
    expect(page.html).toContain('sign-in-link');
    expect(page.html).toContain('docs/settings.md');
  });

  it('every page refuses framing and inline script, and is not cached', async () => {
    const { owner } = await workspaceWithOwner();
    const browser = await signInAs(server, owner.id);
    for (const path of ['/', ...PAGES]) {
      const page = path === '/' ? await fetchPage(`${server.url}/`) : await browser.get(path);
      const csp = page.headers.get('content-security-policy') ?? '';
      expect({ path, status: page.status }).toEqual({ path, status: 200 });
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).toContain("frame-ancestors 'none'");
      expect(page.headers.get('x-frame-options')).toBe('DENY');
      expect(page.headers.get('cache-control')).toBe('no-store');
      expect(page.headers.get('referrer-policy')).toBe('no-referrer');
      // The only script is the external copy button.
      for (const tag of page.html.match(/<script[^>]*>/g) ?? [])
        expect(tag).toBe('<script src="/settings/assets/copy.js">');
    }
  });
});

describe('sign-in links and sessions', () => {
  it('a link signs in once; the cookie is HttpOnly, SameSite=Strict, expires, and sign-out ends it', async () => {
    const { owner } = await workspaceWithOwner();
    const { token } = await createSignInLink(server.ctx, owner.id);
    const confirm = await fetchPage(`${server.url}/sign-in?token=${token}`);
    expect(confirm.status).toBe(200);
    expect(confirm.html).toContain('Olive Owner');
    const first = await fetchPage(`${server.url}/sign-in`, { method: 'POST', body: formBody({ token }) });
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe('/settings/keys');
    const setCookie = first.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(new RegExp(`Max-Age=${SESSION_TTL_MS / 1000}`));
    expect(setCookie).not.toMatch(/Secure/); // plain http here; see the https test
    const cookie = sessionCookieOf(first);
    expect((await fetchPage(`${server.url}/settings/keys`, { headers: { cookie } })).status).toBe(200);

    // Used: refused on the confirmation page and on the form, and no second session is made.
    const again = await fetchPage(`${server.url}/sign-in`, { method: 'POST', body: formBody({ token }) });
    expect(again.status).toBe(400);
    expect(again.html).toContain('already used');
    expect(again.headers.get('set-cookie')).toBeNull();
    expect((await fetchPage(`${server.url}/sign-in?token=${token}`)).status).toBe(400);

    const csrf = /name="_csrf" value="([^"]+)"/.exec(
      (await fetchPage(`${server.url}/settings/keys`, { headers: { cookie } })).html,
    )?.[1];
    const out = await fetchPage(`${server.url}/sign-out`, {
      method: 'POST',
      headers: { cookie },
      body: formBody({ _csrf: csrf ?? '' }),
    });
    expect(out.status).toBe(303);
    expect((await fetchPage(`${server.url}/settings/keys`, { headers: { cookie } })).status).toBe(401);
  });

  it('a link used by many requests at once signs in exactly one of them', async () => {
    const { owner } = await workspaceWithOwner();
    const { token } = await createSignInLink(server.ctx, owner.id);
    const answers = await Promise.all(
      Array.from({ length: 12 }, () =>
        fetchPage(`${server.url}/sign-in`, { method: 'POST', body: formBody({ token }) }),
      ),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([303, ...Array<number>(11).fill(400)]);
    expect(answers.filter((a) => sessionCookieOf(a) !== '')).toHaveLength(1);
  });

  it('a form posted from another site is refused, sign-in included (Fetch Metadata)', async () => {
    const { owner } = await workspaceWithOwner();
    const { token } = await createSignInLink(server.ctx, owner.id);
    const crossSite = await fetchPage(`${server.url}/sign-in`, {
      method: 'POST',
      headers: { 'sec-fetch-site': 'cross-site' },
      body: formBody({ token }),
    });
    expect(crossSite.status).toBe(403);
    const sameOrigin = await fetchPage(`${server.url}/sign-in`, {
      method: 'POST',
      headers: { 'sec-fetch-site': 'same-origin' },
      body: formBody({ token }),
    });
    expect(sameOrigin.status).toBe(303); // the refused one did not use the link
  });

  it('an expired link, an unknown one and a made-up one are refused; the session ends after its lifetime', async () => {
    const { owner } = await workspaceWithOwner();
    const { token } = await createSignInLink(server.ctx, owner.id);
    clock.advance(SIGN_IN_LINK_TTL_MS + 1);
    const expired = await fetchPage(`${server.url}/sign-in`, { method: 'POST', body: formBody({ token }) });
    expect(expired.status).toBe(400);
    expect(expired.html).toContain('expired');
    const twice = new URLSearchParams([
      ['token', token],
      ['token', token],
    ]);
    expect((await fetchPage(`${server.url}/sign-in?${twice.toString()}`)).status).toBe(400);
    expect((await fetchPage(`${server.url}/sign-in`, { method: 'POST', body: twice })).status).toBe(400);
    for (const bad of ['', 'sgn_tok_nope', token.slice(0, -1), '<script>alert(1)</script>']) {
      const page = await fetchPage(`${server.url}/sign-in`, { method: 'POST', body: formBody({ token: bad }) });
      expect({ bad, status: page.status, cookie: page.headers.get('set-cookie') }).toEqual({
        bad,
        status: 400,
        cookie: null,
      });
    }
    const browser = await signInAs(server, owner.id);
    clock.advance(SESSION_TTL_MS - 1000);
    expect((await browser.get('/settings/keys')).status).toBe(200);
    clock.advance(1000);
    expect((await browser.get('/settings/keys')).status).toBe(401);
  });

  it('is Secure when served over https (behind the trusted proxy)', async () => {
    const behindProxy = await startApiServer({ config: { trustProxyHops: 1 } });
    try {
      const ws = await behindProxy.createWorkspace();
      const owner = await createAgent(behindProxy.ctx, ws.id, { name: 'O', email: 'o@example.com', role: 'owner' });
      const { token } = await createSignInLink(behindProxy.ctx, owner.id);
      const page = await fetchPage(`${behindProxy.url}/sign-in`, {
        method: 'POST',
        headers: { 'x-forwarded-proto': 'https' },
        body: formBody({ token }),
      });
      expect(page.headers.get('set-cookie')).toMatch(/; Secure/);
    } finally {
      await behindProxy.close();
    }
  });

  it('only owners and admins get in; a role taken away ends access at once', async () => {
    const { workspace } = await workspaceWithOwner();
    const agent = await createAgent(server.ctx, workspace.id, { name: 'Ann Agent', email: 'ann@example.com' });
    const { token } = await createSignInLink(server.ctx, agent.id);
    const refused = await fetchPage(`${server.url}/sign-in`, { method: 'POST', body: formBody({ token }) });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('set-cookie')).toBeNull();
    await setAgentRole(server.ctx, agent.id, 'admin');
    const browser = await signInAs(server, agent.id);
    expect((await browser.get('/settings/keys')).status).toBe(200);
    await setAgentRole(server.ctx, agent.id, 'agent');
    expect((await browser.get('/settings/keys')).status).toBe(403);
  });

  it('API keys and agent tokens do not open the pages, and a session does not open the API', async () => {
    const { workspace, owner } = await workspaceWithOwner();
    const key = await server.createKey(workspace.id);
    const agentToken = (await server.createAgent(workspace.id)).token;
    for (const credential of [key, agentToken]) {
      for (const path of PAGES) {
        const page = await fetchPage(`${server.url}${path}`, { headers: { authorization: `Bearer ${credential}` } });
        expect({ path, status: page.status }).toEqual({ path, status: 401 });
      }
    }
    const browser = await signInAs(server, owner.id);
    for (const path of ['/v1/me', '/v1/deliveries', '/v1/subscriptions']) {
      const res = await fetch(`${server.url}${path}`, { headers: { cookie: browser.cookie } });
      expect({
        path,
        status: res.status,
        code: ((await res.json()) as { error: { code: string } }).error.code,
      }).toEqual({
        path,
        status: 401,
        code: 'api_key_missing',
      });
    }
  });

  it("a session reaches its own workspace only: another's key, delivery and subscription are unknown", async () => {
    const mine = await workspaceWithOwner('Mine');
    const theirs = await workspaceWithOwner('Theirs');
    const theirKey = await createApiKey(server.ctx, {
      workspaceId: theirs.workspace.id,
      name: 'Their key',
      scopes: ['events:read'],
    });
    const theirZap = api(server.url, theirKey.key);
    const sub = (
      await theirZap.post('/v1/subscriptions', { event_type: 'lead.captured', target_url: `${rx.url}/theirs` })
    ).body as { id: string };
    const browser = await signInAs(server, mine.owner.id);
    expect((await browser.get(`/settings/keys/${theirKey.id}/revoke`)).status).toBe(404);
    expect((await browser.post(`/settings/keys/${theirKey.id}/revoke`)).status).toBe(404);
    expect((await browser.post(`/settings/zaps/${sub.id}/replay`, { since: '2026-01-01T00:00' })).status).toBe(404);
    expect((await browser.get('/settings/keys')).html).not.toContain('Their key');
    expect((await browser.get('/settings/zaps')).html).not.toContain(sub.id);
    expect((await theirZap.get('/v1/me')).status).toBe(200); // not revoked
  });
});

describe('forms', () => {
  it('every state-changing form refuses a missing or foreign CSRF token and changes nothing', async () => {
    const { workspace, owner } = await workspaceWithOwner();
    const other = await workspaceWithOwner('Other');
    const mine = await signInAs(server, owner.id);
    const foreign = await signInAs(server, other.owner.id);
    const key = await createApiKey(server.ctx, { workspaceId: workspace.id, name: 'Keep me', scopes: ['events:read'] });
    const count = async () =>
      await server.ctx.db.value('SELECT COUNT(*) FROM api_keys WHERE workspace_id = ?', workspace.id);
    const before = await count();
    const forms: [string, Record<string, string | string[]>][] = [
      ['/settings/keys', { name: 'Sneaky', scopes: ['events:read'] }],
      [`/settings/keys/${key.id}/revoke`, {}],
      ['/settings/deliveries/dlv_000000000000000000000000/replay', {}],
      ['/settings/zaps/sub_000000000000000000000000/replay', { since: '2026-01-01T00:00' }],
      ['/sign-out', {}],
    ];
    for (const [path, fields] of forms) {
      for (const csrf of [null, '', foreign.csrf, `${mine.csrf}x`]) {
        const page = await mine.post(path, fields, { csrf });
        expect({ path, csrf, status: page.status }).toEqual({ path, csrf, status: 403 });
      }
    }
    expect(await count()).toBe(before);
    expect(await server.ctx.db.value('SELECT revoked_at FROM api_keys WHERE id = ?', key.id)).toBeNull();
    expect((await mine.get('/settings/keys')).status).toBe(200); // still signed in
    // A form of another type is refused unread.
    const json = await fetchPage(`${server.url}/settings/keys`, {
      method: 'POST',
      headers: { cookie: mine.cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ _csrf: mine.csrf, name: 'x', scopes: ['events:read'] }),
    });
    expect(json.status).toBe(415);
    expect(await count()).toBe(before);
  });

  it('creates a key with the chosen scopes and shows it once; names the problem when the form is incomplete', async () => {
    const { workspace, owner } = await workspaceWithOwner();
    const browser = await signInAs(server, owner.id);
    const keysPage = await browser.get('/settings/keys');
    // The same words the Zapier app's connection wizard shows (catalog/scopes.ts), each scope's own.
    for (const [scope, uses] of Object.entries(SCOPE_USES))
      expect(keysPage.html).toContain(`<code>${scope}</code> · Needed for: ${uses}`);
    const created = await browser.post('/settings/keys', { name: 'Zapier', scopes: ['events:read', 'tickets:write'] });
    expect(created.status).toBe(201);
    const plaintext = /value="(wsk_live_\w+)"/.exec(created.html)?.[1];
    expect(plaintext).toBeDefined();
    expect(created.html).toContain('you will only see it once');
    const me = await api(server.url, plaintext).get('/v1/me');
    expect(me.body).toMatchObject({ id: workspace.id, key: { scopes: ['events:read', 'tickets:write'] } });
    expect((await browser.get('/settings/keys')).html).not.toContain(plaintext!);

    const nothing = await browser.post('/settings/keys', {});
    expect(nothing.status).toBe(422);
    expect(nothing.html).toContain('Give the key a name.');
    const noScopes = await browser.post('/settings/keys', { name: 'None' });
    expect(noScopes.status).toBe(422);
    expect(noScopes.html).toContain('Choose at least one scope.');
    const noName = await browser.post('/settings/keys', { name: '  ', scopes: 'chat:write' });
    expect(noName.status).toBe(422);
    expect(noName.html).toContain('aria-invalid="true"');
    const badScope = await browser.post('/settings/keys', { name: 'X', scopes: 'admin:all' });
    expect(badScope.status).toBe(422);
  });

  it('revoking says how many Zaps disconnect, then disconnects them', async () => {
    const { workspace, owner } = await workspaceWithOwner();
    const key = await createApiKey(server.ctx, { workspaceId: workspace.id, name: 'Busy', scopes: ['events:read'] });
    const zap = api(server.url, key.key);
    for (const n of [1, 2])
      await zap.post('/v1/subscriptions', { event_type: 'lead.captured', target_url: `${rx.url}/z${n}` });
    const browser = await signInAs(server, owner.id);
    expect((await browser.get('/settings/keys')).html).toMatch(/<td>2<\/td>/);
    const confirm = await browser.get(`/settings/keys/${key.id}/revoke`);
    expect(confirm.html).toContain('2 Zaps will disconnect');
    const idle = await createApiKey(server.ctx, { workspaceId: workspace.id, name: 'Idle', scopes: ['events:read'] });
    expect((await browser.get(`/settings/keys/${idle.id}/revoke`)).html).toContain('No Zap uses it now.');
    const done = await browser.post(`/settings/keys/${key.id}/revoke`);
    expect(done.status).toBe(303);
    const active = await server.ctx.db.value(
      'SELECT COUNT(*) FROM subscriptions WHERE api_key_id = ? AND active = 1',
      key.id,
    );
    expect(active).toBe(0);
    expect((await zap.get('/v1/me')).body.error.code).toBe('api_key_revoked');
    const zaps = await browser.get('/settings/zaps');
    expect(zaps.html).toContain('Its API key was revoked');
  });
});

describe('the delivery log and replay from the pages', () => {
  it('filters and pages the log, and replays a Zap’s failed deliveries since a time', async () => {
    const { workspace, owner } = await workspaceWithOwner();
    const key = await server.createKey(workspace.id);
    const zap = api(server.url, key);
    const sub = (await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: `${rx.url}/bulk` }))
      .body as { id: string };
    for (let i = 0; i < 26; i++) await zap.post('/v1/tickets', { subject: `Page ${i}` });
    await server.fanOut(); // no worker here: the deliveries are as a worker that failed them all would leave them
    await server.ctx.db.run(
      `UPDATE deliveries SET status = 'failed', finished_at = created_at WHERE subscription_id = ?`,
      sub.id,
    );
    const browser = await signInAs(server, owner.id);
    const first = await browser.get(
      `/settings/deliveries?status=failed&subscription=${sub.id}&event_type=ticket.created`,
    );
    expect(first.html.match(/<tr>\s*<td><a href="\/settings\/deliveries\/dlv_/g)).toHaveLength(25);
    const next = /href="(\/settings\/deliveries\?[^"]*cursor=[^"]+)"/.exec(first.html)?.[1]?.replace(/&amp;/g, '&');
    expect(next).toContain(`subscription=${sub.id}`);
    const second = await browser.get(next!);
    expect(second.html.match(/<tr>\s*<td><a href="\/settings\/deliveries\/dlv_/g)).toHaveLength(1);
    // The filter form's "Any" sends blank values: no filter.
    const any = await browser.get('/settings/deliveries?status=&subscription=&event_type=');
    expect(any.html.match(/<tr>\s*<td><a href="\/settings\/deliveries\/dlv_/g)).toHaveLength(25);
    expect((await browser.get('/settings/deliveries?status=lost')).status).toBe(422);

    const replayed = await browser.post(`/settings/zaps/${sub.id}/replay`, { since: '2026-01-01T00:00' });
    expect(replayed.status).toBe(303);
    const notice = await browser.get(replayed.headers.get('location')!);
    expect(notice.html).toContain(
      'Replayed 25 failed deliveries: 25 succeeded, 0 failed. More are left: replay again.',
    );
    const rest = await browser.post(`/settings/zaps/${sub.id}/replay`, { since: '2026-01-01T00:00:00Z' });
    expect((await browser.get(rest.headers.get('location')!)).html).toContain(
      'Replayed 1 failed delivery: 1 succeeded, 0 failed.',
    );
    const none = await browser.post(`/settings/zaps/${sub.id}/replay`, { since: '2026-01-01T00:00' });
    expect((await browser.get(none.headers.get('location')!)).html).toContain(
      'No failed deliveries of this Zap since then.',
    );
    expect((await browser.post(`/settings/zaps/${sub.id}/replay`, { since: 'last week' })).status).toBe(422);
    expect(rx.requests.filter((r) => r.path === '/hook/bulk')).toHaveLength(26);
  });
});

describe('the delivery log filter', () => {
  it('keeps a Zap filter chosen from Connected Zaps even when the Zap is older than the 100 newest', async () => {
    const { workspace, owner } = await workspaceWithOwner();
    const zap = api(server.url, await server.createKey(workspace.id));
    const old = (await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: `${rx.url}/old` }))
      .body as { id: string };
    for (let i = 0; i < 100; i++) {
      clock.advance(1);
      const sub = await zap.post('/v1/subscriptions', { event_type: 'lead.captured', target_url: `${rx.url}/n${i}` });
      expect(sub.status).toBe(201);
      await zap.delete(`/v1/subscriptions/${(sub.body as { id: string }).id}`); // under the active cap
    }
    const browser = await signInAs(server, owner.id);
    const page = await browser.get(`/settings/deliveries?subscription=${old.id}`);
    expect(page.status).toBe(200);
    // The form shows the filter the list applies, so changing another filter keeps it.
    expect(page.html).toMatch(new RegExp(`<option value="${old.id}" selected>`));
    // Another workspace's subscription id is not offered, only filtered on (nothing matches).
    const other = await workspaceWithOwner('Other');
    const stranger = await (await signInAs(server, other.owner.id)).get(`/settings/deliveries?subscription=${old.id}`);
    expect(stranger.html).not.toContain(`value="${old.id}"`);
    expect(stranger.html).toContain('No deliveries match.');
  });
});

describe('the bulk replay form and its notice', () => {
  it('refuses a day or time that is not in the calendar instead of rolling it over to another day', async () => {
    const { workspace, owner } = await workspaceWithOwner();
    const zap = api(server.url, await server.createKey(workspace.id));
    const sub = (await zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: `${rx.url}/cal` }))
      .body as { id: string };
    const browser = await signInAs(server, owner.id);
    // new Date() reads each of these as another moment (2026-02-30 is 2026-03-02): each is refused, naming it.
    for (const since of [
      '2026-02-30T09:00',
      '2026-02-29T09:00',
      '2026-04-31T00:00',
      '2026-13-01T00:00',
      '2026-01-15T24:00',
      '2026-01-15T09:60',
      '2026-01-15T09:00:60Z',
      '2026-01-15T09:00+24:00',
    ]) {
      const refused = await browser.post(`/settings/zaps/${sub.id}/replay`, { since });
      expect({ since, status: refused.status }).toEqual({ since, status: 422 });
      expect(refused.html).toContain('since');
    }
    for (const since of ['2028-02-29T09:00', '2026-12-31T23:59:59.999Z', '2026-01-15T09:00-05:30']) {
      const accepted = await browser.post(`/settings/zaps/${sub.id}/replay`, { since });
      expect({ since, status: accepted.status }).toEqual({ since, status: 303 });
    }
  });

  it('shows only a summary the server made: text from a link is not shown as a notice', async () => {
    const { owner } = await workspaceWithOwner();
    const browser = await signInAs(server, owner.id);
    const forged = 'Your session expired. Sign in again at https://illumichat-login.example';
    for (const query of [
      `replayed=${encodeURIComponent(forged)}`,
      `replayed=3&succeeded=${encodeURIComponent(forged)}&failed=0`,
      `replayed=1&succeeded=1&failed=0&more=${encodeURIComponent(forged)}`,
    ]) {
      const page = await browser.get(`/settings/zaps?${query}`);
      expect(page.status).toBe(200);
      expect(page.html).not.toContain('illumichat-login.example');
    }
    // Counts that do not add up, or are not counts, are no summary at all.
    for (const query of ['replayed=2&succeeded=5&failed=0', 'replayed=-1&succeeded=0&failed=0', 'replayed=1e3']) {
      expect((await browser.get(`/settings/zaps?${query}`)).html).not.toContain('class="notice"');
    }
  });
});

describe('odd requests get pages, never a stack trace', () => {
  it('an unknown page or asset, a bad cursor, an oversized form', async () => {
    const { owner } = await workspaceWithOwner();
    const browser = await signInAs(server, owner.id);
    const script = await browser.get('/settings/assets/copy.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect((await browser.get('/settings/assets/nope.js')).status).toBe(404);
    expect((await browser.get('/settings/nope')).status).toBe(404);
    expect((await browser.get('/settings')).headers.get('location')).toBe('/settings/keys');
    expect((await browser.get('/settings/zaps?cursor=bogus')).status).toBe(422);
    expect((await browser.get('/settings/deliveries/dlv_unknown')).status).toBe(404);
    const huge = await browser.post('/settings/keys', { name: 'x'.repeat(20_000), scopes: 'events:read' });
    expect(huge.status).toBe(400);
    expect(huge.html).toContain('could not be read');
  });

  it('a storage fault is a 503 page and a bug a bare 500 page, logged without a credential', async () => {
    const { owner } = await workspaceWithOwner();
    const browser = await signInAs(server, owner.id);
    const spy = jest.spyOn(apiKeys, 'listApiKeys');
    try {
      spy.mockImplementationOnce(() => {
        throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      });
      const full = await browser.get('/settings/keys');
      expect(full.status).toBe(503);
      spy.mockImplementationOnce(() => {
        throw new Error('boom wsk_live_secretsecretsecret');
      });
      const bug = await browser.get('/settings/keys');
      expect(bug.status).toBe(500);
      expect(bug.html).not.toContain('boom');
      const line = server.logs.find((l) => l.message === 'unhandled settings page error');
      expect(JSON.stringify(line)).toContain('boom');
      expect(JSON.stringify(line)).not.toContain('secretsecret');
      spy.mockImplementationOnce(() => {
        throw 'not even an Error'; // eslint-disable-line @typescript-eslint/only-throw-error
      });
      expect((await browser.get('/settings/keys')).status).toBe(500);
    } finally {
      spy.mockRestore();
    }
  });

  it('masks a hook URL to its scheme and host', () => {
    expect(maskedTarget('https://hooks.zapier.com/hooks/standard/123/abc/')).toBe('https://hooks.zapier.com/…');
    expect(maskedTarget('not a url')).toBe('(not a valid URL)');
  });
});

describe('hostile text is shown, escaped, never run', () => {
  const SCRIPT = '<script>alert(1)</script>';
  const ATTRIBUTE = `"'><img src=x onerror=alert(2)>`;

  it('in a receiver response, a contact name, a key name and a hook URL, on every page', async () => {
    const delivering = await startApiServer({ delivery: true });
    const hostile = await startReceiver();
    try {
      const { workspace, key } = await delivering.setup();
      const owner = await createAgent(delivering.ctx, workspace.id, {
        name: `Owner ${ATTRIBUTE}`,
        email: 'o@example.com',
        role: 'owner',
      });
      await createApiKey(delivering.ctx, {
        workspaceId: workspace.id,
        name: `Key ${SCRIPT}${ATTRIBUTE}`,
        scopes: ['events:read'],
      });
      hostile.setDefault(reply(500, { body: `Oops ${SCRIPT} ${ATTRIBUTE} ${'x'.repeat(200)}` }));
      const zap = api(delivering.url, key);
      await zap.post('/v1/subscriptions', {
        event_type: 'lead.captured',
        target_url: `${hostile.url}/${encodeURIComponent(ATTRIBUTE)}`,
      });
      await zap.post('/v1/contacts', { email: 'mallory@example.com', name: `Mallory ${SCRIPT}${ATTRIBUTE}` });
      await hostile.waitFor(1);
      const deliveryId = await waitUntil(
        async () => await delivering.ctx.db.value<string>('SELECT delivery_id FROM delivery_attempts'),
        10_000,
        'the failed attempt',
      );
      const browser = await signInAs(delivering, owner.id);
      const pages = [...PAGES, `/settings/deliveries/${deliveryId}`, '/settings/deliveries?status=%3Cscript%3E'];
      let shownEscaped = 0;
      for (const path of pages) {
        const { html } = await browser.get(path);
        expect({ path, raw: html.includes(SCRIPT) || html.includes('<img') || html.includes(`"'>`) }).toEqual({
          path,
          raw: false,
        });
        if (html.includes('&lt;script&gt;alert(1)&lt;/script&gt;')) shownEscaped++;
      }
      const detail = (await browser.get(`/settings/deliveries/${deliveryId}`)).html;
      expect(detail).toContain(
        'Oops &lt;script&gt;alert(1)&lt;/script&gt; &quot;&#39;&gt;&lt;img src=x onerror=alert(2)&gt;',
      );
      expect(detail).toContain('Mallory &lt;script&gt;');
      expect(shownEscaped).toBeGreaterThanOrEqual(3); // keys, the log, the delivery: the text is there, as text
    } finally {
      await hostile.close();
      await delivering.close();
    }
  });
});

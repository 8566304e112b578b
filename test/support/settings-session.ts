/**
 * The settings pages as a browser without JavaScript uses them, for tests: a sign-in link opened and
 * confirmed, then pages fetched with the session cookie and forms posted with the page's CSRF token.
 *
 *   const owner = createAgent(server.ctx, ws.id, { name: 'Olive', email: 'o@example.com', role: 'owner' });
 *   const browser = await signInAs(server, owner.id);   // { cookie, csrf, get(path), post(path, fields) }
 *   const page = await browser.get('/settings/keys');   // { status, html, headers }
 *   await browser.post('/settings/keys', { name: 'Zapier', scopes: ['events:read'] });
 */
import { createSignInLink } from '../../partner-api/domain/sessions';
import type { ApiServer } from './api-server';

export interface Page {
  status: number;
  html: string;
  headers: Headers;
}

export interface SettingsBrowser {
  cookie: string;
  csrf: string;
  get(path: string, headers?: Record<string, string>): Promise<Page>;
  /** Posts a form; `_csrf` is added unless given (pass `_csrf: ''` style overrides to test refusals). */
  post(path: string, fields?: Record<string, string | string[]>, opts?: { csrf?: string | null }): Promise<Page>;
}

export async function fetchPage(url: string, init: RequestInit = {}): Promise<Page> {
  const res = await fetch(url, { redirect: 'manual', ...init });
  return { status: res.status, html: await res.text(), headers: res.headers };
}

export function formBody(fields: Record<string, string | string[]>): URLSearchParams {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) for (const v of [value].flat()) body.append(name, v);
  return body;
}

/** A session cookie ("name=value") from a sign-in answer's Set-Cookie, or '' when there is none. */
export function sessionCookieOf(page: Page): string {
  return (page.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

/** Opens a fresh sign-in link for the agent, confirms it, and returns a client holding the session. */
export async function signInAs(server: ApiServer, agentId: string): Promise<SettingsBrowser> {
  const { token } = await createSignInLink(server.ctx, agentId);
  const confirmed = await fetchPage(`${server.url}/sign-in`, { method: 'POST', body: formBody({ token }) });
  const cookie = sessionCookieOf(confirmed);
  if (confirmed.status !== 303 || !cookie) throw new Error(`sign-in failed: ${confirmed.status} ${confirmed.html}`);
  const get = (path: string, headers: Record<string, string> = {}) =>
    fetchPage(`${server.url}${path}`, { headers: { cookie, ...headers } });
  const keys = await get('/settings/keys');
  const csrf = /name="_csrf" value="([^"]+)"/.exec(keys.html)?.[1];
  if (!csrf) throw new Error('no CSRF token on the API Keys page');
  return {
    cookie,
    csrf,
    get,
    post: (path, fields = {}, opts = {}) => {
      const token = opts.csrf === undefined ? csrf : opts.csrf;
      return fetchPage(`${server.url}${path}`, {
        method: 'POST',
        headers: { cookie },
        body: formBody(token === null ? fields : { _csrf: token, ...fields }),
      });
    },
  };
}

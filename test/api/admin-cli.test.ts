/**
 * The admin command line, run in-process against a real database (the run's engine: test-store.ts) that a
 * real API server reads at the same time (SQLite's WAL allows both), and through `./dev admin` and `npm run admin` as an operator would.
 * Every error has one format (cli/errors.ts): a first line `error: …` on stderr, nothing on stdout, and
 * exit 1 refused, 2 wrong usage, 3 could not run.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { runAdmin } from '../../partner-api/cli/admin';
import { api, type ApiServer, startApiServer } from '../support/api-server';
import { at } from '../support/items';
import { PG_SETUP_TIMEOUT_MS } from '../support/pg';
import { fetchPage, formBody, type SettingsBrowser, signInAs } from '../support/settings-session';
import { databaseEnv, newTestDatabase } from '../support/test-store';

let dir: string;
let dbPath: string;
let server: ApiServer;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'illumichat-admin-'));
  dbPath = await newTestDatabase();
  server = await startApiServer({ dbPath });
}, PG_SETUP_TIMEOUT_MS);
afterAll(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function admin(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAdmin(argv, {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    env: databaseEnv(dbPath),
  });
  return { code, stdout: out, stderr: err.join('\n') };
}

/** The arguments of `admin agent create`: in workspace `id`, named `name`, with `email`, and `role` when given. */
function agentCreate(id: string, name: string, email: string, role?: string): string[] {
  return ['agent', 'create', '--workspace', id, '--name', name, '--email', email, ...(role ? ['--role', role] : [])];
}

async function workspace(plan = 'pro'): Promise<string> {
  const res = await admin('workspace', 'create', '--name', 'Acme Support', '--plan', plan);
  expect(res.code).toBe(0);
  return at(res.stdout, 0);
}

describe('workspaces', () => {
  it('create prints the id alone; set-plan changes what the API allows', async () => {
    const res = await admin('workspace', 'create', '--name', 'Acme Support', '--plan', 'starter');
    expect(res.code).toBe(0);
    expect(res.stdout).toEqual([expect.stringMatching(/^ws_[0-9a-f]{24}$/)]);
    expect(res.stderr).toContain('Acme Support');
    const id = at(res.stdout, 0);
    const key = at(
      (await admin('key', 'create', '--workspace', id, '--scopes', 'events:read', '--name', 'Zapier')).stdout,
      0,
    );
    expect((await api(server.url, key).get('/v1/me')).body.error.code).toBe('plan_upgrade_required');
    expect((await admin('workspace', 'set-plan', id, '--plan', 'business')).code).toBe(0);
    expect((await api(server.url, key).get('/v1/me')).body).toMatchObject({
      id,
      name: 'Acme Support',
      plan: 'business',
    });
    expect((await admin('workspace', 'set-plan', '--workspace', id, '--plan', 'pro')).code).toBe(0);
  });

  it('list shows them', async () => {
    const id = await workspace();
    const res = await admin('workspace', 'list');
    expect(res.stdout[0]).toMatch(/^ID\s+PLAN\s+CREATED\s+NAME$/);
    expect(res.stdout.some((l) => l.startsWith(id) && l.includes('pro'))).toBe(true);
  });
});

describe('keys', () => {
  it('create prints the key alone on its own line, and it works with exactly those scopes', async () => {
    const id = await workspace();
    const res = await admin(
      'key',
      'create',
      '--workspace',
      id,
      '--scopes',
      'events:read,tickets:write',
      '--name',
      'Zapier',
    );
    expect(res.code).toBe(0);
    expect(res.stdout).toHaveLength(1);
    expect(res.stdout[0]).toMatch(/^wsk_live_[0-9A-Za-z]{38}$/);
    expect(res.stderr).not.toContain(at(res.stdout, 0).slice(13));
    const client = api(server.url, res.stdout[0]);
    expect((await client.get('/v1/me')).body.key.scopes).toEqual(['events:read', 'tickets:write']);
    expect((await client.get('/v1/contacts?email=a@b.co')).body.error.requiredScope).toBe('contacts:write');
  });

  it('list shows prefix, scopes, last used and revoked, and never the key', async () => {
    const id = await workspace();
    const key = at(
      (await admin('key', 'create', '--workspace', id, '--scopes', 'events:read', '--name', 'Zapier prod')).stdout,
      0,
    );
    const before = await admin('key', 'list', '--workspace', id);
    expect(before.stdout[0]).toMatch(/^ID\s+PREFIX\s+SCOPES\s+CREATED\s+LAST USED\s+REVOKED\s+NAME$/);
    expect(before.stdout[1]).toContain(`${key.slice(0, 13)}…`);
    expect(before.stdout[1]).toMatch(/events:read .* never .* - .*Zapier prod$/);
    await api(server.url, key).get('/v1/me');
    const after = await admin('key', 'list', '--workspace', id);
    expect(after.stdout[1]).not.toContain('never');
    expect(JSON.stringify(after)).not.toContain(key.slice(13));
  });

  it('revoke locks the key out and ends its subscriptions; a repeat says so', async () => {
    const id = await workspace();
    const key = (await admin('key', 'create', '--workspace', id, '--scopes', 'events:read', '--name', 'Zapier'))
      .stdout[0];
    const keyId = (await api(server.url, key).get('/v1/me')).body.key.id;
    const sub = (
      await api(server.url, key).post('/v1/subscriptions', {
        event_type: 'lead.captured',
        target_url: 'http://127.0.0.1:9/x',
      })
    ).body;
    const res = await admin('key', 'revoke', keyId);
    expect(res).toMatchObject({ code: 0, stdout: [] });
    expect(res.stderr).toContain('1 subscription(s)');
    expect((await api(server.url, key).get('/v1/me')).body.error.code).toBe('api_key_revoked');
    expect(await server.ctx.db.value('SELECT deactivated_reason FROM subscriptions WHERE id = ?', sub.id)).toBe(
      'key_revoked',
    );
    expect(await admin('key', 'revoke', keyId)).toMatchObject({
      code: 0,
      stderr: expect.stringContaining('already revoked'),
    });
    expect((await admin('key', 'list', '--workspace', id)).stdout[1]).toMatch(/\d{4}-\d\d-\d\dT.*Zapier$/);
  });
});

describe('assistants and agents', () => {
  it('create an assistant (id on stdout) and an agent (token on stdout) that the API accepts', async () => {
    const id = await workspace();
    const assistant = await admin('assistant', 'create', '--workspace', id, '--name', 'Sales Bot');
    expect(assistant.stdout).toEqual([expect.stringMatching(/^ast_/)]);
    const agent = await admin(...agentCreate(id, 'Sam', 'sam@acme.test'));
    expect(agent.stdout).toEqual([expect.stringMatching(/^agt_tok_/)]);
    const res = await api(server.url, agent.stdout[0]).post('/v1/agent/tickets', { subject: 'From the CLI agent' });
    expect(res.status).toBe(201);
  });
});

describe('agent emails', () => {
  it('takes every address the API takes, and refuses what it refuses, naming --email (exit 2, nothing created)', async () => {
    const id = await workspace();
    for (const valid of ['o&leary@acme.test', 'a&b@example.com', 'x@münchen.de', '"sam doe"@acme.test']) {
      const res = await admin(...agentCreate(id, 'Sam', valid));
      expect({ valid, code: res.code }).toEqual({ valid, code: 0 });
    }
    for (const invalid of ['sam', 'sam@', 'Sam <sam@acme.test>', 'sam@localhost']) {
      const res = await admin(...agentCreate(id, 'Sam', invalid));
      expect({ invalid, code: res.code, stdout: res.stdout }).toEqual({ invalid, code: 2, stdout: [] });
      expect(res.stderr).toMatch(/^error: --email .* is not an email address\./);
    }
    expect((await admin('agent', 'list', '--workspace', id)).stdout).toHaveLength(1 + 4);
  });
});

describe('listing assistants and agents, revoking and rotating an agent token', () => {
  it('assistant list and agent list show the ids (for transfer and assistant_id), never a token', async () => {
    const id = await workspace();
    const assistant = (await admin('assistant', 'create', '--workspace', id, '--name', 'Sales Bot')).stdout[0];
    const token = at((await admin(...agentCreate(id, 'Sam Agent', 'sam@acme.test'))).stdout, 0);
    const assistants = await admin('assistant', 'list', '--workspace', id);
    expect(assistants.code).toBe(0);
    expect(assistants.stdout[0]).toMatch(/^ID\s+NAME$/);
    expect(assistants.stdout[1]).toMatch(new RegExp(`^${assistant}\\s+Sales Bot$`));
    const agents = await admin('agent', 'list', '--workspace', id);
    expect(agents.stdout[0]).toMatch(/^ID\s+CREATED\s+ROLE\s+TOKEN REVOKED\s+EMAIL\s+NAME$/);
    expect(agents.stdout[1]).toMatch(/^agt_[0-9a-f]{24}\s+\d{4}-.*\s+agent\s+-\s+sam@acme\.test\s+Sam Agent$/);
    expect(JSON.stringify([assistants, agents])).not.toContain(token.slice(8));
    expect((await admin('assistant', 'list', '--workspace', await workspace())).stderr).toBe('(none)');
  });

  it('agent revoke refuses the token at once (401 agent_token_revoked); rotate prints a new one once and the old one stops working', async () => {
    const id = await workspace();
    const token = at((await admin(...agentCreate(id, 'Rita', 'rita@acme.test'))).stdout, 0);
    const agentId = at(at((await admin('agent', 'list', '--workspace', id)).stdout, 1).split(/\s+/), 0);
    expect((await api(server.url, token).post('/v1/agent/tickets', { subject: 'before' })).status).toBe(201);

    const revoked = await admin('agent', 'revoke', agentId);
    expect(revoked).toMatchObject({ code: 0, stdout: [] });
    const refused = await api(server.url, token).post('/v1/agent/tickets', { subject: 'after revoke' });
    expect({ status: refused.status, code: refused.body.error.code }).toEqual({
      status: 401,
      code: 'agent_token_revoked',
    });
    expect((await admin('agent', 'list', '--workspace', id)).stdout[1]).toMatch(
      /\s\d{4}-\d\d-\d\dT\S+\s+rita@acme\.test/,
    );
    expect(await admin('agent', 'revoke', agentId)).toMatchObject({
      code: 0,
      stderr: expect.stringContaining('already revoked'),
    });

    const rotated = await admin('agent', 'rotate', agentId);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toEqual([expect.stringMatching(/^agt_tok_[0-9A-Za-z]{38}$/)]);
    expect(rotated.stderr).not.toContain(at(rotated.stdout, 0).slice(8));
    expect((await api(server.url, rotated.stdout[0]).post('/v1/agent/tickets', { subject: 'new token' })).status).toBe(
      201,
    );
    expect((await api(server.url, token).post('/v1/agent/tickets', { subject: 'old token' })).body.error.code).toBe(
      'agent_token_invalid',
    );
    const again = at((await admin('agent', 'rotate', agentId)).stdout, 0);
    expect(
      (await api(server.url, rotated.stdout[0]).post('/v1/agent/tickets', { subject: 'previous' })).body.error.code,
    ).toBe('agent_token_invalid');
    expect((await api(server.url, again).post('/v1/agent/tickets', { subject: 'latest' })).status).toBe(201);
  });

  it('a repeat key revoke repairs a subscription left active under the key', async () => {
    const id = await workspace();
    const key = (await admin('key', 'create', '--workspace', id, '--scopes', 'events:read', '--name', 'Zapier'))
      .stdout[0];
    const keyId = (await api(server.url, key).get('/v1/me')).body.key.id;
    expect((await admin('key', 'revoke', keyId)).code).toBe(0);
    await server.ctx.db.run(
      `INSERT INTO subscriptions (id, workspace_id, api_key_id, event_type, target_url, secret, created_at) VALUES (?, ?, ?, 'ticket.created', 'http://127.0.0.1:9/left', 'whsec_x', ?)`,
      `sub_left_${keyId}`,
      id,
      keyId,
      new Date().toISOString(),
    );
    const again = await admin('key', 'revoke', keyId);
    expect(again).toMatchObject({
      code: 0,
      stderr: expect.stringContaining('Ended 1 subscription(s) still active under it.'),
    });
    expect(await server.ctx.db.value('SELECT active FROM subscriptions WHERE id = ?', `sub_left_${keyId}`)).toBe(0);
  });
});

describe('roles and sign-in links to Settings', () => {
  it('sign-in-link prints a one-time link that opens Settings for an owner; set-role decides who may', async () => {
    const id = await workspace();
    await admin(...agentCreate(id, 'Olive', 'olive@acme.test', 'owner'));
    await admin(...agentCreate(id, 'Ann', 'ann@acme.test'));
    const [owner, agent] = (await admin('agent', 'list', '--workspace', id)).stdout
      .slice(1)
      .map((line) => at(line.split(/\s+/), 0));
    const link = await admin('agent', 'sign-in-link', owner!, '--base-url', `${server.url}/`);
    expect(link.code).toBe(0);
    expect(link.stdout).toEqual([
      expect.stringMatching(new RegExp(`^${server.url}/sign-in\\?token=sgn_tok_[\\w-]{43}$`)),
    ]);
    expect(link.stderr).toContain('Olive <olive@acme.test>');
    const signIn = (url: string) =>
      fetch(`${server.url}/sign-in`, {
        method: 'POST',
        redirect: 'manual',
        body: new URLSearchParams({ token: new URL(url).searchParams.get('token')! }),
      });
    expect((await signIn(at(link.stdout, 0))).status).toBe(303);
    expect((await signIn(at(link.stdout, 0))).status).toBe(400); // once

    const forAgent = await admin('agent', 'sign-in-link', agent!);
    expect(forAgent.stderr).toContain('only owners and admins may open Settings');
    expect(forAgent.stdout[0]).toMatch(/^http:\/\/127\.0\.0\.1:3000\/sign-in\?token=/); // the configured address
    expect((await signIn(at(forAgent.stdout, 0))).status).toBe(403);
    expect((await admin('agent', 'set-role', agent!, '--role', 'admin')).stderr).toContain('is now admin');
    expect((await signIn(at(forAgent.stdout, 0))).status).toBe(303); // the refused link was not used up

    expect(await admin('agent', 'set-role', agent!, '--role', 'boss')).toMatchObject({ code: 2 });
    expect(await admin('agent', 'set-role', 'agt_nope', '--role', 'admin')).toMatchObject({ code: 1 });
    expect(await admin('agent', 'sign-in-link', 'agt_nope')).toMatchObject({ code: 1, stdout: [] });
    expect(await admin(...agentCreate(id, 'X', 'x@acme.test', 'root'))).toMatchObject({ code: 2 });
  });
});

describe('a sign-in link for another address', () => {
  it('--base-url must be an http(s) origin, maybe with a path; anything else is wrong usage and makes no link', async () => {
    const id = await workspace();
    await admin(...agentCreate(id, 'Bo', 'bo@acme.test', 'owner'));
    const owner = at((await admin('agent', 'list', '--workspace', id)).stdout[1]!.split(/\s+/), 0);
    const links = async () => await server.ctx.db.value('SELECT COUNT(*) FROM sign_in_links');
    const before = await links();
    // A link that is not a web address (a missing scheme, a typo), or whose token would land in a fragment or
    // after another query, is one nobody can open: said at once, not printed as if it worked.
    for (const baseUrl of [
      'api.illumichat.example',
      'not a url',
      'javascript:alert(1)//',
      'ftp://api.illumichat.example',
      'https://api.illumichat.example/?next=1',
      'https://api.illumichat.example/#top',
      'https://api.illumichat.example/?',
      'https://user:secret@api.illumichat.example',
      '',
    ]) {
      const refused = await admin('agent', 'sign-in-link', owner, '--base-url', baseUrl);
      expect({ baseUrl, code: refused.code, stdout: refused.stdout }).toEqual({ baseUrl, code: 2, stdout: [] });
      expect(refused.stderr).toContain('--base-url');
    }
    expect(await links()).toBe(before);
    for (const [baseUrl, printed] of [
      ['https://api.illumichat.example', 'https://api.illumichat.example/sign-in?token='],
      ['https://api.illumichat.example/partner/', 'https://api.illumichat.example/partner/sign-in?token='],
      ['http://[::1]:8080', 'http://[::1]:8080/sign-in?token='],
    ] as const) {
      const ok = await admin('agent', 'sign-in-link', owner, '--base-url', baseUrl);
      expect(ok.code).toBe(0);
      expect(at(ok.stdout, 0).startsWith(printed)).toBe(true);
    }
  });
});

describe('mistakes', () => {
  it('wrong usage exits 2 with the usage text; nothing is created', async () => {
    const id = await workspace();
    const before = await server.ctx.db.value('SELECT COUNT(*) FROM workspaces');
    for (const argv of [
      [],
      ['workspace'],
      ['workspace', 'delete'],
      ['workspace', 'create', '--name', 'X'],
      ['workspace', 'create', '--name', 'X', '--plan', 'gold'],
      ['workspace', 'create', '--name', 'X', '--plan', 'pro', '--colour', 'red'],
      ['key', 'create', '--workspace', id, '--scopes', 'events:read,admin', '--name', 'K'],
      ['key', 'create', '--workspace', id, '--name', 'K'],
      ['key', 'revoke'],
      ['agent', 'revoke'],
      ['agent', 'rotate'],
      ['agent', 'list'],
      ['assistant', 'list'],
    ]) {
      const res = await admin(...argv);
      expect({ argv, code: res.code }).toEqual({ argv, code: 2 });
      expect(res.stderr).toMatch(/^error: \S[^\n]*\n\nUsage: npm run admin/);
      expect(res.stdout).toEqual([]);
    }
    expect(await server.ctx.db.value('SELECT COUNT(*) FROM workspaces')).toBe(before);
  });

  it('an unknown workspace or key exits 1 with a clear message', async () => {
    for (const argv of [
      ['key', 'create', '--workspace', 'ws_nope', '--scopes', 'events:read', '--name', 'K'],
      ['key', 'list', '--workspace', 'ws_nope'],
      ['key', 'revoke', 'key_nope'],
      ['workspace', 'set-plan', 'ws_nope', '--plan', 'pro'],
      agentCreate('ws_nope', 'A', 'a@b.co'),
      ['agent', 'list', '--workspace', 'ws_nope'],
      ['assistant', 'list', '--workspace', 'ws_nope'],
      ['agent', 'revoke', 'agt_nope'],
      ['agent', 'rotate', 'agt_nope'],
    ]) {
      const res = await admin(...argv);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(
        /^error: No (workspace|API key|agent) \w+_nope\. The ids are listed by `\.\/dev admin workspace list`[^\n]*$/,
      );
    }
  });

  it('a database that cannot be opened exits 3 with one line naming the setting to change', async () => {
    fs.writeFileSync(path.join(dir, 'a-file'), '');
    const env = { ILLUMICHAT_DB_PATH: path.join(dir, 'a-file', 'admin.db') };
    for (const argv of [
      ['workspace', 'list'],
      ['key', 'revoke', 'key_x'],
    ]) {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runAdmin(argv, { stdout: (l) => out.push(l), stderr: (l) => err.push(l), env });
      expect({ code, out }).toEqual({ code: 3, out: [] });
      expect(err).toEqual([expect.stringMatching(/^error: Cannot open the database .*ILLUMICHAT_DB_PATH=\S+$/)]);
    }
  });

  it('--help exits 0', async () => {
    expect(await admin('--help')).toMatchObject({ code: 0, stderr: expect.stringContaining('key create') });
  });
});

it('runs as `npm run admin` on the database in ILLUMICHAT_DB_PATH or ILLUMICHAT_DATABASE_URL', () => {
  const env = { ...process.env, ...databaseEnv(dbPath) };
  const npm = (...args: string[]) =>
    spawnSync('npm', ['run', '--silent', 'admin', '--', ...args], {
      cwd: path.join(__dirname, '..', '..'),
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
  const created = npm('workspace', 'create', '--name', 'From npm', '--plan', 'pro');
  expect(created.status).toBe(0);
  expect(created.stdout).toMatch(/^ws_[0-9a-f]{24}\n$/);
  const bad = npm('key', 'create', '--workspace', created.stdout.trim(), '--scopes', 'nope', '--name', 'K');
  expect(bad.status).toBe(2);
  expect(bad.stdout).toBe('');
});

it('`./dev admin key create` prints only the key, so a script can capture it; errors leave stdout empty', () => {
  const env = { ...process.env, ...databaseEnv(dbPath) };
  const sh = (script: string) =>
    spawnSync('bash', ['-c', script], {
      cwd: path.join(__dirname, '..', '..'),
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
  const ws = sh('./dev admin workspace create --name "From ./dev" --plan pro');
  expect(ws.status).toBe(0);
  expect(ws.stdout).toMatch(/^ws_[0-9a-f]{24}\n$/);
  const captured = sh(
    `key="$(./dev admin key create --workspace ${ws.stdout.trim()} --scopes events:read --name Script)" && printf '[%s]' "$key"`,
  );
  expect(captured.status).toBe(0);
  expect(captured.stdout).toMatch(/^\[wsk_live_[0-9A-Za-z]{38}\]$/);
  expect(captured.stderr).toContain('shown only once');
  const refused = sh('./dev admin key create --workspace ws_nope --scopes events:read --name K');
  expect({ status: refused.status, stdout: refused.stdout }).toEqual({ status: 1, stdout: '' });
  // One line, saying what is wrong and where the real ids are.
  expect(refused.stderr).toMatch(
    /^error: No workspace ws_nope\. The ids are listed by `\.\/dev admin workspace list`.*\n$/,
  );
});

describe('revoking, rotating and demoting an agent end its Settings access; every workspace keeps an owner', () => {
  /** Creates agents with these roles (first listed first) and returns their ids. */
  async function agents(id: string, ...roles: string[]): Promise<string[]> {
    for (const [i, role] of roles.entries()) await admin(...agentCreate(id, `A${i}`, `a${i}@acme.test`, role));
    return (await admin('agent', 'list', '--workspace', id)).stdout.slice(1).map((line) => at(line.split(/\s+/), 0));
  }
  const link = async (agentId: string) =>
    new URL(at((await admin('agent', 'sign-in-link', agentId)).stdout, 0)).searchParams;
  const signIn = (token: string) => fetchPage(`${server.url}/sign-in`, { method: 'POST', body: formBody({ token }) });
  const keysPage = (browser: SettingsBrowser) => browser.get('/settings/keys').then((p) => p.status);
  const sessionsOf = async (agentId: string) =>
    await server.ctx.db.value('SELECT COUNT(*) FROM sessions WHERE agent_id = ?', agentId);

  it.each(['revoke', 'rotate'])(
    '%s ends the agent’s open sessions and voids its unused links in the same commit',
    async (verb) => {
      const id = await workspace();
      const [, adminId] = await agents(id, 'owner', 'admin');
      const first = await signInAs(server, adminId!);
      const second = await signInAs(server, adminId!);
      const unused = (await link(adminId!)).get('token')!;
      expect([await keysPage(first), await keysPage(second)]).toEqual([200, 200]);

      expect((await admin('agent', verb, adminId!)).code).toBe(0);
      expect([await keysPage(first), await keysPage(second)]).toEqual([401, 401]);
      expect(await sessionsOf(adminId!)).toBe(0);
      expect((await signIn(unused)).status).toBe(400);
      if (verb === 'revoke') {
        // A revoked agent gets no new link until rotated; rotating gives access back.
        expect(await admin('agent', 'sign-in-link', adminId!)).toMatchObject({
          code: 1,
          stdout: [],
          stderr: expect.stringMatching(/^error: .*revoked.*agent rotate/),
        });
        expect((await admin('agent', 'rotate', adminId!)).code).toBe(0);
      }
      expect((await signIn((await link(adminId!)).get('token')!)).status).toBe(303);
    },
  );

  it('a role without Settings access ends it at the next request, however the role was changed', async () => {
    const id = await workspace();
    const [, adminId] = await agents(id, 'owner', 'admin');
    const browser = await signInAs(server, adminId!);
    expect(await keysPage(browser)).toBe(200);
    // Changed behind the CLI's back: the role is re-checked on every request.
    await server.ctx.db.run(`UPDATE agents SET role = 'agent' WHERE id = ?`, adminId);
    expect(await keysPage(browser)).toBe(403);
    expect((await browser.post('/settings/keys', { name: 'Sneaky', scopes: ['events:read'] })).status).toBe(403);
    await server.ctx.db.run(`UPDATE agents SET role = 'admin' WHERE id = ?`, adminId);
    expect(await keysPage(browser)).toBe(200);
    // Through the CLI, the same.
    expect((await admin('agent', 'set-role', adminId!, '--role', 'agent')).code).toBe(0);
    expect(await keysPage(browser)).toBe(403);
  });

  it('refuses to demote or revoke the last owner who can sign in (exit 1, one error line, nothing changed)', async () => {
    const id = await workspace();
    const [olive, otto] = await agents(id, 'owner', 'owner');
    const refusedLastOwner = { code: 1, stdout: [], stderr: expect.stringMatching(/^error: .*last owner/) };
    const roles = async () =>
      (await admin('agent', 'list', '--workspace', id)).stdout
        .slice(1)
        .map((line) => line.split(/\s+/).slice(2, 4).join(' ')); // ROLE and TOKEN REVOKED

    expect((await admin('agent', 'set-role', olive!, '--role', 'admin')).code).toBe(0); // Otto is still an owner
    for (const role of ['admin', 'agent'])
      expect(await admin('agent', 'set-role', otto!, '--role', role)).toMatchObject(refusedLastOwner);
    expect(await admin('agent', 'revoke', otto!)).toMatchObject(refusedLastOwner);
    expect((await admin('agent', 'set-role', otto!, '--role', 'owner')).code).toBe(0); // no change: allowed

    // A revoked owner cannot sign in, so it does not count: Otto stays the last one able to.
    expect((await admin('agent', 'set-role', olive!, '--role', 'owner')).code).toBe(0);
    expect((await admin('agent', 'revoke', olive!)).code).toBe(0);
    expect(await admin('agent', 'set-role', otto!, '--role', 'agent')).toMatchObject(refusedLastOwner);
    expect(await admin('agent', 'revoke', otto!)).toMatchObject(refusedLastOwner);
    expect(await roles()).toEqual([expect.stringMatching(/^owner \d{4}-/), 'owner -']);

    // Rotating Olive makes her able to sign in again; then Otto may step down.
    expect((await admin('agent', 'rotate', olive!)).code).toBe(0);
    expect((await admin('agent', 'set-role', otto!, '--role', 'agent')).code).toBe(0);
    // A revoked owner may be demoted: it leaves the number of owners able to sign in as it was.
    const [, , spare] = await agents(id, 'owner');
    expect((await admin('agent', 'revoke', spare!)).code).toBe(0);
    expect((await admin('agent', 'set-role', spare!, '--role', 'agent')).code).toBe(0);
  });
});

/**
 * partner-api/openapi.json is hand-written, so these tests hold it to the app: the same routes both ways,
 * the scope each operation really demands, records with the catalog's fields, every error code the code
 * can raise, and no dangling $ref.
 */
import fs from 'node:fs';
import path from 'node:path';

import { agentSchema, conversationSchema, leadSchema, liveChatSessionSchema, ticketSchema } from '../../catalog/events';
import { api, type ApiServer, startApiServer } from '../support/api-server';
import { at } from '../support/items';

const doc = JSON.parse(fs.readFileSync(path.join(__dirname, '../../partner-api/openapi.json'), 'utf8'));
const METHODS = ['get', 'post', 'patch', 'put', 'delete'];

let server: ApiServer;
beforeAll(async () => {
  server = await startApiServer();
});
afterAll(async () => await server.close());

/** "GET /v1/tickets/{id}" for every route registered on the app. */
function appRoutes(): string[] {
  const routes: string[] = [];
  for (const layer of (server.app as any).router.stack) {
    if (!layer.route) continue;
    for (const method of Object.keys(layer.route.methods)) {
      routes.push(`${method.toUpperCase()} ${String(layer.route.path).replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return routes.sort();
}

function documentedOperations(): { key: string; path: string; method: string; op: any }[] {
  return Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([p, item]) =>
    Object.entries(item)
      .filter(([m]) => METHODS.includes(m))
      .map(([m, op]) => ({ key: `${m.toUpperCase()} ${p}`, path: p, method: m.toUpperCase(), op })),
  );
}

it('is OpenAPI 3.1 and documents exactly the routes the app registers', () => {
  expect(doc.openapi).toBe('3.1.0');
  expect(
    documentedOperations()
      .map((o) => o.key)
      .sort(),
  ).toEqual(appRoutes());
  expect(appRoutes().length).toBeGreaterThanOrEqual(25);
});

it('states for every operation the scope the API demands, its security, and its responses', async () => {
  const ws = await server.createWorkspace();
  const scopeless = await server.createKey(ws.id, []);
  for (const { key, path: p, method, op } of documentedOperations()) {
    expect({ key, responses: Object.keys(op.responses).length > 0 }).toEqual({ key, responses: true });
    const concrete = p.replace(/\{\w+\}/g, 'x_placeholder');
    const hasBody = method !== 'GET' && method !== 'DELETE';
    const send = (headers: Record<string, string>) =>
      api(server.url).raw(method, concrete, {
        body: hasBody ? '{}' : undefined,
        headers: { ...(hasBody ? { 'content-type': 'application/json' } : {}), ...headers },
      });
    const schemes = (op.security as Record<string, string[]>[]).map((s) => Object.keys(s)[0]);
    if (op['x-required-scope']) {
      expect({ key, schemes }).toEqual({ key, schemes: ['apiKey', 'apiKeyHeader'] });
      const res = await send({ authorization: `Bearer ${scopeless}` });
      expect({ key, requiredScope: res.body.error?.requiredScope }).toEqual({
        key,
        requiredScope: op['x-required-scope'],
      });
      expect(op.responses['403']).toBeDefined();
    } else if (schemes.includes('agentToken')) {
      expect((await send({})).body.error.code).toBe('agent_token_missing');
    } else {
      expect({ key, schemes }).toEqual({ key, schemes: [] });
      expect([401, 403]).not.toContain((await send({})).status);
    }
  }
});

it('describes records with exactly the catalog’s fields, and the contact as the API returns it', async () => {
  const fields = (name: string) => Object.keys(doc.components.schemas[name].properties);
  expect(fields('Lead')).toEqual(Object.keys(leadSchema.shape));
  expect(fields('Ticket')).toEqual(Object.keys(ticketSchema.shape));
  expect(fields('Conversation')).toEqual(Object.keys(conversationSchema.shape));
  expect(fields('LiveChatSession')).toEqual(Object.keys(liveChatSessionSchema.shape));
  expect(fields('Agent')).toEqual(Object.keys(agentSchema.shape));
  const { key } = await server.setup();
  const contact = await api(server.url, key).post('/v1/contacts', { email: 'doc@example.com' });
  expect(fields('Contact')).toEqual(Object.keys(contact.body));
  const me = await api(server.url, key).get('/v1/me');
  expect(fields('Me')).toEqual(Object.keys(me.body));
});

it('lists every error code the code can raise, here and in docs/api.md', () => {
  const sources: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) sources.push(fs.readFileSync(full, 'utf8'));
    }
  };
  walk(path.join(__dirname, '../../partner-api'));
  const raised = new Set<string>(['not_found', 'validation_failed', 'invalid_state']);
  for (const text of sources)
    for (const m of text.matchAll(/new ApiError\(\s*\d{3},\s*'([a-z_]+)'/g)) raised.add(at(m, 1));
  const documented = new Set<string>();
  for (const response of Object.values(doc.components.responses as Record<string, { description: string }>)) {
    for (const code of at(/Codes: ([a-z_, ]+)\./.exec(response.description)!, 1).split(', ')) documented.add(code);
  }
  const readable = fs.readFileSync(path.join(__dirname, '../../docs/api.md'), 'utf8');
  for (const code of raised) {
    expect({ code, inOpenApi: documented.has(code) }).toEqual({ code, inOpenApi: true });
    expect({ code, inApiMd: readable.includes(`\`${code}\``) }).toEqual({ code, inApiMd: true });
  }
  expect(raised.size).toBeGreaterThanOrEqual(20);
});

it('has no dangling $ref', () => {
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => at(m, 1));
  for (const ref of refs) {
    const target = ref.split('/').reduce((node: any, part) => node?.[part], doc);
    expect({ ref, found: target !== undefined }).toEqual({ ref, found: true });
  }
  expect(refs.length).toBeGreaterThan(50);
});

it('is what GET /openapi.json serves', async () => {
  const res = await api(server.url).get('/openapi.json');
  expect(res.body).toEqual(doc);
});

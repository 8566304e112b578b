/**
 * The request log (partner-api/http/request-log.ts): one `request` line per request at info level with the
 * route pattern, status, duration, key id and the Zapier operation; debug adds to the same line. Never a
 * credential, wherever a client puts one.
 */
import { api, type ApiServer, startApiServer, waitUntil } from '../support/api-server';
import type { LogLine } from '../support/helpers';

const servers: ApiServer[] = [];
afterAll(async () => {
  for (const server of servers) await server.close();
});

async function server(log: 'info' | 'debug') {
  const s = await startApiServer({ config: { log } });
  servers.push(s);
  return { s, ...(await s.setup()) };
}

/** The request lines logged so far, after waiting for the `count`th (the line is written when the response closes). */
async function requestLines(s: ApiServer, count: number): Promise<Record<string, unknown>[]> {
  const lines = () => s.logs.filter((e: LogLine) => e.message === 'request').map((e) => e.fields!);
  return waitUntil(() => lines().length >= count && lines(), 5000, `${count} request lines`);
}

it('logs one info line per request: method, route pattern, status, ms, key id, Zapier operation', async () => {
  const { s, key, keyId } = await server('info');
  const zap = api(s.url, key);
  const ticket = await zap.post(
    '/v1/tickets',
    { subject: 'Printer on fire' },
    { 'X-IllumiChat-Zapier-Operation': 'creates.create_ticket.perform' },
  );
  expect(ticket.status).toBe(201);
  await zap.patch(`/v1/tickets/${ticket.body.id}`, { priority: 'high' });
  await zap.patch('/v1/tickets/tkt_missing', { priority: 'high' });
  await api(s.url).get('/v1/me');
  await api(s.url).get('/nowhere');

  const lines = await requestLines(s, 5);
  expect(lines).toHaveLength(5);
  expect(lines[0]).toEqual({
    method: 'POST',
    route: '/v1/tickets',
    status: 201,
    ms: expect.any(Number),
    keyId,
    zapierOperation: 'creates.create_ticket.perform',
  });
  expect(lines[1]).toEqual({ method: 'PATCH', route: '/v1/tickets/:id', status: 200, ms: expect.any(Number), keyId });
  expect(lines[2]).toMatchObject({ route: '/v1/tickets/:id', status: 404, keyId });
  expect(lines[3]).toEqual({ method: 'GET', route: '/v1/me', status: 401, ms: expect.any(Number) });
  expect(lines[4]).toEqual({ method: 'GET', route: null, status: 404, ms: expect.any(Number) });
  expect(lines.every((l) => (l.ms as number) >= 0)).toBe(true);
  expect(JSON.stringify(s.logs)).not.toContain(key.slice('wsk_live_'.length));
});

it('logs a body the JSON parser refused, and a request from an agent token', async () => {
  const { s, workspace } = await server('info');
  const agent = await s.createAgent(workspace.id);
  await api(s.url).raw('POST', '/v1/tickets', { body: '{"email":', headers: { 'content-type': 'application/json' } });
  await api(s.url, agent.token).post('/v1/agent/tickets', { subject: 'From the console' });
  const [refused, byAgent] = await requestLines(s, 2);
  expect(refused).toMatchObject({ method: 'POST', status: 400 });
  expect(byAgent).toMatchObject({ route: '/v1/agent/tickets', status: 201, agentId: agent.id });
  expect(JSON.stringify(s.logs)).not.toContain(agent.token.slice('agt_tok_'.length));
});

it('debug adds the path, sizes and user agent to the same line, and redacts any credential a client put there', async () => {
  const { s, key } = await server('debug');
  const secretInPath = `/v1/tickets/${key}`;
  await api(s.url, key).patch(
    secretInPath,
    { priority: 'high' },
    { 'user-agent': `Zapier ${key}`, 'X-IllumiChat-Zapier-Operation': `oops ${key}` },
  );
  const [line] = await requestLines(s, 1);
  expect(line).toMatchObject({
    method: 'PATCH',
    route: '/v1/tickets/:id',
    status: 404,
    path: '/v1/tickets/wsk_live_[redacted]',
    bytesIn: 19,
    bytesOut: expect.any(Number),
    userAgent: 'Zapier wsk_live_[redacted]',
    zapierOperation: 'oops wsk_live_[redacted]',
  });
  expect(JSON.stringify(s.logs)).not.toContain(key.slice('wsk_live_'.length));
});

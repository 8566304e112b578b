/**
 * Real-world input, everywhere the API takes it. test/corpus/ holds valid and invalid emails, names and phone
 * numbers (see its README); every valid value must be accepted at every route that takes that kind of field,
 * stored and returned exactly as sent (and an email found again by search, case-insensitively), and every
 * invalid value refused with 422 validation_failed naming the field, storing nothing.
 */
import emails from '../corpus/emails.json';
import names from '../corpus/names.json';
import phones from '../corpus/phones.json';
import { recordedEvents, tableCounts } from '../support/api-events';
import { api, type ApiServer, startApiServer } from '../support/api-server';

type Kind = 'email' | 'name' | 'phone';

interface Response {
  status: number;
  body: any;
}

/**
 * One place a value of `kind` is taken: `send` puts `value` in `field` of an otherwise valid request; `stored`
 * reads back what the API kept of it from the answer (or the event it fired), for a valid value.
 */
interface Site {
  name: string;
  kind: Kind;
  field: string;
  send(value: unknown, n: number): Promise<Response>;
  stored?(res: Response, value: string, n: number): unknown;
}

let server: ApiServer;
let sites: Site[];
let counter = 0;

/** An address no corpus entry collides with, so a name or phone check makes a new contact each time. */
const fresh = (n: number) => `corpus-${n}@example.com`;

beforeAll(async () => {
  server = await startApiServer();
  const crm = await server.setup();
  const site = await server.setup(); // the widget's workspace: its leads start out unknown
  const agent = await server.createAgent(crm.workspace.id, { name: 'Corpus Agent', email: 'corpus-agent@example.com' });
  const zap = api(server.url, crm.key);
  const console_ = api(server.url, agent.token);
  const visitor = api(server.url);
  // One conversation for every lead form, made now, so that a refused lead leaves every table as it was.
  const conversationId = (
    await visitor.post(`/v1/widget/assistants/${site.assistant.id}/conversations`, { message: 'Hi' })
  ).body.id;
  const lead = (v: unknown) => visitor.post(`/v1/widget/conversations/${conversationId}/lead`, v);
  /** The newest lead.captured payload for this address (matched as the API matches: case-insensitively). */
  const leadEvent = async (email: string) =>
    (await recordedEvents(server, { type: 'lead.captured', workspaceId: site.workspace.id }))
      .map((e) => e.payload.data ?? e.payload)
      .reverse()
      .find((p) => p.email.toLowerCase() === email.toLowerCase());

  sites = [
    {
      name: 'POST /v1/contacts',
      kind: 'email',
      field: 'email',
      send: (v) => zap.post('/v1/contacts', { email: v }),
      stored: (r) => r.body.email,
    },
    {
      name: 'POST /v1/contacts',
      kind: 'name',
      field: 'name',
      send: (v, n) => zap.post('/v1/contacts', { email: fresh(n), name: v }),
      stored: (r) => r.body.name,
    },
    {
      name: 'POST /v1/contacts',
      kind: 'phone',
      field: 'phone',
      send: (v, n) => zap.post('/v1/contacts', { email: fresh(n), phone: v }),
      stored: (r) => r.body.phone,
    },
    {
      name: 'GET /v1/contacts',
      kind: 'email',
      field: 'email',
      send: (v) => zap.get(`/v1/contacts?email=${encodeURIComponent(String(v))}`),
    },
    {
      name: 'POST /v1/agent/contacts',
      kind: 'email',
      field: 'email',
      send: (v) => console_.post('/v1/agent/contacts', { email: v }),
      stored: (r) => r.body.email,
    },
    {
      name: 'POST /v1/agent/contacts',
      kind: 'name',
      field: 'name',
      send: (v, n) => console_.post('/v1/agent/contacts', { email: fresh(n), name: v }),
      stored: (r) => r.body.name,
    },
    {
      name: 'POST /v1/agent/contacts',
      kind: 'phone',
      field: 'phone',
      send: (v, n) => console_.post('/v1/agent/contacts', { email: fresh(n), phone: v }),
      stored: (r) => r.body.phone,
    },
    {
      name: 'POST /v1/widget/conversations/:id/lead',
      kind: 'email',
      field: 'email',
      send: (v) => lead({ email: v }),
      stored: async (_r, v) => (await leadEvent(v))?.email,
    },
    {
      name: 'POST /v1/widget/conversations/:id/lead',
      kind: 'name',
      field: 'name',
      send: (v, n) => lead({ email: fresh(n), name: v }),
      stored: async (_r, _v, n) => (await leadEvent(fresh(n)))?.name,
    },
    {
      name: 'POST /v1/widget/conversations/:id/lead',
      kind: 'phone',
      field: 'phone',
      send: (v, n) => lead({ email: fresh(n), phone: v }),
      stored: async (_r, _v, n) => (await leadEvent(fresh(n)))?.phone,
    },
    {
      name: 'POST /v1/widget/assistants/:assistantId/conversations',
      kind: 'email',
      field: 'visitor_email',
      send: (v) =>
        visitor.post(`/v1/widget/assistants/${site.assistant.id}/conversations`, { message: 'Hi', visitor_email: v }),
      stored: (r) => r.body.visitorEmail,
    },
    {
      name: 'POST /v1/widget/assistants/:assistantId/conversations',
      kind: 'name',
      field: 'visitor_name',
      send: (v) =>
        visitor.post(`/v1/widget/assistants/${site.assistant.id}/conversations`, { message: 'Hi', visitor_name: v }),
      stored: (r) => r.body.visitorName,
    },
    {
      name: 'POST /v1/in-app/assistants/:assistantId/conversations',
      kind: 'email',
      field: 'user_email',
      send: (v) =>
        visitor.post(`/v1/in-app/assistants/${site.assistant.id}/conversations`, { message: 'Hi', user_email: v }),
      stored: (r) => r.body.visitorEmail,
    },
    {
      name: 'POST /v1/in-app/assistants/:assistantId/conversations',
      kind: 'name',
      field: 'user_name',
      send: (v) =>
        visitor.post(`/v1/in-app/assistants/${site.assistant.id}/conversations`, { message: 'Hi', user_name: v }),
      stored: (r) => r.body.visitorName,
    },
    // A ticket's contact email must name a known contact: the contacts site above runs first and creates it.
    {
      name: 'POST /v1/tickets',
      kind: 'email',
      field: 'contact_email',
      send: (v) => zap.post('/v1/tickets', { subject: 'Corpus', contact_email: v }),
      stored: (r) => r.body.contactEmail,
    },
    {
      name: 'POST /v1/agent/tickets',
      kind: 'email',
      field: 'contact_email',
      send: (v) => console_.post('/v1/agent/tickets', { subject: 'Corpus', contact_email: v }),
      stored: (r) => r.body.contactEmail,
    },
  ];
});
afterAll(async () => await server.close());

const corpus: Record<Kind, { valid: string[]; invalid: string[] }> = { email: emails, name: names, phone: phones };
const sitesOf = (kind: Kind) => sites.filter((s) => s.kind === kind);

describe.each(['email', 'name', 'phone'] as const)('every valid %s', (kind) => {
  it('is accepted at every route that takes one, and stored and returned exactly as sent', async () => {
    const refused: string[] = [];
    // Each value goes through its sites in order (a ticket's contact must exist first); several values at once,
    // so hundreds of writes fit the test's time on PostgreSQL too, where each is a round trip to the server.
    const values = [...corpus[kind].valid];
    const sendAll = async () => {
      for (let value = values.shift(); value !== undefined; value = values.shift()) {
        for (const site of sitesOf(kind)) {
          const n = ++counter;
          const res = await site.send(value, n);
          if (res.status >= 300) {
            refused.push(
              `${site.name} ${site.field}=${JSON.stringify(value)} → ${res.status} ${JSON.stringify(res.body.error)}`,
            );
            continue;
          }
          if (site.stored && (await site.stored(res, value, n)) !== value) {
            refused.push(
              `${site.name} ${site.field}=${JSON.stringify(value)} stored as ${JSON.stringify(await site.stored(res, value, n))}`,
            );
          }
        }
      }
    };
    await Promise.all(Array.from({ length: 6 }, sendAll));
    expect(refused.sort()).toEqual([]);
  });
});

describe('a valid email', () => {
  it('is found again by search, exactly and in other letter cases, and matched case-insensitively by the upserts', async () => {
    const zap = api(server.url, (await server.setup()).key);
    const misses: string[] = [];
    for (const email of emails.valid) {
      const made = await zap.post('/v1/contacts', { email });
      // Letter-case variants that lower-case back to the same address (ß upper-cases to SS, which does not).
      const variants = [email, email.toUpperCase(), email.toLowerCase()].filter(
        (v) => v.toLowerCase() === email.toLowerCase(),
      );
      for (const variant of variants) {
        const found = await zap.get(`/v1/contacts?email=${encodeURIComponent(variant)}`);
        if (found.status !== 200 || found.body.data[0]?.id !== made.body.id || found.body.data[0]?.email !== email) {
          misses.push(
            `search ${JSON.stringify(variant)} → ${found.status} ${JSON.stringify(found.body).slice(0, 200)}`,
          );
        }
      }
      const again = await zap.post('/v1/contacts', {
        email: email.toUpperCase().toLowerCase() === email.toLowerCase() ? email.toUpperCase() : email,
      });
      if (again.status !== 200 || again.body.id !== made.body.id)
        misses.push(`upsert ${JSON.stringify(email)} made a second contact`);
    }
    expect(misses).toEqual([]);
  });

  it('captured by the widget lead form is a new lead with lead.captured carrying it exactly (a&b@, o&leary@)', async () => {
    const site = await server.setup();
    const visitor = api(server.url);
    for (const email of new Set(['a&b@example.com', 'o&leary@example.com', ...emails.valid.slice(0, 20)])) {
      const conversation = (
        await visitor.post(`/v1/widget/assistants/${site.assistant.id}/conversations`, { message: 'Hi' })
      ).body;
      const res = await visitor.post(`/v1/widget/conversations/${conversation.id}/lead`, { email, name: 'Visitor' });
      expect({ email, status: res.status }).toEqual({ email, status: 201 });
      const captured = (await recordedEvents(server, { type: 'lead.captured', workspaceId: site.workspace.id })).map(
        (e) => e.payload.data ?? e.payload,
      );
      expect(captured.filter((p) => p.email === email)).toEqual([
        expect.objectContaining({ email, isNew: true, source: 'widget_form' }),
      ]);
    }
  });
});

describe.each(['email', 'name', 'phone'] as const)('every invalid %s', (kind) => {
  const nonStrings = [42, true, {}, ['x']];

  it('is refused with 422 validation_failed naming the field, at every route that takes one, storing nothing', async () => {
    const before = await tableCounts(server);
    const wrong: string[] = [];
    for (const value of [...corpus[kind].invalid, ...nonStrings]) {
      for (const site of sitesOf(kind)) {
        // A query string carries only text, and only well-formed Unicode can be percent-encoded into one.
        if (site.name.startsWith('GET') && (typeof value !== 'string' || /\p{Cs}/u.test(value))) continue;
        const res = await site.send(value, ++counter);
        const paths = (res.body?.error?.details ?? []).map((d: { path: string }) => d.path);
        if (res.status !== 422 || res.body.error.code !== 'validation_failed' || !paths.includes(site.field)) {
          wrong.push(
            `${site.name} ${site.field}=${JSON.stringify(value).slice(0, 80)} → ${res.status} ${JSON.stringify(res.body.error ?? res.body).slice(0, 200)}`,
          );
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(await tableCounts(server)).toEqual(before);
  });
});

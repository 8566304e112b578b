/**
 * Tags on contacts and conversations (issue 14): added through a key or the agent console, matched
 * case-insensitively after trimming (NFC, full case folding), in any script, with a length limit and a
 * per-record count limit; tag.added fires once per tag really added, in the same transaction.
 */
import http from 'node:http';

import names from '../corpus/names.json';
import { recordedEvents, tableCounts } from '../support/api-events';
import { api, type ApiServer, startApiServer } from '../support/api-server';
import { at } from '../support/items';

let server: ApiServer;
beforeAll(async () => {
  server = await startApiServer();
});
afterAll(async () => await server.close());

async function fresh() {
  const { workspace, assistant, key, keyId } = await server.setup();
  const zap = api(server.url, key);
  const agent = await server.createAgent(workspace.id, { name: 'Sam Rivera', email: 'sam@example.com' });
  const contact = (await zap.post('/v1/contacts', { email: 'ava@example.com', name: 'Ava' })).body;
  const conversation = (
    await api(server.url).post(`/v1/widget/assistants/${assistant.id}/conversations`, { message: 'hi' })
  ).body;
  return { workspace, assistant, key, keyId, zap, agent, console: api(server.url, agent.token), contact, conversation };
}

const tagEvents = async (workspaceId: string) => await recordedEvents(server, { type: 'tag.added', workspaceId });

describe('adding a tag to a contact', () => {
  it('answers 201 with the tags, and fires tag.added with the tag, the contact and the key that added it', async () => {
    const w = await fresh();
    const res = await w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag: '  VIP  ' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      recordType: 'contact',
      recordId: w.contact.id,
      tag: 'VIP',
      changed: true,
      tags: ['VIP'],
    });
    const event = at(await tagEvents(w.workspace.id), 0);
    expect(event.payload).toMatchObject({
      type: 'tag.added',
      workspaceId: w.workspace.id,
      assistantId: null,
      data: {
        tag: 'VIP',
        recordType: 'contact',
        recordId: w.contact.id,
        contactId: w.contact.id,
        contactEmail: 'ava@example.com',
        contactName: 'Ava',
        conversationId: null,
        addedBy: { type: 'api_key', id: w.keyId },
      },
    });
    expect((await w.zap.get(`/v1/contacts/${w.contact.id}`)).body.tags).toEqual(['VIP']);
  });

  it('by an agent names the agent', async () => {
    const w = await fresh();
    expect((await w.console.post(`/v1/agent/contacts/${w.contact.id}/tags`, { tag: 'Renewal' })).status).toBe(201);
    expect(at(await tagEvents(w.workspace.id), 0).payload.data.addedBy).toEqual({
      type: 'agent',
      id: w.agent.id,
      name: 'Sam Rivera',
    });
  });

  it.each([
    ['vip', 'VIP'],
    [' Vip ', 'VIP'],
    ['STRASSE', 'Straße'],
    ['e\u0301te\u0301', '\u00e9t\u00e9'], // decomposed and precomposed é
    ['ΣΟΦΙΑ', 'σοφια'],
  ])('treats %j as the tag %j already on the contact: 200, unchanged, and no second event', async (again, first) => {
    const w = await fresh();
    await w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag: first });
    const res = await w.console.post(`/v1/agent/contacts/${w.contact.id}/tags`, { tag: again });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ changed: false, tags: [first] });
    expect(await tagEvents(w.workspace.id)).toHaveLength(1);
  });

  it('answers an add of a tag the record already has with the stored spelling, unchanged', async () => {
    const w = await fresh();
    await w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag: 'VIP' });
    const again = await w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag: 'vip' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ tag: 'VIP', changed: false, tags: ['VIP'] });
  });

  it('fires exactly one tag.added when the same tag is added 20 times at once in different letter cases', async () => {
    const w = await fresh();
    const spellings = ['vip', 'VIP', 'Vip', ' vIp ', 'viP'];
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag: at(spellings, i % spellings.length) }),
      ),
    );
    expect(results.map((r) => r.status).sort((x, y) => y - x)).toEqual([201, ...new Array<number>(19).fill(200)]);
    expect(await tagEvents(w.workspace.id)).toHaveLength(1);
    expect((await w.zap.get(`/v1/contacts/${w.contact.id}`)).body.tags).toHaveLength(1);
  });

  it('accepts a tag in any script, with emoji and combining marks, stored as given', async () => {
    const w = await fresh();
    const valid = names.valid.filter((n) => [...n.trim()].length <= 50);
    expect(valid.length).toBeGreaterThan(40);
    for (const name of valid) {
      const res = await w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag: name });
      expect({ name, status: [200, 201].includes(res.status) }).toEqual({ name, status: true });
    }
    const stored = (await w.zap.get(`/v1/contacts/${w.contact.id}`)).body.tags as string[];
    for (const name of valid) expect(stored.map((t) => t.normalize('NFC'))).toContain(name.trim().normalize('NFC'));
  });

  it.each([
    ['blank', '   '],
    ['empty', ''],
    ['null', null],
    ['a number', 42],
    ['two lines', 'a\nb'],
    ['a control character', 'a\u0000b'],
    ['a lone surrogate', 'x\ud800'],
    ['51 characters', 'x'.repeat(51)],
    ['51 emoji', '🦄'.repeat(51)],
    // A URL path cannot carry these two as a segment (URL parsers drop them, even as %2E), so no client could
    // remove them with DELETE …/tags/:tag.
    ['a dot', '.'],
    ['two dots', ' .. '],
  ])('refuses %s with 422 validation_failed naming `tag`, storing nothing', async (_what, tag) => {
    const w = await fresh();
    const before = await tableCounts(server);
    const res = await w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({ code: 'validation_failed', details: [{ path: 'tag' }] });
    expect(await tableCounts(server)).toEqual(before);
  });

  it.each([60, 201, 10_000])('refuses %i characters saying the limit is 50, once', async (length) => {
    const w = await fresh();
    const res = await w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag: 'x'.repeat(length) });
    expect(res.body.error.details).toEqual([{ path: 'tag', message: 'Must be at most 50 characters.' }]);
  });

  it('takes 50 characters, counting an emoji as one', async () => {
    const w = await fresh();
    for (const tag of ['x'.repeat(50), '🦄'.repeat(50)])
      expect((await w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag })).status).toBe(201);
  });

  it('holds at most 100 tags: the 101st is 409 tag_limit_reached with the limit, and nothing is stored', async () => {
    const w = await fresh();
    for (let i = 0; i < 100; i++)
      expect((await w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag: `t${i}` })).status).toBe(201);
    const before = await tableCounts(server);
    const res = await w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag: 'one more' });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'tag_limit_reached', limit: 100 });
    expect(await tableCounts(server)).toEqual(before);
    // A tag it already has is still a no-op, not a refusal.
    expect((await w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag: 'T0' })).status).toBe(200);
  });

  it('is 404 for a contact of another workspace, which keeps no tag and fires nothing', async () => {
    const a = await fresh();
    const b = await fresh();
    const res = await b.zap.post(`/v1/contacts/${a.contact.id}/tags`, { tag: 'mine' });
    expect(res.status).toBe(404);
    expect((await b.console.post(`/v1/agent/contacts/${a.contact.id}/tags`, { tag: 'mine' })).status).toBe(404);
    expect((await a.zap.get(`/v1/contacts/${a.contact.id}`)).body.tags).toEqual([]);
    expect(await tagEvents(a.workspace.id)).toEqual([]);
    expect(await tagEvents(b.workspace.id)).toEqual([]);
  });
});

describe('removing a tag from a contact', () => {
  it('still removes a `.` tag stored before such tags were refused, for a client that can send %2E', async () => {
    const w = await fresh();
    await w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag: 'VIP' });
    await server.ctx.db.run(
      `INSERT INTO record_tags (record_id, tag_key, workspace_id, record_type, tag, added_by_type, added_by_id, created_at)
         SELECT record_id, '.', workspace_id, record_type, '.', added_by_type, added_by_id, created_at FROM record_tags
         WHERE record_id = ?`,
      w.contact.id,
    );
    // node's http sends the path as written; fetch and Zapier's client would drop the dot segment.
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${server.url}/v1/contacts/${w.contact.id}/tags/%2E`, {
        method: 'DELETE',
        path: `/v1/contacts/${w.contact.id}/tags/%2E`,
        headers: { Authorization: `Bearer ${w.key}` },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end();
    });
    expect(JSON.parse(body)).toMatchObject({ tag: '.', changed: true, tags: ['VIP'] });
  });

  it.each(['...', '.NET', '%2e', '..%2F'])(
    'removes %j, dots and percent signs included, through its percent-encoded path',
    async (tag) => {
      const w = await fresh();
      expect((await w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag })).status).toBe(201);
      const removed = await w.zap.delete(`/v1/contacts/${w.contact.id}/tags/${encodeURIComponent(tag)}`);
      expect(removed.body).toMatchObject({ changed: true, tags: [] });
    },
  );

  it('matches it case-insensitively (percent-encoded in the path), fires nothing, and a second remove is a no-op', async () => {
    const w = await fresh();
    await w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag: 'Sales / EMEA' });
    await w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag: 'Straße' });
    const path = (tag: string) => `/v1/contacts/${w.contact.id}/tags/${encodeURIComponent(tag)}`;
    const removed = await w.zap.delete(path('sales / emea'));
    expect(removed.status).toBe(200);
    // The answer names the tag as it was stored, whatever spelling the path matched it with.
    expect(removed.body).toMatchObject({ tag: 'Sales / EMEA', changed: true, tags: ['Straße'] });
    expect((await w.zap.delete(path('STRASSE'))).body).toMatchObject({ tag: 'Straße', changed: true, tags: [] });
    expect((await w.zap.delete(path('STRASSE'))).body).toMatchObject({ tag: 'STRASSE', changed: false, tags: [] });
    expect(await tagEvents(w.workspace.id)).toHaveLength(2);
    // Added again after removal, it fires again: it was really added.
    expect((await w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag: 'straße' })).status).toBe(201);
    expect(await tagEvents(w.workspace.id)).toHaveLength(3);
  });
});

describe('tags on a conversation', () => {
  it('fire tag.added with the conversation, its assistant and, once the visitor left an email, its contact', async () => {
    const w = await fresh();
    const res = await w.zap.post(`/v1/conversations/${w.conversation.id}/tags`, { tag: 'Billing' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ recordType: 'conversation', recordId: w.conversation.id, tags: ['Billing'] });
    expect(at(await tagEvents(w.workspace.id), 0).payload).toMatchObject({
      assistantId: w.assistant.id,
      assistantName: w.assistant.name,
      data: {
        recordType: 'conversation',
        recordId: w.conversation.id,
        conversationId: w.conversation.id,
        contactId: null,
      },
    });
    await api(server.url).post(`/v1/widget/conversations/${w.conversation.id}/lead`, { email: 'ava@example.com' });
    await w.console.post(`/v1/agent/conversations/${w.conversation.id}/tags`, { tag: 'Lead' });
    expect(at(await tagEvents(w.workspace.id), 1).payload.data).toMatchObject({
      contactId: w.contact.id,
      contactEmail: 'ava@example.com',
      addedBy: { type: 'agent', id: w.agent.id },
    });
    const read = (await w.zap.get(`/v1/conversations/${w.conversation.id}`)).body;
    expect(read.tags).toEqual(['Billing', 'Lead']);
    expect((await w.zap.delete(`/v1/conversations/${w.conversation.id}/tags/billing`)).body.tags).toEqual(['Lead']);
  });

  it('a contact and a conversation keep their tags apart', async () => {
    const w = await fresh();
    await w.zap.post(`/v1/contacts/${w.contact.id}/tags`, { tag: 'VIP' });
    expect((await w.zap.post(`/v1/conversations/${w.conversation.id}/tags`, { tag: 'vip' })).status).toBe(201);
    expect((await tagEvents(w.workspace.id)).map((e) => e.payload.data.recordType)).toEqual([
      'contact',
      'conversation',
    ]);
  });
});

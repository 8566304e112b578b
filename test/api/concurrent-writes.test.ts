/**
 * The read-then-write paths under many concurrent requests (issue 13 §2): each fires a burst of requests at
 * one real server at once and checks the database kept the rule (one contact per email, distinct ticket
 * numbers, one claim per Idempotency-Key, one active subscription per URL, the caps, one live chat per
 * conversation, one accept, one end). On SQLite the single writer already serialises them; the same tests run
 * on PostgreSQL, where only the mechanisms of this change (unique constraints with ON CONFLICT, a counter row,
 * conditional UPDATEs, row locks; domain/locks.ts) keep them. The last block checks those mechanisms directly.
 */
import { upsertContact } from '../../partner-api/domain/contacts';
import { recordedEvents } from '../support/api-events';
import { api, type ApiResponse, type ApiServer, startApiServer } from '../support/api-server';
import { testClock } from '../support/helpers';
import { times } from '../support/helpers';
import { at } from '../support/items';

const BURST = 24;
const CAP = 3;

const clock = testClock();
let server: ApiServer;
beforeAll(async () => {
  server = await startApiServer({ clock, config: { maxSubscriptionsPerWorkspace: CAP } });
});
afterAll(async () => await server.close());

async function fresh() {
  const { workspace, assistant, key, keyId } = await server.setup();
  const agent = await server.createAgent(workspace.id, { name: 'Sam Rivera', email: 'sam@example.com' });
  return {
    workspace,
    assistant,
    keyId,
    zap: api(server.url, key),
    console: api(server.url, agent.token),
    visitor: api(server.url),
  };
}

const burst = (n: number, request: (i: number) => Promise<ApiResponse>) =>
  Promise.all(Array.from({ length: n }, (_, i) => request(i)));
const statuses = (answers: ApiResponse[]) => answers.map((a) => a.status).sort();
const count = async (text: string, ...params: unknown[]) => (await server.ctx.db.value<number>(text, ...params))!;

describe('many concurrent requests', () => {
  it('one email gives one contact, however it is cased: one 201, the rest 200 with its id, one lead.captured', async () => {
    const w = await fresh();
    const answers = await burst(BURST, (i) =>
      w.zap.post('/v1/contacts', { email: i % 2 ? 'Ava@Example.com' : 'ava@example.com', name: `Ava ${i}` }),
    );
    expect(statuses(answers)).toEqual([...Array<number>(BURST - 1).fill(200), 201]);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(await count('SELECT COUNT(*) FROM contacts WHERE workspace_id = ?', w.workspace.id)).toBe(1);
    expect(await recordedEvents(server, { type: 'lead.captured', workspaceId: w.workspace.id })).toHaveLength(1);
  });

  // The update merges in the statement that locks the row (domain/contacts.ts insertOrUpdateContact): each
  // request's field and attribute must survive the others', none lost to a merge from a stale read.
  it('updates of one contact at once each keep what the others set: fields and attribute values', async () => {
    const w = await fresh();
    const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
    for (const key of keys)
      expect((await w.console.post('/v1/agent/contact-attributes', { key, label: key, type: 'text' })).status).toBe(
        201,
      );
    const email = 'Mo@Example.com';
    expect((await w.zap.post('/v1/contacts', { email })).status).toBe(201);
    const fields = ['name', 'phone', 'company', 'notes'] as const;
    const answers = await burst(BURST, (i) =>
      w.zap.post('/v1/contacts', {
        email,
        [fields[i % fields.length]!]: `${fields[i % fields.length]} ${i}`,
        attributes: { [keys[i % keys.length]!]: `value ${i}` },
      }),
    );
    expect(statuses(answers)).toEqual(Array<number>(BURST).fill(200));
    const stored = (await w.zap.get(`/v1/contacts?email=${encodeURIComponent(email)}`)).body.data[0];
    for (const field of fields) expect(stored[field]).toMatch(new RegExp(`^${field} \\d+$`));
    expect(Object.keys(stored.attributes).sort()).toEqual(keys);
  });

  it('tickets created at once get distinct numbers 1..n', async () => {
    const w = await fresh();
    const answers = await burst(BURST, (i) => w.zap.post('/v1/tickets', { subject: `Ticket ${i}` }));
    expect(statuses(answers)).toEqual(Array<number>(BURST).fill(201));
    const numbers = answers.map((a) => a.body.number as number).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: BURST }, (_, i) => i + 1));
  });

  it('one Idempotency-Key sent many times at once makes one ticket; every other answer replays it or says in progress', async () => {
    const w = await fresh();
    const answers = await burst(BURST, () =>
      w.zap.post('/v1/tickets', { subject: 'Once' }, { 'Idempotency-Key': 'burst-key' }),
    );
    expect(await count('SELECT COUNT(*) FROM tickets WHERE workspace_id = ?', w.workspace.id)).toBe(1);
    const created = answers.filter((a) => a.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(new Set(created.map((a) => a.body.id)).size).toBe(1);
    for (const a of answers.filter((x) => x.status !== 201)) {
      expect([a.status, a.body.error.code]).toEqual([409, 'idempotency_request_in_progress']);
    }
    expect(await recordedEvents(server, { type: 'ticket.created', workspaceId: w.workspace.id })).toHaveLength(1);
  });

  it('one hook URL subscribed many times at once keeps one active subscription, the id every answer gives', async () => {
    const w = await fresh();
    const answers = await burst(BURST, () =>
      w.zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: 'https://hooks.example.com/one' }),
    );
    expect(statuses(answers)).toEqual([...Array<number>(BURST - 1).fill(200), 201]);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(await count('SELECT COUNT(*) FROM subscriptions WHERE workspace_id = ?', w.workspace.id)).toBe(1);
  });

  it('subscribes to many URLs at once stop at the cap: CAP created, the rest subscription_limit_reached', async () => {
    const w = await fresh();
    const answers = await burst(BURST, (i) =>
      w.zap.post('/v1/subscriptions', { event_type: 'ticket.created', target_url: `https://hooks.example.com/${i}` }),
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(CAP);
    for (const a of answers.filter((x) => x.status !== 201))
      expect(a.body.error.code).toBe('subscription_limit_reached');
    expect(
      await count('SELECT COUNT(*) FROM subscriptions WHERE workspace_id = ? AND active = 1', w.workspace.id),
    ).toBe(CAP);
  });

  it('many handoffs of one conversation at once queue one live chat; the rest are 409 invalid_state', async () => {
    const w = await fresh();
    const conversation = (
      await w.visitor.post(`/v1/widget/assistants/${w.assistant.id}/conversations`, { message: 'Hello' })
    ).body;
    const answers = await burst(BURST, () => w.visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {}));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
    for (const a of answers.filter((x) => x.status !== 201)) expect(a.body.error.code).toBe('invalid_state');
    expect(await count('SELECT COUNT(*) FROM live_chat_sessions WHERE conversation_id = ?', conversation.id)).toBe(1);
  });

  it('a handoff and a close at once: exactly one succeeds, never a closed conversation with a live chat', async () => {
    const w = await fresh();
    for (let round = 0; round < 6; round++) {
      // Six rounds: which request wins varies; the invariant must hold for either.
      const conversation = (
        await w.visitor.post(`/v1/widget/assistants/${w.assistant.id}/conversations`, { message: 'Hello' })
      ).body;
      const [handoff, close] = await Promise.all([
        w.visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {}),
        w.console.post(`/v1/agent/conversations/${conversation.id}/close`, {}),
      ]);
      expect([handoff.status === 201, close.status === 200].filter(Boolean)).toHaveLength(1);
      const live = await count(
        `SELECT COUNT(*) FROM live_chat_sessions WHERE conversation_id = ? AND status IN ('queued', 'active')`,
        conversation.id,
      );
      const closed = await count(
        `SELECT COUNT(*) FROM conversations WHERE id = ? AND status = 'closed'`,
        conversation.id,
      );
      expect(live + closed).toBe(1);
    }
  });

  it('many agents accepting one session at once: one 200, the rest 409, one agent_assigned; many ends: one ended', async () => {
    const w = await fresh();
    const agents = await times(6, async (i) =>
      api(
        server.url,
        (await server.createAgent(w.workspace.id, { name: `Agent ${i}`, email: `a${i}@example.com` })).token,
      ),
    );
    const conversation = (
      await w.visitor.post(`/v1/widget/assistants/${w.assistant.id}/conversations`, { message: 'Hello' })
    ).body;
    const session = (await w.visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {})).body;
    const accepts = await Promise.all(agents.map((a) => a.post(`/v1/agent/live-chat/sessions/${session.id}/accept`)));
    expect(statuses(accepts)).toEqual([200, ...Array<number>(agents.length - 1).fill(409)]);
    const winner = at(
      accepts.filter((a) => a.status === 200),
      0,
    );
    const assigned = await recordedEvents(server, { type: 'live_chat.agent_assigned', workspaceId: w.workspace.id });
    expect(assigned).toHaveLength(1);
    expect(
      await count('SELECT COUNT(*) FROM live_chat_sessions WHERE id = ? AND agent_id IS NOT NULL', session.id),
    ).toBe(1);
    expect(winner.body.status).toBe('active');

    const ends = await Promise.all(agents.map((a) => a.post(`/v1/agent/live-chat/sessions/${session.id}/end`, {})));
    expect(statuses(ends)).toEqual([200, ...Array<number>(agents.length - 1).fill(409)]);
    expect(await recordedEvents(server, { type: 'live_chat.session_ended', workspaceId: w.workspace.id })).toHaveLength(
      1,
    );
  });

  it('one tag added many times at once in different cases: one tag, one tag.added', async () => {
    const w = await fresh();
    const contact = (await w.zap.post('/v1/contacts', { email: 'tagged@example.com' })).body;
    const answers = await burst(BURST, (i) =>
      w.zap.post(`/v1/contacts/${contact.id}/tags`, { tag: i % 2 ? 'VIP' : 'vip' }),
    );
    expect(answers.every((a) => a.status < 300)).toBe(true);
    expect(await count('SELECT COUNT(*) FROM record_tags WHERE record_id = ?', contact.id)).toBe(1);
    expect(await recordedEvents(server, { type: 'tag.added', workspaceId: w.workspace.id })).toHaveLength(1);
  });
});

describe('the mechanisms, directly', () => {
  it('the contact upsert keeps one row per (workspace, normalized email), and the second call updates it', async () => {
    const w = await fresh();
    const first = await upsertContact(server.ctx, w.workspace.id, { email: 'Kim@Example.com', name: 'Kim' }, 'api');
    const second = await upsertContact(
      server.ctx,
      w.workspace.id,
      { email: 'kim@example.com', phone: '+1 555' },
      'api',
    );
    expect([first.created, second.created]).toEqual([true, false]);
    expect(second.contact).toMatchObject({ id: first.contact.id, name: 'Kim', phone: '+1 555' });
    expect(await count('SELECT COUNT(*) FROM contacts WHERE workspace_id = ?', w.workspace.id)).toBe(1);
  });

  it('the database refuses a second live chat in progress for one conversation (live_chat_sessions_one_live)', async () => {
    const w = await fresh();
    const conversation = (
      await w.visitor.post(`/v1/widget/assistants/${w.assistant.id}/conversations`, { message: 'Hello' })
    ).body;
    await w.visitor.post(`/v1/widget/conversations/${conversation.id}/handoff`, {});
    await expect(
      server.ctx.db.run(
        `INSERT INTO live_chat_sessions (id, workspace_id, conversation_id, status, queued_at) VALUES ('lcs_dup', ?, ?, 'queued', '2026-01-01T00:00:00.000Z')`,
        w.workspace.id,
        conversation.id,
      ),
    ).rejects.toThrow(/unique/i); // SQLite: "UNIQUE constraint failed"; PostgreSQL: "violates unique constraint"
  });

  it("ticket numbers continue from the workspace's counter row, which each ticket advances", async () => {
    const w = await fresh();
    await w.zap.post('/v1/tickets', { subject: 'One' });
    await w.zap.post('/v1/tickets', { subject: 'Two' });
    expect(await count('SELECT last_number FROM ticket_counters WHERE workspace_id = ?', w.workspace.id)).toBe(2);
  });
});

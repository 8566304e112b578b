/**
 * Scale-out (issue 13 §4): three API processes (partner-api/server.ts, as `npm start` runs it) on one fresh
 * PostgreSQL database, each with its delivery worker, behind no balancer: the test's clients spread their
 * requests over all three. One instance is killed with SIGKILL while it has deliveries in flight, then
 * started again. Judged by what the clients and the receivers see, not by how the workers claim:
 *   - every write answered 201 is stored, with its event;
 *   - every owed delivery arrives at least once with webhook-id = the event id and the stored body;
 *   - an arrival the database has no attempt for (a duplicate) only for a request the killed instance had sent
 *     before it died; nothing is left pending;
 *   - one Idempotency-Key sent to two instances at once makes one ticket, and both get its answer;
 *   - a key revoked through one instance's Settings stops deliveries from all three: no event created after
 *     the revocation committed reaches the Zap that used it.
 *
 * Which instance sent a delivery is read from the operating system: the killed process's TCP sockets
 * (/proc/PID/fd, /proc/net/tcp) give the local ports its requests come from, as the receivers see them.
 *
 * It needs a PostgreSQL cluster: the run's (ILLUMICHAT_TEST_DATABASE_URL, .ci/run) or its own
 * (test/support/pg.ts starts one); it never skips.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { loadConfig } from '../../partner-api/config';
import { type AppContext, createAppContext } from '../../partner-api/context';
import { openPgStore } from '../../partner-api/db/pg-store';
import { createApiKey } from '../../partner-api/domain/api-keys';
import { SCOPES } from '../../partner-api/domain/credentials';
import { createSignInLink } from '../../partner-api/domain/sessions';
import { createSubscription } from '../../partner-api/domain/subscriptions';
import { createAgent, createWorkspace } from '../../partner-api/domain/workspaces';
import { waitUntil } from '../support/api-server';
import { at } from '../support/items';
import { closeAfterFile, freshPgDatabaseUrl, PG_SETUP_TIMEOUT_MS } from '../support/pg';
import { fetchPage, formBody, sessionCookieOf } from '../support/settings-session';
import { describeEngine } from '../support/test-store';
import { type ApiProcess, killAll, spawnApi } from './support/api-process';

// Three processes, thousands of events, a kill and a restart: about a minute on two loaded cores.
jest.setTimeout(240_000);

const INSTANCES = 3;
/** Creates in the burst: half tickets (two Zaps each), half contacts (one Zap each). */
const EVENTS = 2000;
const CLIENTS = 24;
/** The kill is tried once this many creates were answered, while deliveries are in flight. */
const KILL_AFTER_ANSWERS = 500;
const VICTIM = 1;
const IDEMPOTENT_KEYS = 30;
const AFTER_REVOKE = 150;
/** How long the receivers take to answer, ms: slow enough that each worker has requests in flight. */
const RECEIVER_DELAY_MS = { min: 50, max: 200 };
/**
 * Which arrivals count as the killed instance's own: those on a local port it used, received from SINCE_MS
 * before it was frozen until LAG_MS after its SIGKILL took effect. It sends nothing once frozen, but the
 * receivers run in this busy process and may read what it had sent seconds later (3.6 s was seen at load 15).
 * The bounds only keep a port number another process used long before or after from counting; the kernel
 * hands out ephemeral ports to one destination in sequence (RFC 6056), so that is rare anyway.
 */
const VICTIM_WINDOW = { sinceMs: 30_000, lagMs: 15_000 };

const ENV = {
  ILLUMICHAT_RATE_LIMIT_PER_MINUTE: '100000000',
  ILLUMICHAT_RATE_LIMIT_BURST: '100000000',
  ILLUMICHAT_PUBLIC_RATE_LIMIT_PER_MINUTE: '100000000',
  ILLUMICHAT_PUBLIC_RATE_LIMIT_BURST: '100000000',
  // Short, so the killed instance's claims (lease = timeout + 2 s) are taken over soon; ten times the slowest
  // receiver, so a loaded host does not time answers out.
  ILLUMICHAT_DELIVERY_TIMEOUT_MS: '2000',
  // Should anything fail, its retry comes within the test's time; enough of them that a host so loaded that
  // answers time out (load 15 did) still delivers everything (a delivery that runs out of retries fails).
  ILLUMICHAT_RETRY_SCHEDULE_MS: '500,1000,2000,4000,4000,4000,4000,4000',
  ILLUMICHAT_LOG: 'info',
};

interface Arrival {
  receiver: string;
  webhookId: string;
  body: string;
  /** The sender's local port: which process sent it (see localPortsOf). */
  remotePort: number;
  receivedAt: number;
  answeredAt: number | null;
  /** The sender closed the connection before the answer was sent (it died, or timed the request out). */
  aborted: boolean;
}

interface SlowReceiver {
  name: string;
  url: string;
  arrivals: Arrival[];
  close(): Promise<void>;
}

/** A webhook receiver that answers 200 after RECEIVER_DELAY_MS and records every request and its fate. */
async function startSlowReceiver(name: string): Promise<SlowReceiver> {
  const arrivals: Arrival[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const arrival: Arrival = {
        receiver: name,
        webhookId: String(req.headers['webhook-id']),
        body: Buffer.concat(chunks).toString('utf8'),
        remotePort: req.socket.remotePort ?? -1,
        receivedAt: Date.now(),
        answeredAt: null,
        aborted: false,
      };
      arrivals.push(arrival);
      const delay = RECEIVER_DELAY_MS.min + Math.floor(Math.random() * (RECEIVER_DELAY_MS.max - RECEIVER_DELAY_MS.min));
      const timer = setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'), delay);
      res.on('finish', () => (arrival.answeredAt = Date.now()));
      res.on('close', () => {
        if (res.writableFinished) return;
        arrival.aborted = true;
        clearTimeout(timer);
      });
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    name,
    url: `http://127.0.0.1:${port}/hook`,
    arrivals,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The local TCP ports of process `pid`'s sockets (Linux: its fds' socket inodes, looked up in /proc/net/tcp*). */
function localPortsOf(pid: number): Set<number> {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(at(m, 1));
    } catch {
      // closed meanwhile
    }
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!fs.existsSync(table)) continue;
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && inodes.has(at(cols, 9))) ports.add(parseInt(at(at(cols, 1).split(':'), 1), 16));
    }
  }
  return ports;
}

interface Outcome {
  status: number | 'no answer';
  body?: any;
  replayed?: boolean;
}

async function post(url: string, path: string, body: unknown, headers: Record<string, string>): Promise<Outcome> {
  try {
    const res = await fetch(url + path, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...headers },
    });
    return { status: res.status, body: await res.json(), replayed: res.headers.get('idempotent-replayed') === 'true' };
  } catch {
    return { status: 'no answer' }; // the instance died with the request in flight: its outcome is unknown
  }
}

/** Runs `send` over `items` with `concurrency` in flight. */
async function drive<T>(items: T[], concurrency: number, send: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await send(at(items, next++));
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const receivers: SlowReceiver[] = [];
let ctx: AppContext;
let databaseUrl: string;
// Its own PostgreSQL database either way; run once, in the PostgreSQL run, not again in the SQLite one.
describeEngine('postgres', 'three API processes on one PostgreSQL database', 'many instances', () => {
  afterAll(async () => {
    await killAll();
    for (const rx of receivers) await rx.close();
  });

  beforeAll(async () => {
    databaseUrl = await freshPgDatabaseUrl();
    ctx = createAppContext({ store: closeAfterFile(await openPgStore(databaseUrl)), config: loadConfig({}) });
  }, PG_SETUP_TIMEOUT_MS);

  it('three instances on one PostgreSQL: a burst with one SIGKILLed mid-delivery, idempotency across instances, a revocation seen by all', async () => {
    const rx = {
      tickets: await startSlowReceiver('tickets'),
      leads: await startSlowReceiver('leads'),
      revoked: await startSlowReceiver('revoked'),
    };
    receivers.push(...Object.values(rx));
    // Three workspaces (tenants), so the burst is not one workspace's ticket counter taken in turn.
    const tenants: { workspace: { id: string }; auth: Record<string, string> }[] = [];
    /** Which receiver a subscription delivers to. */
    const receiverOfSubscription = new Map<string, string>();
    const subscribe = async (
      workspaceId: string,
      apiKeyId: string,
      eventType: 'ticket.created' | 'lead.captured',
      target: SlowReceiver,
    ) => {
      const { id } = (await createSubscription(ctx, { workspaceId, apiKeyId, eventType, targetUrl: target.url }))
        .subscription;
      receiverOfSubscription.set(id, target.name);
      return id;
    };
    for (let t = 0; t < 3; t++) {
      const workspace = await createWorkspace(ctx, { name: `Scale-out ${t}`, plan: 'pro' });
      const key = await createApiKey(ctx, { workspaceId: workspace.id, name: 'Zapier', scopes: SCOPES });
      await subscribe(workspace.id, key.id, 'ticket.created', rx.tickets);
      await subscribe(workspace.id, key.id, 'lead.captured', rx.leads);
      tenants.push({ workspace, auth: { authorization: `Bearer ${key.key}` } });
    }
    const { workspace, auth } = at(tenants, 0);
    const doomed = await createApiKey(ctx, { workspaceId: workspace.id, name: 'Old Zapier', scopes: SCOPES });
    const owner = await createAgent(ctx, workspace.id, { name: 'Owner', email: 'owner@example.com', role: 'owner' });

    const instances: (ApiProcess | null)[] = await Promise.all(
      Array.from({ length: INSTANCES }, () => spawnApi({ dbPath: databaseUrl, env: ENV })),
    );
    /** Instance `i`, or the next one running while it is down. */
    const pick = (i: number): ApiProcess => {
      for (let k = 0; k < INSTANCES; k++) {
        const instance = instances[(i + k) % INSTANCES];
        if (instance) return instance;
      }
      throw new Error('no instance running');
    };
    const arrivals = () => Object.values(rx).flatMap((r) => r.arrivals);
    /** Resolves once no delivery is pending, looking every 100 ms (a lighter load than waitUntil's 10 ms). */
    const drained = async (timeoutMs: number, what: string) => {
      const deadline = Date.now() + timeoutMs;
      while ((await ctx.db.value<number>(`SELECT COUNT(*) FROM deliveries WHERE status = 'pending'`)) !== 0) {
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await sleep(100);
      }
    };

    // 1. The burst, spread over the three; one is killed mid-delivery and started again.
    type Job = { i: number; kind: 'ticket' | 'lead'; path: string; body: object };
    const jobs: Job[] = Array.from({ length: EVENTS }, (_, i) =>
      i % 2 === 0
        ? { i, kind: 'ticket', path: '/v1/tickets', body: { subject: `burst ${i}` } }
        : { i, kind: 'lead', path: '/v1/contacts', body: { email: `lead${i}@example.com`, name: `Lead ${i}` } },
    );
    const outcomes = new Map<number, Outcome>();
    /** killedAt: when the victim was frozen (SIGSTOP), for good; goneAt: when its SIGKILL had taken effect. */
    let kill: { killedAt: number; goneAt: number; ports: Set<number>; openAtKill: Arrival[] } | null = null;
    let killing = false;
    const restart: { done?: Promise<void> } = {};

    // Every local port the victim uses, sampled until it dies: an attempt it had sent and been answered on
    // before the kill, but not yet recorded (its recording was on its way to COMMIT), is its unrecorded
    // attempt too, and the socket it came on may be closed by the time of the kill.
    const victimPortsSeen = new Set<number>();
    const sampler = setInterval(() => {
      const pid = instances[VICTIM]?.child.pid;
      if (pid === undefined || kill) return;
      try {
        for (const port of localPortsOf(pid)) victimPortsSeen.add(port);
      } catch {
        // the process is between states; the next sample sees it
      }
    }, 10);

    /** Freezes the victim at successive instants until it has a request open at a receiver, and kills it there. */
    const killMidDelivery = async () => {
      const victim = instances[VICTIM]!;
      for (let tries = 0; tries < 3000 && !kill; tries++) {
        const frozenAt = Date.now();
        victim.child.kill('SIGSTOP');
        const ports = localPortsOf(victim.child.pid!);
        const open = arrivals().filter((a) => a.answeredAt === null && !a.aborted && ports.has(a.remotePort));
        if (open.length > 0) {
          for (const port of ports) victimPortsSeen.add(port);
          clearInterval(sampler);
          const killed = { killedAt: frozenAt, goneAt: Infinity, ports: victimPortsSeen, openAtKill: open };
          kill = killed;
          instances[VICTIM] = null;
          await victim.crash();
          killed.goneAt = Date.now();
          restart.done = spawnApi({ dbPath: databaseUrl, env: ENV }).then((again) => void (instances[VICTIM] = again));
          return;
        }
        victim.child.kill('SIGCONT');
        await sleep(2);
      }
    };

    await drive(jobs, CLIENTS, async (job) => {
      outcomes.set(job.i, await post(pick(job.i).url, job.path, job.body, at(tenants, job.i % tenants.length).auth));
      if (!killing && outcomes.size >= KILL_AFTER_ANSWERS) {
        killing = true;
        await killMidDelivery();
      }
    });
    clearInterval(sampler);
    expect(kill).not.toBeNull(); // the victim did have a delivery in flight when it died
    const { killedAt, goneAt, ports: victimPorts, openAtKill } = kill!;
    await restart.done;
    await drained(90_000, 'every delivery of the burst to finish');
    const revokedSubscription = await subscribe(workspace.id, doomed.id, 'ticket.created', rx.revoked);
    // 2. One Idempotency-Key, two instances at once: one ticket, one answer.
    const idempotent = await Promise.all(
      Array.from({ length: IDEMPOTENT_KEYS }, async (_, i) => {
        const headers = { ...auth, 'idempotency-key': `multi-instance-${i}` };
        const send = async (instance: number): Promise<Outcome> => {
          for (let tries = 0; ; tries++) {
            const answer = await post(pick(instance).url, '/v1/tickets', { subject: `idempotent ${i}` }, headers);
            // The other instance's request still runs: Zapier retries later, as does this.
            if (answer.status !== 409 || answer.body?.error?.code !== 'idempotency_request_in_progress' || tries > 100)
              return answer;
            await sleep(100);
          }
        };
        return await Promise.all([send(i), send(i + 1)]);
      }),
    );
    idempotent.forEach(([a, b], i) => {
      expect({ i, a: a.status, b: b.status }).toEqual({ i, a: 201, b: 201 });
      expect({ i, same: b.body }).toEqual({ i, same: a.body });
      expect([a.replayed, b.replayed].filter(Boolean)).toHaveLength(1);
    });
    const perKey = await ctx.db.all<{ subject: string; n: number }>(
      `SELECT subject, COUNT(*) AS n FROM tickets WHERE subject LIKE 'idempotent %' GROUP BY subject`,
    );
    expect(perKey).toHaveLength(IDEMPOTENT_KEYS);
    expect(perKey.filter((r) => r.n !== 1)).toEqual([]);
    await drained(60_000, 'the idempotent tickets to be delivered');
    // 3. The old key revoked through the third instance's Settings; then tickets created through all three.
    const { token } = await createSignInLink(ctx, owner.id);
    const third = pick(2).url;
    const signedIn = await fetchPage(`${third}/sign-in`, { method: 'POST', body: formBody({ token }) });
    const cookie = sessionCookieOf(signedIn);
    const keysPage = await fetchPage(`${third}/settings/keys`, { headers: { cookie } });
    const csrf = at(/name="_csrf" value="([^"]+)"/.exec(keysPage.html) ?? [], 1);
    const revokedBefore = rx.revoked.arrivals.length;
    expect(revokedBefore).toBeGreaterThan(0); // its Zap did receive, before
    const revocation = await fetchPage(`${third}/settings/keys/${doomed.id}/revoke`, {
      method: 'POST',
      headers: { cookie },
      body: formBody({ _csrf: csrf }),
    });
    expect(revocation.status).toBe(303); // committed
    const afterRevoke = await Promise.all(
      Array.from({ length: AFTER_REVOKE }, (_, i) =>
        post(pick(i).url, '/v1/tickets', { subject: `after revoke ${i}` }, auth),
      ),
    );
    expect(afterRevoke.filter((o) => o.status !== 201)).toEqual([]);
    await drained(60_000, 'the tickets after the revocation');
    await waitUntil(
      () => rx.tickets.arrivals.filter((a) => a.answeredAt !== null).length >= EVENTS / 2,
      10_000,
      'the answers to the last deliveries',
    );
    for (const instance of instances) await instance?.stop();

    // What the database holds, read once everything stopped.
    const events = await ctx.db.all<{ id: string; type: string; payload: string }>(
      `SELECT id, type, payload FROM events`,
    );
    const payloadOf = new Map(events.map((e) => [e.id, e.payload]));
    const eventOfRecord = new Map<string, string>();
    for (const e of events) {
      const p = JSON.parse(e.payload);
      eventOfRecord.set(e.type === 'lead.captured' ? p.id : p.data.ticket.id, e.id);
    }

    // Every write answered 201 is stored, with its event; nothing was answered but 201 or a cut connection.
    const acknowledged = jobs.filter((j) => outcomes.get(j.i)?.status === 201);
    expect(acknowledged.length).toBeGreaterThan(EVENTS * 0.9);
    expect([...outcomes.values()].filter((o) => o.status !== 201 && o.status !== 'no answer')).toEqual([]);
    const storedTickets = new Set(await ctx.db.values<string>('SELECT id FROM tickets'));
    const storedContacts = new Set(await ctx.db.values<string>('SELECT id FROM contacts'));
    for (const j of acknowledged) {
      const id = outcomes.get(j.i)!.body.id as string;
      expect({
        i: j.i,
        stored: (j.kind === 'ticket' ? storedTickets : storedContacts).has(id),
        event: eventOfRecord.has(id),
      }).toEqual({ i: j.i, stored: true, event: true });
    }

    // Nothing pending; every delivery succeeded, but the revoked Zap's, which may have been cancelled.
    const statuses = await ctx.db.all<{ sub: string; status: string; n: number }>(
      `SELECT subscription_id AS sub, status, COUNT(*) AS n FROM deliveries GROUP BY subscription_id, status`,
    );
    expect(
      statuses.filter((s) => s.status !== 'succeeded' && !(s.sub === revokedSubscription && s.status === 'cancelled')),
    ).toEqual([]);

    // Owed: every ticket event to both ticket Zaps (the revoked one: those made before the revocation), every
    // lead event to the lead Zap. Each arrives at least once, with its event's id and stored body.
    const afterRevokeEvents = new Set(afterRevoke.map((o) => eventOfRecord.get(o.body.id as string)!));
    const owed = new Map<string, Set<string>>([
      ['tickets', new Set(events.filter((e) => e.type === 'ticket.created').map((e) => e.id))],
      ['leads', new Set(events.filter((e) => e.type === 'lead.captured').map((e) => e.id))],
      // Subscribed after the burst: the idempotent tickets.
      ['revoked', new Set(idempotent.map(([a]) => eventOfRecord.get(a.body.id as string)!))],
    ]);
    const arrivalsOf = new Map<string, Arrival[]>();
    for (const a of arrivals()) {
      expect({ id: a.webhookId, body: a.body === payloadOf.get(a.webhookId) }).toEqual({ id: a.webhookId, body: true });
      const k = `${a.receiver} ${a.webhookId}`;
      arrivalsOf.set(k, [...(arrivalsOf.get(k) ?? []), a]);
    }
    for (const [receiver, ids] of owed) {
      const missing = [...ids].filter((id) => !arrivalsOf.has(`${receiver} ${id}`));
      expect({ receiver, missing }).toEqual({ receiver, missing: [] });
    }
    // No event made after the revocation committed reached the revoked key's Zap, from any instance.
    expect(rx.revoked.arrivals.filter((a) => afterRevokeEvents.has(a.webhookId))).toEqual([]);
    expect(rx.tickets.arrivals.filter((a) => afterRevokeEvents.has(a.webhookId)).length).toBeGreaterThanOrEqual(
      AFTER_REVOKE,
    );

    // Duplicates: arrivals beyond the attempts the database recorded. Only where the killed instance had sent
    // the request before it died (on one of the sockets it used, around the kill: VICTIM_WINDOW).
    const recorded = await ctx.db.all<{ subscriptionId: string; eventId: string; attempts: number }>(
      `SELECT d.subscription_id AS "subscriptionId", d.event_id AS "eventId", COUNT(a.id) AS attempts
       FROM deliveries d LEFT JOIN delivery_attempts a ON a.delivery_id = d.id
      GROUP BY d.subscription_id, d.event_id`,
    );
    const attemptsOf = new Map(
      recorded.map((r) => [`${receiverOfSubscription.get(r.subscriptionId)} ${r.eventId}`, r.attempts]),
    );
    const inFlightOnVictim = (a: Arrival) =>
      victimPorts.has(a.remotePort) &&
      a.receivedAt <= goneAt + VICTIM_WINDOW.lagMs &&
      a.receivedAt > killedAt - VICTIM_WINDOW.sinceMs;
    let duplicates = 0;
    for (const [k, list] of arrivalsOf) {
      const unrecorded = list.length - (attemptsOf.get(k) ?? 0);
      if (unrecorded <= 0) continue;
      duplicates += unrecorded;
      // Each arrival beyond the record is accounted for by a request of the victim's.
      const victims = list.filter(inFlightOnVictim).length;
      expect({ k, unrecorded, accountedFor: Math.min(unrecorded, victims) }).toEqual({
        k,
        unrecorded,
        accountedFor: unrecorded,
      });
    }
    expect(duplicates).toBeLessThanOrEqual(arrivals().filter(inFlightOnVictim).length);
    // The victim's cut-off requests did come again (after its lease), so these are at least once, not lost.
    for (const a of openAtKill) expect(arrivalsOf.get(`${a.receiver} ${a.webhookId}`)!.length).toBeGreaterThan(1);
  });
});

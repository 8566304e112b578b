/**
 * Storage faults on both engines (db/faults.ts): errors that say the database cannot take a write right now
 * are answered 503 `storage_unavailable` with Retry-After, as SQLite's full or failing disk is (test/proof/
 * faults.test.ts), never a 500; anything else stays a bug. On PostgreSQL: a lost connection, a server shutting
 * down or starting, a server out of disk or connection slots.
 */
import { randomBytes } from 'node:crypto';

import pg from 'pg';

import { loadConfig } from '../../partner-api/config';
import { createAppContext } from '../../partner-api/context';
import { isStorageFault } from '../../partner-api/db/faults';
import { openPgStore } from '../../partner-api/db/pg-store';
import { createApiKey } from '../../partner-api/domain/api-keys';
import { SCOPES } from '../../partner-api/domain/credentials';
import { createWorkspace } from '../../partner-api/domain/workspaces';
import { silentLogger } from '../../partner-api/lib/log';
import { type RunningServer, startServer } from '../../partner-api/server';
import { waitUntil } from '../support/api-server';
import { adminQuery, closeAfterFile, freshPgDatabaseUrl, PG_SETUP_TIMEOUT_MS, testClusterUrl } from '../support/pg';

const coded = (code: string) => Object.assign(new Error(`failed (${code})`), { code });

describe('isStorageFault', () => {
  it.each([
    'SQLITE_FULL',
    'SQLITE_IOERR_WRITE',
    'SQLITE_READONLY_DBMOVED',
    'SQLITE_CANTOPEN',
    '08000', // connection_exception
    '08003', // connection_does_not_exist
    '08006', // connection_failure
    '08P01', // protocol_violation
    '57P01', // admin_shutdown
    '57P02', // crash_shutdown
    '57P03', // cannot_connect_now
    '53000', // insufficient_resources
    '53100', // disk_full
    '53200', // out_of_memory
    '53300', // too_many_connections
    'ECONNREFUSED',
    'ECONNRESET',
  ])('%s is a storage fault', (code) => {
    expect(isStorageFault(coded(code))).toBe(true);
  });

  it.each([
    'SQLITE_CONSTRAINT_UNIQUE',
    'SQLITE_ERROR',
    'SQLITE_BUSY',
    '23505', // unique_violation: the API answers it
    '40001', // serialization_failure: the store runs the write again
    '42P01', // undefined_table: a bug
    '57014', // query_canceled
    '57P04', // database_dropped
    '22P02', // invalid_text_representation
    'ENOTFOUND',
  ])('%s is not', (code) => {
    expect(isStorageFault(coded(code))).toBe(false);
  });

  it("node-postgres's errors for a connection lost under a query, which carry no code", () => {
    for (const message of [
      'Connection terminated unexpectedly',
      'Connection terminated due to connection timeout',
      'Client has encountered a connection error and is not queryable',
      'timeout exceeded when trying to connect',
    ])
      expect({ message, fault: isStorageFault(new Error(message)) }).toEqual({ message, fault: true });
    expect(isStorageFault(new Error('syntax error at or near "SELEC"'))).toBe(false);
    expect(isStorageFault({ message: 'Connection terminated unexpectedly' })).toBe(false); // not an Error
    expect(isStorageFault(null)).toBe(false);
  });
});

describe('PostgreSQL out of connection slots, and its connections cut (the real server)', () => {
  // An unprivileged login: superusers are exempt from connection limits.
  const role = `illumichat_faulty_${randomBytes(4).toString('hex')}`;
  let running: RunningServer;
  let adminUrl: string;
  let key: string;

  beforeAll(async () => {
    adminUrl = await freshPgDatabaseUrl();
    const admin = closeAfterFile(await openPgStore(adminUrl));
    await admin.run(`CREATE ROLE ${role} LOGIN`);
    await admin.run(`GRANT ALL ON SCHEMA public TO ${role}`); // the migrations check schema_migrations exists
    await admin.run(`GRANT ALL ON ALL TABLES IN SCHEMA public TO ${role}`);
    await admin.run(`GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
    const ctx = createAppContext({ store: admin, config: loadConfig({}) });
    const workspace = await createWorkspace(ctx, { name: 'Faults', plan: 'pro' });
    key = (await createApiKey(ctx, { workspaceId: workspace.id, name: 'Zapier', scopes: SCOPES })).key;
    const url = new URL(adminUrl);
    url.username = role;
    const config = loadConfig(
      { ILLUMICHAT_DATABASE_URL: url.toString(), ILLUMICHAT_NO_DEMO: '1' },
      { port: 0, host: '127.0.0.1' },
    );
    running = await startServer(config, silentLogger);
  }, PG_SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await running?.stop();
    // The role's grants live in the test's database, which may still exist here (hooks do not promise an
    // order): drop them there first, then the role, which is the cluster's.
    await adminQuery(adminUrl, `DROP OWNED BY ${role}`).catch((error: { code?: string }) => {
      if (error.code !== '3D000') throw error; // the database is gone already, and its grants with it
    });
    const cluster = testClusterUrl();
    if (cluster) await adminQuery(cluster, `DROP ROLE IF EXISTS ${role}`);
  });

  const createTicket = async (subject: string) => {
    const res = await fetch(`${running.url}/v1/tickets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ subject }),
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as any };
  };

  async function asAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }

  it('answers 503 storage_unavailable with Retry-After, stores nothing, and recovers by itself', async () => {
    expect((await createTicket('before')).status).toBe(201);

    // No new connection for the role, and every one it has cut: the pool's next connection is refused 53300,
    // a query on a connection it still holds fails as lost.
    await asAdmin(async (admin) => {
      await admin.query(`ALTER ROLE ${role} CONNECTION LIMIT 0`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
      await waitUntil(
        async () => (await admin.query('SELECT 1 FROM pg_stat_activity WHERE usename = $1', [role])).rowCount === 0,
        10_000,
        "the role's connections to end",
      );
    });
    for (let i = 0; i < 4; i++) {
      const answer = await createTicket(`during ${i}`);
      expect({ i, status: answer.status, code: answer.body.error?.code, retryAfter: answer.retryAfter }).toEqual({
        i,
        status: 503,
        code: 'storage_unavailable',
        retryAfter: '30',
      });
    }

    await asAdmin(async (admin) => {
      await admin.query(`ALTER ROLE ${role} CONNECTION LIMIT -1`);
      expect((await admin.query(`SELECT subject FROM tickets ORDER BY subject`)).rows).toEqual([{ subject: 'before' }]);
    });
    expect((await createTicket('after')).status).toBe(201);
  });
});

/**
 * isUniqueViolation / isForeignKeyViolation (partner-api/db/errors.ts) recognise what each engine really
 * throws for the same statements on the real schema: a duplicate primary key, a duplicate in a unique
 * constraint or a unique partial index, a reference to no row, and tell them from other failures.
 */
import { isForeignKeyViolation, isUniqueViolation } from '../../partner-api/db/errors';
import { openDatabase } from '../../partner-api/db/open';
import { openPgStore } from '../../partner-api/db/pg-store';
import { closeAfterFile, freshPgDatabaseUrl, PG_SETUP_TIMEOUT_MS } from '../support/pg';

const NOW = '2026-01-01T00:00:00.000Z';
const SETUP = [
  `INSERT INTO workspaces (id, name, plan, created_at) VALUES ('ws_a', 'A', 'pro', '${NOW}')`,
  `INSERT INTO api_keys (id, workspace_id, name, prefix, secret_hash, scopes, created_at)
     VALUES ('key_a', 'ws_a', 'k', 'p', 'hash', 'read', '${NOW}')`,
  `INSERT INTO contacts (id, workspace_id, email, email_normalized, source, created_at, updated_at)
     VALUES ('con_a', 'ws_a', 'a@example.com', 'a@example.com', 'api', '${NOW}', '${NOW}')`,
  `INSERT INTO subscriptions (id, workspace_id, api_key_id, event_type, target_url, secret, created_at)
     VALUES ('sub_a', 'ws_a', 'key_a', 'lead.captured', 'https://hooks.example/1', 's', '${NOW}')`,
];
/** Each statement fails, after SETUP, with the kind of error named. */
const CASES: { what: string; sql: string; kind: 'unique' | 'foreign key' | 'neither' }[] = [
  {
    what: 'a duplicate primary key',
    sql: `INSERT INTO workspaces (id, name, plan, created_at) VALUES ('ws_a', 'again', 'pro', '${NOW}')`,
    kind: 'unique',
  },
  {
    what: 'a duplicate in a unique constraint (contacts by normalized email)',
    sql: `INSERT INTO contacts (id, workspace_id, email, email_normalized, source, created_at, updated_at)
            VALUES ('con_b', 'ws_a', 'A@example.com', 'a@example.com', 'api', '${NOW}', '${NOW}')`,
    kind: 'unique',
  },
  {
    what: 'a duplicate in a unique partial index (one active subscription per URL)',
    sql: `INSERT INTO subscriptions (id, workspace_id, api_key_id, event_type, target_url, secret, created_at)
            VALUES ('sub_b', 'ws_a', 'key_a', 'ticket.created', 'https://hooks.example/1', 's', '${NOW}')`,
    kind: 'unique',
  },
  {
    what: 'a reference to a row that does not exist',
    sql: `INSERT INTO assistants (id, workspace_id, name, created_at) VALUES ('ast_x', 'ws_missing', 'x', '${NOW}')`,
    kind: 'foreign key',
  },
  {
    what: 'deleting a row still referenced',
    sql: `DELETE FROM workspaces WHERE id = 'ws_a'`,
    kind: 'foreign key',
  },
  {
    what: 'a CHECK constraint',
    sql: `INSERT INTO workspaces (id, name, plan, created_at) VALUES ('ws_b', 'B', 'platinum', '${NOW}')`,
    kind: 'neither',
  },
  {
    what: 'a NOT NULL column left empty',
    sql: `INSERT INTO workspaces (id, plan, created_at) VALUES ('ws_c', 'pro', '${NOW}')`,
    kind: 'neither',
  },
  { what: 'a syntax error', sql: 'INSERT INTO', kind: 'neither' },
];

function kindOf(error: unknown): string {
  if (isUniqueViolation(error)) return isForeignKeyViolation(error) ? 'both?!' : 'unique';
  return isForeignKeyViolation(error) ? 'foreign key' : 'neither';
}

describe('SQLite', () => {
  const db = openDatabase(':memory:');
  for (const sql of SETUP) db.exec(sql);
  afterAll(() => db.close());

  it.each(CASES)('$what: $kind', ({ sql, kind }) => {
    let thrown: unknown;
    try {
      db.exec(sql);
    } catch (error) {
      thrown = error;
    }
    // Not `toBeInstanceOf(Error)`: better-sqlite3 makes its errors in the realm that loaded it first, under
    // jest often another test file's (db/faults.ts). Each engine's errors carry a message and a string code.
    expect(thrown).toMatchObject({ message: expect.any(String), code: expect.any(String) });
    expect(kindOf(thrown)).toBe(kind);
  });
});

describe('PostgreSQL', () => {
  let errors: Map<string, unknown>;

  beforeAll(async () => {
    const store = closeAfterFile(await openPgStore(await freshPgDatabaseUrl()));
    for (const sql of SETUP) await store.run(sql);
    errors = new Map();
    for (const { sql } of CASES) errors.set(sql, await store.run(sql).catch((error: unknown) => error));
  }, PG_SETUP_TIMEOUT_MS);

  it.each(CASES)('$what: $kind', ({ sql, kind }) => {
    expect(errors.get(sql)).toMatchObject({ message: expect.any(String), code: expect.any(String) });
    expect(kindOf(errors.get(sql))).toBe(kind);
  });
});

it('a value that is not an error is neither', () => {
  for (const value of [null, undefined, 'SQLITE_CONSTRAINT_UNIQUE', { code: 23505 }, new Error('23505')]) {
    expect(kindOf(value)).toBe('neither');
  }
});

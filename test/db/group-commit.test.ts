import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import Database, { SqliteError } from 'better-sqlite3';

import { type Db, openDatabase } from '../../partner-api/db/open';
import { commitWithGroup } from '../../partner-api/lib/group-commit';

let dir: string;
let db: Db;
let other: Database.Database; // a second connection: it sees only what is committed
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'group-commit-'));
  db = openDatabase(path.join(dir, 'g.db'));
  other = new Database(path.join(dir, 'g.db'), { readonly: true });
});
afterEach(() => {
  other.close();
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const insert = (id: string) => () => {
  db.prepare(
    `INSERT INTO workspaces (id, name, plan, created_at) VALUES (?, 'n', 'pro', '2026-01-01T00:00:00.000Z')`,
  ).run(id);
  return id;
};
const committed = () => other.prepare('SELECT id FROM workspaces ORDER BY id').pluck().all();

describe('group commit', () => {
  it('commits the writes of one turn together, and settles each caller after the commit', async () => {
    const seenByOthers: unknown[][] = [];
    const writes = [
      commitWithGroup(db, insert('ws_a')),
      commitWithGroup(db, () => {
        // Inside the group, ws_a is written but not committed: one transaction, not one per request.
        seenByOthers.push(committed());
        return insert('ws_b')();
      }),
      commitWithGroup(db, insert('ws_c')),
    ];
    expect(committed()).toEqual([]); // nothing runs before the turn ends
    await expect(Promise.all(writes)).resolves.toEqual(['ws_a', 'ws_b', 'ws_c']);
    expect(seenByOthers).toEqual([[]]);
    expect(committed()).toEqual(['ws_a', 'ws_b', 'ws_c']);
  });

  it('rolls back only the write that failed, and tells only its caller', async () => {
    const results = await Promise.allSettled([
      commitWithGroup(db, insert('ws_a')),
      commitWithGroup(db, () => {
        insert('ws_half')();
        throw new Error('invalid');
      }),
      commitWithGroup(db, insert('ws_c')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toEqual(new Error('invalid'));
    expect(committed()).toEqual(['ws_a', 'ws_c']); // ws_half was rolled back to its savepoint
  });

  it('rejects every caller and writes nothing when the commit itself fails', async () => {
    // A deferred foreign key is checked at COMMIT: the whole group fails there, after every write ran.
    db.pragma('defer_foreign_keys = ON');
    const results = await Promise.allSettled([
      commitWithGroup(db, insert('ws_a')),
      commitWithGroup(db, () =>
        db
          .prepare(
            `INSERT INTO assistants (id, workspace_id, name, created_at) VALUES ('ast_x', 'ws_missing', 'n', 'now')`,
          )
          .run(),
      ),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(committed()).toEqual([]);
    expect(db.inTransaction).toBe(false);
  });

  // SQLite may roll the whole transaction back on SQLITE_FULL or SQLITE_IOERR (lang_transaction.html). The
  // writes after that one must not then run on their own, committed while their callers hear of a failure.
  it('fails the whole group, and writes none of it, when SQLite rolled the transaction back mid-group', async () => {
    const full = new SqliteError('database or disk is full', 'SQLITE_FULL');
    const writes = [
      commitWithGroup(db, insert('ws_a')),
      commitWithGroup(db, () => {
        insert('ws_b')();
        db.exec('ROLLBACK'); // what SQLite does by itself on some storage errors
        throw full;
      }),
      commitWithGroup(db, insert('ws_c')),
    ];
    const outcomes = await Promise.allSettled(writes);
    expect(outcomes).toEqual([
      { status: 'rejected', reason: full },
      { status: 'rejected', reason: full },
      { status: 'rejected', reason: full },
    ]);
    expect(committed()).toEqual([]);
    expect(db.inTransaction).toBe(false);
    await expect(commitWithGroup(db, insert('ws_d'))).resolves.toBe('ws_d'); // and the next group runs as usual
  });
});

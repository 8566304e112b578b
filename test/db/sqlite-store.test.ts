import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import Database, { SqliteError } from 'better-sqlite3';

import { type Db, openDatabase } from '../../partner-api/db/open';
import { SqliteStore } from '../../partner-api/db/sqlite-store';
import type { Tx } from '../../partner-api/db/store';
import { describeEngine } from '../support/test-store';

describeEngine('sqlite', "SqliteStore's group commit on better-sqlite3", 'SqliteStore', () => {
  let dir: string;
  let db: Db;
  let store: SqliteStore;
  let other: Database.Database; // a second connection: it sees only what is committed
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'group-commit-'));
    db = openDatabase(path.join(dir, 'g.db'));
    store = new SqliteStore(db);
    other = new Database(path.join(dir, 'g.db'), { readonly: true });
  });
  afterEach(() => {
    other.close();
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const insert = (id: string) => async (tx: Tx) => {
    await tx.run(
      `INSERT INTO workspaces (id, name, plan, created_at) VALUES (?, 'n', 'pro', '2026-01-01T00:00:00.000Z')`,
      id,
    );
    return id;
  };
  const committed = () => other.prepare('SELECT id FROM workspaces ORDER BY id').pluck().all();

  describe('the SQLite store: group commit', () => {
    it('commits the writes of one turn together, and settles each caller after the commit', async () => {
      const seenByOthers: unknown[][] = [];
      const writes = [
        store.write(insert('ws_a')),
        store.write((tx) => {
          // Inside the group, ws_a is written but not committed: one transaction, not one per request.
          seenByOthers.push(committed());
          return insert('ws_b')(tx);
        }),
        store.write(insert('ws_c')),
      ];
      expect(committed()).toEqual([]); // nothing runs before the turn ends
      await expect(Promise.all(writes)).resolves.toEqual(['ws_a', 'ws_b', 'ws_c']);
      expect(seenByOthers).toEqual([[]]);
      expect(committed()).toEqual(['ws_a', 'ws_b', 'ws_c']);
    });

    it('rolls back only the write that failed, and tells only its caller', async () => {
      const results = await Promise.allSettled([
        store.write(insert('ws_a')),
        store.write(async (tx) => {
          await insert('ws_half')(tx);
          throw new Error('invalid');
        }),
        store.write(insert('ws_c')),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((results[1] as PromiseRejectedResult).reason).toEqual(new Error('invalid'));
      expect(committed()).toEqual(['ws_a', 'ws_c']); // ws_half was rolled back to its savepoint
    });

    it('rejects every caller and writes nothing when the commit itself fails', async () => {
      // A deferred foreign key is checked at COMMIT: the whole group fails there, after every write ran.
      db.pragma('defer_foreign_keys = ON');
      const results = await Promise.allSettled([
        store.write(insert('ws_a')),
        store.write((tx) =>
          tx.run(
            `INSERT INTO assistants (id, workspace_id, name, created_at) VALUES ('ast_x', 'ws_missing', 'n', 'now')`,
          ),
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
        store.write(insert('ws_a')),
        store.write(async (tx) => {
          await insert('ws_b')(tx);
          db.exec('ROLLBACK'); // what SQLite does by itself on some storage errors
          throw full;
        }),
        store.write(insert('ws_c')),
      ];
      const outcomes = await Promise.allSettled(writes);
      expect(outcomes).toEqual([
        { status: 'rejected', reason: full },
        { status: 'rejected', reason: full },
        { status: 'rejected', reason: full },
      ]);
      expect(committed()).toEqual([]);
      expect(db.inTransaction).toBe(false);
      await expect(store.write(insert('ws_d'))).resolves.toBe('ws_d'); // and the next group runs as usual
    });

    it('makes a read outside the writes wait for the open group, so it never sees a write a savepoint undoes', async () => {
      let readDuringGroup: Promise<string[]> | null = null;
      const outcomes = await Promise.allSettled([
        store.write(async (tx) => {
          await insert('ws_undone')(tx);
          // Another request's read, arriving while this group is open on the same connection.
          readDuringGroup = store.values<string>('SELECT id FROM workspaces ORDER BY id');
          await tx.one('SELECT 1'); // the group goes on awaiting its own statements meanwhile
          throw new Error('rolled back');
        }),
        store.write(insert('ws_kept')),
      ]);
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'fulfilled']);
      await expect(readDuringGroup!).resolves.toEqual(['ws_kept']);
    });

    // The delivery worker's claims, launches and records (delivery/worker.ts URGENT): each would otherwise wait
    // a whole turn of the event loop, several per delivery.
    it('commits an urgent write before the turn ends, with the writes already waiting in its group', async () => {
      const order: string[] = [];
      setImmediate(() => order.push('end of turn'));
      const waiting = store.write(insert('ws_a')).then((id) => order.push(id));
      const urgent = store.write(insert('ws_b'), { urgent: true }).then((id) => order.push(id));
      await Promise.all([waiting, urgent]);
      expect(order).toEqual(['ws_a', 'ws_b']); // both committed, and the turn not over yet
      expect(committed()).toEqual(['ws_a', 'ws_b']);
      await new Promise((resolve) => setImmediate(resolve));
      expect(order).toEqual(['ws_a', 'ws_b', 'end of turn']); // the group's own turn found nothing left to commit
      expect(db.inTransaction).toBe(false);
    });

    it('opens one group at a time when urgent writes arrive while a group is open and after it', async () => {
      const writes: Promise<string>[] = [];
      writes.push(
        store.write(async (tx) => {
          const id = await insert('ws_a')(tx);
          // Arriving mid-group (another continuation in the same chain of microtasks): it must wait for COMMIT.
          writes.push(store.write(insert('ws_b'), { urgent: true }), store.write(insert('ws_c'), { urgent: true }));
          expect(committed()).toEqual([]);
          return id;
        }),
      );
      writes.push(store.write(insert('ws_d')));
      await new Promise((resolve) => setImmediate(resolve));
      await expect(Promise.all(writes)).resolves.toEqual(['ws_a', 'ws_d', 'ws_b', 'ws_c']);
      expect(committed()).toEqual(['ws_a', 'ws_b', 'ws_c', 'ws_d']);
      expect(db.inTransaction).toBe(false);
    });

    it('runs a write nested in a transaction inside it: one commit, and rolled back with it', async () => {
      await expect(
        store.write(async (tx) => {
          await tx.write(insert('ws_nested'));
          expect(await tx.values('SELECT id FROM workspaces')).toEqual(['ws_nested']);
          throw new Error('the outer write fails');
        }),
      ).rejects.toThrow('the outer write fails');
      expect(committed()).toEqual([]);
    });

    it('answers value, values, one and all as the interface says, null when there is no row', async () => {
      await store.write(insert('ws_a'));
      await store.write(insert('ws_b'));
      expect(await store.value('SELECT id FROM workspaces WHERE id = ?', 'ws_none')).toBeNull();
      expect(await store.one('SELECT id FROM workspaces WHERE id = ?', 'ws_none')).toBeNull();
      expect(await store.values('SELECT id FROM workspaces ORDER BY id')).toEqual(['ws_a', 'ws_b']);
      expect(await store.all('SELECT id FROM workspaces ORDER BY id DESC')).toEqual([{ id: 'ws_b' }, { id: 'ws_a' }]);
      expect(await store.run(`UPDATE workspaces SET name = 'x'`)).toEqual({ changes: 2 });
    });
  });
});

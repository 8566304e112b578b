/**
 * The PostgreSQL store (partner-api/db/pg-store.ts) on a real PostgreSQL: placeholders, numbers, write
 * transactions (rollback, nesting, retry), closing, LISTEN/NOTIFY. Runs on every engine's run: it needs a
 * PostgreSQL, not the run's engine (test/support/pg.ts starts a private cluster when the run has none).
 */
import { isUniqueViolation } from '../../partner-api/db/errors';
import { openPgStore, type PgStore, prepare } from '../../partner-api/db/pg-store';
import type { Tx } from '../../partner-api/db/store';
import { closeAfterFile, freshPgDatabaseUrl, PG_SETUP_TIMEOUT_MS } from '../support/pg';

let url: string;
let store: PgStore;

beforeAll(async () => {
  url = await freshPgDatabaseUrl();
  store = closeAfterFile(await openPgStore(url));
  await store.run('CREATE TABLE t (id INTEGER PRIMARY KEY, at_ms BIGINT, amount NUMERIC, label TEXT)');
}, PG_SETUP_TIMEOUT_MS);

beforeEach(() => store.run('DELETE FROM t'));

/** Resolves when `count` callers have reached it: makes two transactions overlap where a test needs them to. */
function barrier(count: number): () => Promise<void> {
  let arrived = 0;
  let open: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return () => {
    if (++arrived === count) open();
    return opened;
  };
}

describe('placeholders', () => {
  it('numbers each ? outside quoted text and comments, in order', () => {
    expect(prepare(`SELECT ? , '?', "a?b", '' || '?''?' , ? -- what?\n, ? /* ? */`).text).toBe(
      `SELECT $1 , '?', "a?b", '' || '?''?' , $2 -- what?\n, $3 /* ? */`,
    );
    expect(prepare('SELECT 1').text).toBe('SELECT 1');
  });

  it('binds parameters in order, leaving question marks inside literals alone', async () => {
    const row = await store.one<{ a: string; q: string; b: number }>(
      `SELECT CAST(? AS TEXT) AS a, 'why?' AS q, CAST(? AS INTEGER) AS b`,
      'first',
      2,
    );
    expect(row).toEqual({ a: 'first', q: 'why?', b: 2 });
  });

  it('takes CAST(? AS TEXT) IS NULL for optional filters (ADR 0010)', async () => {
    await store.run('INSERT INTO t (id, label) VALUES (1, ?), (2, ?)', 'x', 'y');
    const filter = 'SELECT id FROM t WHERE (CAST(? AS TEXT) IS NULL OR label = ?) ORDER BY id';
    expect(await store.all(filter, null, null)).toEqual([{ id: 1 }, { id: 2 }]);
    expect(await store.all(filter, 'y', 'y')).toEqual([{ id: 2 }]);
  });

  it('refuses a parameter count that does not match the placeholders, naming the statement', async () => {
    await expect(store.one('SELECT ? AS a, ? AS b', 1)).rejects.toThrow(/2 placeholders but was given 1/);
  });
});

describe('reads and numbers', () => {
  it('gives BIGINT and NUMERIC back as numbers: Date.now() round-trips exactly', async () => {
    const now = Date.now();
    await store.run('INSERT INTO t (id, at_ms, amount) VALUES (?, ?, ?)', 1, now, 12.5);
    const row = await store.one<{ at_ms: unknown; amount: unknown }>('SELECT at_ms, amount FROM t WHERE id = 1');
    expect(row).toEqual({ at_ms: now, amount: 12.5 });
    expect(await store.value('SELECT COUNT(*) FROM t')).toBe(1);
    expect(await store.value('SELECT SUM(at_ms) FROM t')).toBe(now);
  });

  it('fails a read of an integer beyond 2^53 instead of rounding it, and the store stays usable', async () => {
    await store.run('INSERT INTO t (id, at_ms) VALUES (1, 9007199254740993)');
    await expect(store.value('SELECT at_ms FROM t')).rejects.toThrow(/9007199254740993.*2\^53/);
    expect(await store.value('SELECT at_ms - 9007199254740000 FROM t')).toBe(993);
  });

  it('value: the first column of the first row, null when there is no row; one: null when none', async () => {
    expect(await store.value('SELECT label FROM t')).toBeNull();
    expect(await store.one('SELECT label FROM t')).toBeNull();
    await store.run(`INSERT INTO t (id, label) VALUES (1, 'a'), (2, 'b')`);
    expect(await store.value('SELECT label, id FROM t ORDER BY id DESC')).toBe('b');
  });

  it('run: resolves to the number of rows changed', async () => {
    await store.run(`INSERT INTO t (id, label) VALUES (1, 'a'), (2, 'a'), (3, 'b')`);
    expect(await store.run(`UPDATE t SET label = 'c' WHERE label = ?`, 'a')).toEqual({ changes: 2 });
    expect(await store.run(`DELETE FROM t WHERE id = 99`)).toEqual({ changes: 0 });
  });
});

describe('write', () => {
  it('commits what fn wrote and resolves to what fn returns', async () => {
    const result = await store.write(async (tx) => {
      expect(tx.inTransaction).toBe(true);
      await tx.run('INSERT INTO t (id) VALUES (1)');
      return tx.value<number>('SELECT COUNT(*) FROM t');
    });
    expect(result).toBe(1);
    expect(await store.value('SELECT COUNT(*) FROM t')).toBe(1);
  });

  it('rolls every write back when fn throws, and rejects with what fn threw', async () => {
    const thrown = new Error('changed my mind');
    await expect(
      store.write(async (tx) => {
        await tx.run('INSERT INTO t (id) VALUES (1)');
        await tx.run('INSERT INTO t (id) VALUES (2)');
        throw thrown;
      }),
    ).rejects.toBe(thrown);
    expect(await store.value('SELECT COUNT(*) FROM t')).toBe(0);
  });

  it('is invisible to other connections until it commits', async () => {
    let seenMeanwhile: unknown;
    await store.write(async (tx) => {
      await tx.run('INSERT INTO t (id) VALUES (1)');
      seenMeanwhile = await store.value('SELECT COUNT(*) FROM t');
    });
    expect(seenMeanwhile).toBe(0);
    expect(await store.value('SELECT COUNT(*) FROM t')).toBe(1);
  });

  it('a nested write runs in the same transaction: the outer rollback undoes it', async () => {
    await expect(
      store.write(async (tx) => {
        await tx.write(async (inner) => {
          await inner.run('INSERT INTO t (id) VALUES (1)');
        });
        expect(await tx.value('SELECT COUNT(*) FROM t')).toBe(1);
        throw new Error('outer fails');
      }),
    ).rejects.toThrow('outer fails');
    expect(await store.value('SELECT COUNT(*) FROM t')).toBe(0);
  });

  it('a nested write that throws undoes only its own writes, even after a failed statement', async () => {
    await store.write(async (tx) => {
      await tx.run('INSERT INTO t (id) VALUES (1)');
      const nested = tx.write(async (inner) => {
        await inner.run('INSERT INTO t (id) VALUES (2)');
        await inner.run('INSERT INTO t (id) VALUES (1)'); // duplicate key: the statement fails
      });
      expect(isUniqueViolation(await nested.catch((error: unknown) => error))).toBe(true);
      await tx.run('INSERT INTO t (id) VALUES (3)');
    });
    expect(await store.all('SELECT id FROM t ORDER BY id')).toEqual([{ id: 1 }, { id: 3 }]);
  });

  it('refuses statements on a transaction that has finished', async () => {
    let kept: Tx | undefined;
    await store.write((tx) => {
      kept = tx;
      return Promise.resolve();
    });
    await expect(kept!.run('INSERT INTO t (id) VALUES (1)')).rejects.toThrow(/already committed or rolled back/);
  });

  it('runs a write again after a serialization failure (40001), until it commits', async () => {
    // Two SERIALIZABLE writes each read the count and insert count + 1: run together, PostgreSQL aborts one.
    const bothRead = barrier(2);
    let calls = 0;
    const writeNext = (id: number) =>
      store.write(
        async (tx) => {
          calls++;
          const count = (await tx.value<number>('SELECT COUNT(*) FROM t'))!;
          if (calls <= 2) await bothRead();
          await tx.run('INSERT INTO t (id, amount) VALUES (?, ?)', id, count + 1);
        },
        { isolation: 'serializable' },
      );
    await Promise.all([writeNext(1), writeNext(2)]);
    expect(calls).toBe(3);
    expect(await store.all('SELECT amount FROM t ORDER BY amount')).toEqual([{ amount: 1 }, { amount: 2 }]);
  });

  it('runs a write again after a deadlock (40P01)', async () => {
    await store.run('INSERT INTO t (id, amount) VALUES (1, 0), (2, 0)');
    const bothLocked = barrier(2);
    let calls = 0;
    const lockBoth = (first: number, second: number) =>
      store.write(async (tx) => {
        calls++;
        await tx.run('UPDATE t SET amount = amount + 1 WHERE id = ?', first);
        if (calls <= 2) await bothLocked();
        await tx.run('UPDATE t SET amount = amount + 1 WHERE id = ?', second);
      });
    await Promise.all([lockBoth(1, 2), lockBoth(2, 1)]);
    expect(calls).toBe(3);
    expect(await store.all('SELECT amount FROM t ORDER BY id')).toEqual([{ amount: 2 }, { amount: 2 }]);
  });

  it('gives up after writeAttempts tries, with the database error', async () => {
    const few = closeAfterFile(await openPgStore(url, { migrate: false, writeAttempts: 3, max: 1 }));
    let calls = 0;
    const failing = few.write(async (tx) => {
      calls++;
      await tx.run(`DO $$ BEGIN RAISE EXCEPTION 'forced' USING ERRCODE = 'serialization_failure'; END $$`);
    });
    await expect(failing).rejects.toMatchObject({ code: '40001', message: 'forced' });
    expect(calls).toBe(3);
  });

  it('does not run a write again after any other error', async () => {
    let calls = 0;
    const failing = store.write(async (tx) => {
      calls++;
      await tx.run('INSERT INTO t (id) VALUES (1), (1)');
    });
    expect(isUniqueViolation(await failing.catch((error: unknown) => error))).toBe(true);
    expect(calls).toBe(1);
  });
});

describe('close', () => {
  it('lets a write in flight commit, then refuses new work', async () => {
    const own = await openPgStore(url, { migrate: false });
    const inFlight = own.write(async (tx) => {
      await tx.run('SELECT pg_sleep(0.2)');
      await tx.run('INSERT INTO t (id) VALUES (7)');
    });
    await new Promise((resolve) => setTimeout(resolve, 50)); // the write holds its connection
    const closed = own.close();
    await inFlight;
    await closed;
    await expect(own.one('SELECT 1')).rejects.toThrow();
    await own.close(); // again: nothing to do
    expect(await store.value('SELECT id FROM t')).toBe(7);
  });
});

describe('listen and notify', () => {
  /** A handler that keeps what it is called with; `next()` resolves with its next call. */
  function recorder() {
    const payloads: (string | null)[] = [];
    const waiting: ((payload: string | null) => void)[] = [];
    return {
      payloads,
      handler: (payload: string | null) => {
        payloads.push(payload);
        waiting.shift()?.(payload);
      },
      next: () => new Promise<string | null>((resolve) => waiting.push(resolve)),
    };
  }

  it('delivers a NOTIFY from another instance to the listener of its channel only', async () => {
    const other = closeAfterFile(await openPgStore(url, { migrate: false }));
    const wakeUps = recorder();
    const otherChannel = recorder();
    const stop = await store.listen('deliveries', wakeUps.handler);
    await store.listen('something_else', otherChannel.handler);
    const next = wakeUps.next();
    await other.notify('deliveries', 'ws_1');
    expect(await next).toBe('ws_1');
    await stop();
    await other.notify('deliveries', 'ws_2');
    const x = otherChannel.next();
    await other.notify('something_else', 'x'); // notifications arrive in order: once this one is in, so was ws_2
    expect(await x).toBe('x');
    expect(wakeUps.payloads).toEqual(['ws_1']);
  });

  it('makes its connection again when it is lost, says so (null), and hears later notifications', async () => {
    const wakeUps = recorder();
    await store.listen('reconnecting', wakeUps.handler);
    const reconnected = wakeUps.next();
    const ended = await store.value<number>(
      `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'illumichat-listener'`,
    );
    expect(ended).toBe(1);
    expect(await reconnected).toBeNull();
    const next = wakeUps.next();
    await store.notify('reconnecting', 'after');
    expect(await next).toBe('after');
  });
});

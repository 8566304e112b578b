/**
 * Storage faults (issue 8 §6): with a full, failing or read-only disk every write answers 503
 * storage_unavailable with Retry-After in the error shape, logs one line (no "unhandled error" stack),
 * stores nothing of the refused request and loses nothing acknowledged before; writes work again once the
 * disk does. The errors are SQLite's own: injected through SQLite (max_page_count, query_only, a function
 * a trigger calls), and on a real tiny filesystem where the tests may mount one.
 */
import fs from 'node:fs';
import path from 'node:path';

import Database, { SqliteError } from 'better-sqlite3';

import { sqliteHandle } from '../../partner-api/db/sqlite-store';
import { tableCounts } from '../support/api-events';
import { api, type ApiResponse, type ApiServer, startApiServer } from '../support/api-server';
import { mountSmallDisk, type SmallDisk, smallDiskUnavailable } from '../support/small-disk';
import { describeEngine } from '../support/test-store';

describeEngine(
  'sqlite',
  'faults injected through SQLite (max_page_count, query_only, triggers, a small disk)',
  'storage faults',
  () => {
    function expectStorageUnavailable(res: ApiResponse): void {
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('30');
      expect(res.body).toEqual({
        error: { code: 'storage_unavailable', message: expect.stringMatching(/disk is full or failing/) },
      });
    }

    function expectOneLinePerRefusal(server: ApiServer, refusals: number, code: RegExp): void {
      const errors = server.logs.filter((l) => l.level === 'error');
      expect(errors.map((l) => l.message)).toEqual(Array(refusals).fill('storage unavailable: request refused'));
      for (const line of errors) {
        expect(line.fields?.code).toMatch(code);
        expect(String(line.fields?.error)).not.toMatch(/\n\s+at /); // a message, not a stack
      }
    }

    const count = async (server: ApiServer, table: string) =>
      (await server.ctx.db.value<number>(`SELECT count(*) FROM ${table}`))!;

    describe('injected storage faults', () => {
      let server: ApiServer;
      let key: string;
      let assistantId: string;
      beforeEach(async () => {
        server = await startApiServer();
        const setup = await server.setup();
        key = setup.key;
        assistantId = setup.assistant.id;
      });
      afterEach(async () => await server.close());

      // Kinds of write: keyed, keyed with an Idempotency-Key, the public widget. Each row needs new pages.
      const writes: [string, (s: ApiServer) => Promise<ApiResponse>][] = [
        [
          'POST /v1/contacts',
          () => api(server.url, key).post('/v1/contacts', { email: 'full@example.com', notes: 'n'.repeat(9_000) }),
        ],
        [
          'POST /v1/tickets with an Idempotency-Key',
          () =>
            api(server.url, key).post(
              '/v1/tickets',
              { subject: 'Disk', description: 'd'.repeat(9_000) },
              { 'idempotency-key': 'disk-1' },
            ),
        ],
        [
          'POST /v1/widget/…/conversations (public)',
          () =>
            api(server.url).post(`/v1/widget/assistants/${assistantId}/conversations`, { message: 'm'.repeat(9_000) }),
        ],
      ];

      it.each(writes)(
        '%s on a full database (SQLITE_FULL) answers 503, stores nothing, and works once there is room',
        async (_name, write) => {
          const acknowledged = await api(server.url, key).post('/v1/contacts', { email: 'before@example.com' });
          expect(acknowledged.status).toBe(201);
          const before = await tableCounts(server);
          const pages = sqliteHandle(server.ctx.store).pragma('page_count', { simple: true }) as number;
          sqliteHandle(server.ctx.store).pragma(`max_page_count = ${pages}`); // the file may not grow: SQLite answers SQLITE_FULL

          expectStorageUnavailable(await write(server));
          expect(await tableCounts(server)).toEqual(before);
          expectOneLinePerRefusal(server, 1, /^SQLITE_FULL$/);
          // Reads still work (the key's last-used bookkeeping is skipped, not turned into an error).
          expect((await api(server.url, key).get('/v1/contacts?email=before@example.com')).status).toBe(200);

          sqliteHandle(server.ctx.store).pragma('max_page_count = 1073741823');
          expect((await write(server)).status).toBe(201);
          expect(
            JSON.stringify((await api(server.url, key).get('/v1/contacts?email=before@example.com')).body),
          ).toContain('"before@example.com"');
        },
      );

      it('answers 503 on a read-only database (SQLITE_READONLY) while reads keep working', async () => {
        sqliteHandle(server.ctx.store).pragma('query_only = ON');
        expectStorageUnavailable(await api(server.url, key).post('/v1/contacts', { email: 'ro@example.com' }));
        expect((await api(server.url, key).get('/v1/me')).status).toBe(200);
        expectOneLinePerRefusal(server, 1, /^SQLITE_READONLY/);
        sqliteHandle(server.ctx.store).pragma('query_only = OFF');
        expect((await api(server.url, key).post('/v1/contacts', { email: 'ro@example.com' })).status).toBe(201);
      });

      // The whole kind: every storage code SQLite can raise mid-write, raised from inside the INSERT.
      it.each([
        'SQLITE_FULL',
        'SQLITE_IOERR',
        'SQLITE_IOERR_WRITE',
        'SQLITE_IOERR_FSYNC',
        'SQLITE_IOERR_SHORT_READ',
        'SQLITE_IOERR_NOMEM',
        'SQLITE_READONLY',
        'SQLITE_READONLY_DBMOVED',
        'SQLITE_CANTOPEN',
      ])('answers 503 for %s raised inside the write, and stores nothing', async (code) => {
        const db = sqliteHandle(server.ctx.store);
        db.function('storage_fault', () => {
          throw new SqliteError('disk I/O error', code);
        });
        db.exec(`CREATE TEMP TRIGGER failing_disk BEFORE INSERT ON contacts BEGIN SELECT storage_fault(); END`);
        const before = await count(server, 'contacts');
        expectStorageUnavailable(await api(server.url, key).post('/v1/contacts', { email: 'io@example.com' }));
        expect(await count(server, 'contacts')).toBe(before);
        expectOneLinePerRefusal(server, 1, new RegExp(`^${code}$`));
        db.exec('DROP TRIGGER failing_disk');
        expect((await api(server.url, key).post('/v1/contacts', { email: 'io@example.com' })).status).toBe(201);
      });

      it('still answers a bug 500 internal_error (only storage faults are 503)', async () => {
        const db = sqliteHandle(server.ctx.store);
        db.function('storage_fault', () => {
          throw new SqliteError('no such column: x', 'SQLITE_ERROR');
        });
        db.exec(`CREATE TEMP TRIGGER buggy BEFORE INSERT ON contacts BEGIN SELECT storage_fault(); END`);
        const res = await api(server.url, key).post('/v1/contacts', { email: 'bug@example.com' });
        expect(res.status).toBe(500);
        expect(res.body.error.code).toBe('internal_error');
      });
    });

    (smallDiskUnavailable ? describe.skip : describe)(
      `a full disk (a 3 MB tmpfs)${smallDiskUnavailable ? `: skipped, ${smallDiskUnavailable}` : ''}`,
      () => {
        let disk: SmallDisk;
        afterEach(() => disk?.remove());

        it('answers 503 once the disk is full, loses none of what it acknowledged, and takes writes again once there is room', async () => {
          disk = mountSmallDisk(3 * 1024 * 1024);
          const spare = path.join(disk.dir, 'spare');
          fs.writeFileSync(spare, Buffer.alloc(512 * 1024)); // freed later, as an operator would
          const dbPath = path.join(disk.dir, 'api.db');
          const server = await startApiServer({ dbPath });
          let closed = false;
          try {
            const { key } = await server.setup();
            const client = api(server.url, key);
            const acknowledged: string[] = [];
            let refused: ApiResponse | undefined;
            // Contacts of 9 KB, ten at a time (so several share a group commit), until the disk refuses.
            for (let round = 0; round < 100 && !refused; round++) {
              const batch = await Promise.all(
                Array.from({ length: 10 }, (_, i) =>
                  client.post('/v1/contacts', { email: `c${round}-${i}@example.com`, notes: 'x'.repeat(9_000) }),
                ),
              );
              for (const res of batch) {
                if (res.status === 201) acknowledged.push(res.body.email);
                else refused ??= res;
              }
              for (const res of batch) expect([201, 503]).toContain(res.status);
            }
            expect(refused).toBeDefined();
            expectStorageUnavailable(refused!);
            expect(server.logs.filter((l) => l.message === 'unhandled error')).toEqual([]);
            expect(
              server.logs
                .filter((l) => l.level === 'error')
                .every((l) => l.message === 'storage unavailable: request refused'),
            ).toBe(true);
            expect(acknowledged.length).toBeGreaterThan(10);

            fs.rmSync(spare); // room again
            const after = await client.post('/v1/contacts', { email: 'after@example.com' });
            expect(after.status).toBe(201);
            acknowledged.push(after.body.email);

            await server.close();
            closed = true;
            const reopened = new Database(dbPath, { readonly: true });
            const stored = new Set(reopened.prepare('SELECT email FROM contacts').pluck().all() as string[]);
            reopened.close();
            expect(acknowledged.filter((email) => !stored.has(email))).toEqual([]);
          } finally {
            if (!closed) await server.close();
          }
        });
      },
    );
  },
);

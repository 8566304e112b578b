import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BroadcastChannel } from 'node:worker_threads';

import { startCheckpointer } from '../../partner-api/db/checkpointer';
import { INLINE_CHECKPOINT_PAGES, openDatabase } from '../../partner-api/db/open';
import { type Logger, silentLogger } from '../../partner-api/lib/log';
import { waitUntil } from '../support/api-server';
import { at } from '../support/items';
import { fillDisk, mountSmallDisk, smallDiskUnavailable } from '../support/small-disk';
import { describeEngine } from '../support/test-store';

describeEngine('sqlite', "the checkpoint thread and the WAL are SQLite's", 'checkpoints', () => {
  const scriptedThread = path.join(__dirname, '..', 'support', 'scripted-checkpointer-thread.js');

  /** Tells the scripted thread what to do next ('die', 'fail', 'recover'). */
  function tellThread(what: 'die' | 'fail' | 'recover'): void {
    const channel = new BroadcastChannel('scripted-checkpointer');
    channel.postMessage(what);
    channel.close();
  }

  const autocheckpoint = (db: ReturnType<typeof openDatabase>) => db.pragma('wal_autocheckpoint', { simple: true });

  describe('the checkpoint thread', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'checkpointer-'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('keeps the WAL bounded while the connection it serves checkpoints nothing itself', async () => {
      const file = path.join(dir, 'c.db');
      const db = openDatabase(file);
      const checkpointer = await startCheckpointer(db, silentLogger, { intervalMs: 10, restartAtPages: 1_000 });
      try {
        expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
        const insert = db.prepare(
          `INSERT INTO workspaces (id, name, plan, created_at) VALUES (?, ?, 'pro', '2026-01-01T00:00:00.000Z')`,
        );
        let peak = 0;
        // 90 MB of rows, one commit each, in rounds with a breath between them as a server's event loop has.
        for (let round = 0; round < 30; round++) {
          for (let i = 0; i < 50; i++) insert.run(`ws_${round}_${i}`, 'x'.repeat(60_000));
          peak = Math.max(peak, fs.statSync(`${file}-wal`).size);
          await sleep(5);
        }
        expect(peak).toBeGreaterThan(4 * 1024 * 1024); // the log did fill past the restart bound…
        expect(peak).toBeLessThan(40 * 1024 * 1024); // …and restarts kept it far below the 90 MB written
        expect(db.prepare('SELECT count(*) FROM workspaces').pluck().get()).toBe(1500);
      } finally {
        await checkpointer.stop();
        db.close();
      }
    });

    it('hands checkpoints back to the connection when it stops', async () => {
      const db = openDatabase(path.join(dir, 'd.db'));
      const checkpointer = await startCheckpointer(db, silentLogger);
      expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
      await checkpointer.stop();
      expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(INLINE_CHECKPOINT_PAGES);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      db.close();
    });

    // The thread dies when the test says so, not on a timer: under load a 20 ms timer used to fire before the
    // connection had even taken checkpoints over.
    it('hands checkpoints back to the connection, and says so, when the thread dies', async () => {
      const db = openDatabase(path.join(dir, 'e.db'));
      const errors: string[] = [];
      const log: Logger = {
        info() {},
        error: (message, fields) => errors.push(`${message}: ${String(fields?.error)}`),
      };
      const checkpointer = await startCheckpointer(db, log, { threadFile: scriptedThread });
      expect(autocheckpoint(db)).toBe(0);
      tellThread('die');
      await waitUntil(
        () => (autocheckpoint(db) === INLINE_CHECKPOINT_PAGES ? true : undefined),
        10_000,
        'inline checkpoints back on',
      );
      await checkpointer.stop(); // waits for the exit that follows the error: it adds no second line
      expect(errors).toEqual([
        'checkpoint thread stopped; checkpoints run inline again: the checkpoint thread fell over',
      ]);
      db.close();
    });

    it("hands checkpoints back while the thread's passes fail, and takes them back when one succeeds", async () => {
      const db = openDatabase(path.join(dir, 'f.db'));
      const lines: string[] = [];
      const log: Logger = {
        info: (message) => lines.push(message),
        error: (message, fields) => lines.push(`${message}: ${String(fields?.error)}`),
      };
      const checkpointer = await startCheckpointer(db, log, { threadFile: scriptedThread });
      try {
        for (let round = 0; round < 2; round++) {
          tellThread('fail');
          await waitUntil(
            () => (autocheckpoint(db) === INLINE_CHECKPOINT_PAGES ? true : undefined),
            10_000,
            'inline checkpoints on',
          );
          tellThread('recover');
          await waitUntil(() => (autocheckpoint(db) === 0 ? true : undefined), 10_000, 'the thread back in charge');
        }
        expect(lines).toEqual([
          'checkpoint failed; checkpoints run inline until the thread succeeds again: database or disk is full',
          'checkpoint thread recovered; it runs the checkpoints again',
          'checkpoint failed; checkpoints run inline until the thread succeeds again: database or disk is full',
          'checkpoint thread recovered; it runs the checkpoints again',
        ]);
        await checkpointer.stop();
        expect(autocheckpoint(db)).toBe(INLINE_CHECKPOINT_PAGES);
      } finally {
        await checkpointer.stop();
        db.close();
      }
    });

    // Issue 8 §6 on a real full disk: the real thread's pass fails with SQLITE_FULL, and it comes back.
    (smallDiskUnavailable ? it.skip : it)(
      `rides out a full disk and takes checkpoints back once there is room (a 2 MB tmpfs)${smallDiskUnavailable ? `: skipped, ${smallDiskUnavailable}` : ''}`,
      async () => {
        const disk = mountSmallDisk(2 * 1024 * 1024);
        try {
          const db = openDatabase(path.join(disk.dir, 'full.db'));
          // 200 KB of rows (about 100 new pages) in the WAL that the database file has no room for yet…
          const insert = db.prepare(
            `INSERT INTO workspaces (id, name, plan, created_at) VALUES (?, ?, 'pro', '2026-01-01T00:00:00.000Z')`,
          );
          for (let i = 0; i < 20; i++) insert.run(`ws_${i}`, 'x'.repeat(10_000));
          // …and then none at all.
          const spare = path.join(disk.dir, 'spare');
          fillDisk(spare);
          const lines: string[] = [];
          const log: Logger = {
            info: (message) => lines.push(message),
            error: (message, fields) => lines.push(`${message}: ${String(fields?.error)}`),
          };
          const checkpointer = await startCheckpointer(db, log, { intervalMs: 10 });
          try {
            await waitUntil(
              () => (autocheckpoint(db) === INLINE_CHECKPOINT_PAGES ? true : undefined),
              10_000,
              'the failed pass reported',
            );
            expect(lines).toEqual([
              expect.stringMatching(/^checkpoint failed; checkpoints run inline until the thread succeeds again: /),
            ]);

            fs.rmSync(spare);
            await waitUntil(() => (autocheckpoint(db) === 0 ? true : undefined), 10_000, 'the thread back in charge');
            expect(lines[1]).toBe('checkpoint thread recovered; it runs the checkpoints again');
            // Every frame of the log is in the database file now.
            const state = at(db.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[], 0);
            expect(state.checkpointed).toBe(state.log);
            expect(db.prepare('SELECT count(*) FROM workspaces').pluck().get()).toBe(20);
          } finally {
            await checkpointer.stop();
            db.close();
          }
        } finally {
          disk.remove();
        }
      },
    );
  });
});

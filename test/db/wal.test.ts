import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { openDatabase } from '../../partner-api/db/open';
import { describeEngine } from '../support/test-store';

describeEngine('sqlite', "the page cache is SQLite's", 'the page cache', () => {
  it('is bounded at 8 MiB rather than the 16 this SQLite build gives: its share of the API RSS target (docs/performance.md)', () => {
    const db = openDatabase(':memory:');
    expect(db.pragma('cache_size', { simple: true })).toBe(-8_000); // KiB, negated: a bound in memory, not pages
    db.close();
  });
});

describeEngine('sqlite', "the write-ahead log is SQLite's", 'the WAL', () => {
  describe('the write-ahead log', () => {
    it('stays bounded under steady writes, one commit each, with no pause for a checkpoint to catch up', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wal-'));
      try {
        const file = path.join(dir, 'w.db');
        const db = openDatabase(file);
        const insert = db.prepare(
          `INSERT INTO workspaces (id, name, plan, created_at) VALUES (?, ?, 'pro', '2026-01-01T00:00:00.000Z')`,
        );
        let peak = 0;
        // About 70 MB of WAL frames in all: more than the autocheckpoint threshold and the size limit.
        for (let i = 0; i < 7000; i++) {
          insert.run(`ws_${i}`, 'x'.repeat(3000));
          if (i % 250 === 0) peak = Math.max(peak, fs.statSync(`${file}-wal`).size);
        }
        expect(peak).toBeGreaterThan(10 * 1024 * 1024); // the load really did fill the WAL…
        expect(peak).toBeLessThan(70 * 1024 * 1024); // …and checkpoints kept it within the 40 MB threshold and the cut-back size
        db.close();
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

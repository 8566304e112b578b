import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCheckpointer } from '../../partner-api/db/checkpointer';
import { openDatabase, type Db } from '../../partner-api/db/open';

/** Writes `rows` workspaces of ~1 KB each, one commit per row, as the API does. */
function write(db: Db, rows: number, tag: string) {
  const insert = db.prepare(`INSERT INTO workspaces (id, name, plan, created_at) VALUES (?, ?, 'pro', '2026-01-01T00:00:00.000Z')`);
  for (let i = 0; i < rows; i++) insert.run(`ws_${tag}_${i}`, 'x'.repeat(1000));
}

const walSize = (file: string) => (fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : 0);

describe('the background checkpointer', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'checkpointer-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('keeps the WAL from growing although the writer never checkpoints inline', async () => {
    const file = path.join(dir, 'a.db');
    const db = openDatabase(file);
    const checkpointer = startCheckpointer(db, { intervalMs: 20 });
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    // Each round appends about 1 MB of WAL; checkpointed between rounds, the writer starts the WAL over.
    for (let round = 0; round < 10; round++) {
      write(db, 100, String(round));
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    expect(walSize(file)).toBeLessThan(4 * 1024 * 1024);
    await checkpointer.stop();
    // The last checkpoint on stop is a full one that truncates the WAL, and every row is in the database.
    expect(walSize(file)).toBe(0);
    expect(db.prepare('SELECT count(*) FROM workspaces').pluck().get()).toBe(1000);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    db.close();
  });

  it('is what lets the WAL grow when it is missing (the control)', () => {
    const file = path.join(dir, 'b.db');
    const db = openDatabase(file);
    db.pragma('wal_autocheckpoint = 0');
    write(db, 1000, 'c');
    expect(walSize(file)).toBeGreaterThan(8 * 1024 * 1024);
    db.close();
  });
});

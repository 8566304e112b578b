/**
 * scripts/pg-cluster.sh: two clusters started at once (two CI jobs, two engineers on one machine) each get
 * their own directory and port and both serve; `stop` ends the server and removes its directory; `stop`
 * refuses a directory it did not make.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

import pg from 'pg';

import { PG_SETUP_TIMEOUT_MS, startCluster, stopCluster } from '../support/pg';

const run = promisify(execFile);
const SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'pg-cluster.sh');

it(
  'starts two clusters at once on their own directories and ports, and stops each completely',
  async () => {
    const clusters = await Promise.all([startCluster(), startCluster()]);
    try {
      const [a, b] = clusters;
      expect(a.dir).not.toBe(b.dir);
      expect(new URL(a.url).port).not.toBe(new URL(b.url).port);
      for (const { url } of clusters) {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        const { rows } = await client.query<{ fsync: string; addresses: string; locale: string }>(
          `SELECT current_setting('fsync') AS fsync, current_setting('listen_addresses') AS addresses,
                  current_setting('lc_collate') AS locale`,
        );
        await client.end();
        expect(rows[0]).toEqual({ fsync: 'off', addresses: '127.0.0.1', locale: 'C' });
      }
    } finally {
      await Promise.all(clusters.map((c) => stopCluster(c.dir)));
    }
    for (const { dir, url } of clusters) {
      expect(fs.existsSync(dir)).toBe(false);
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
      await expect(client.connect()).rejects.toThrow(/ECONNREFUSED/);
    }
  },
  PG_SETUP_TIMEOUT_MS,
);

it('stop refuses a directory it did not start a cluster in, and leaves it alone', async () => {
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'not-a-cluster-'));
  try {
    await expect(run(SCRIPT, ['stop', dir])).rejects.toMatchObject({
      stderr: expect.stringContaining('is not a cluster'),
    });
    expect(fs.existsSync(dir)).toBe(true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

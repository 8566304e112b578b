/**
 * `ts-node bench/retention-batches.ts FILE [RETENTION_HOURS]`: what retention costs on a large database
 * (bench/seed-large.ts makes one; its events span the last 28 hours at 1M). First the start-up conversion to
 * incremental vacuum (a full VACUUM, timed), then one retention pass with the server's batch settings and
 * events and deliveries kept RETENTION_HOURS (default 12), with the checkpoint thread running as in the
 * server. Prints the VACUUM time, each batch's time (p50, p99, max, in ms), rows deleted and the file's size
 * before and after, as JSON. The file is changed: run it on a copy.
 */
import fs from 'node:fs';

import { loadConfig } from '../partner-api/config';
import { startCheckpointer } from '../partner-api/db/checkpointer';
import { openDatabase } from '../partner-api/db/open';
import { convertToIncrementalVacuum, newCursor, pruneBatch } from '../partner-api/db/retention';
import { SqliteStore } from '../partner-api/db/sqlite-store';
import { percentile } from './paced';

async function main(): Promise<void> {
  const [file, hours] = process.argv.slice(2);
  if (!file) throw new Error('usage: ts-node bench/retention-batches.ts FILE [RETENTION_HOURS]');
  const log = {
    info() {},
    error(message: string) {
      process.stderr.write(`${message}\n`);
    },
  };
  const bytesAtStart = fs.statSync(file).size;
  const db = openDatabase(file);
  let started = Date.now();
  const conversion = convertToIncrementalVacuum(db, log, Number.MAX_SAFE_INTEGER);
  const vacuumMs = Date.now() - started;
  const checkpointer = await startCheckpointer(db, log);
  const keepMs = Number(hours ?? 12) * 3_600_000;
  const settings = { ...loadConfig({}).retention, eventsMs: keepMs, deliveriesMs: keepMs };
  const cursor = newCursor();
  const store = new SqliteStore(db);
  const times: number[] = [];
  const deleted = { deliveries: 0, attempts: 0, events: 0, pagesFreed: 0 };
  started = Date.now();
  for (;;) {
    const t0 = performance.now();
    const result = await pruneBatch(store, Date.now(), settings, cursor);
    times.push(performance.now() - t0);
    for (const k of Object.keys(deleted) as (keyof typeof deleted)[]) deleted[k] += result[k];
    // The server leaves the event loop free between batches; here the checkpoint thread gets its turn.
    await new Promise((resolve) => setTimeout(resolve, settings.intervalMs));
    if (result.passDone) break;
  }
  const passMs = Date.now() - started;
  await checkpointer.stop();
  db.pragma('wal_checkpoint(TRUNCATE)');
  const freelist = db.pragma('freelist_count', { simple: true });
  db.close();
  times.sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 10) / 10;
  process.stdout.write(
    `${JSON.stringify(
      {
        conversion,
        vacuumMs,
        bytesAtStart,
        batchSize: settings.batchSize,
        batches: times.length,
        passMs,
        batchMs: { p50: round(percentile(times, 50)), p99: round(percentile(times, 99)), max: round(times.at(-1)!) },
        deleted,
        freelistPagesLeft: freelist,
        bytesAtEnd: fs.statSync(file).size,
      },
      null,
      1,
    )}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error instanceof Error ? error.stack : error)}\n`);
  process.exit(1);
});

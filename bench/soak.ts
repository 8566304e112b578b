/**
 * `npm run bench -- --soak`: issue 12 §4's soak. The API runs on a copy of a database pre-filled with a
 * million events, each with its delivery and attempt (seed-large.ts, one event per ms, so they span the
 * last 1,000 s before the seed; built once into bench-results/cache/ and copied for each run). Retention is
 * set so that its cutoff starts at the oldest seeded event and moves one second per second: at 1,000
 * events/s as many rows age out as come in, and the file should level off at its pre-filled size. Then
 * SOAK_SECONDS (default 180) of widget conversations at 1,000 events/s, open loop (paced.ts), one delivery
 * each to a receiver in its own process; per 30 s window the send→arrival and commit→arrival percentiles
 * of the window's sends, the file's size (database + WAL), the API's RSS and the host's load average.
 * Afterwards every delivery is counted (lost = sends without their delivery), and GET /v1/samples is timed
 * on the million-event workspace with and without an assistant filter.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import Database from 'better-sqlite3';

import { startChild } from './child';
import {
  epochMs,
  fmt,
  latencies,
  loadAverage,
  pacedConversations,
  type PacedRun,
  receiverClient,
  summarize,
  type Summary,
  verdict,
} from './paced';
import type * as seedLarge from './seed-large';

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 180);
const WINDOW_SECONDS = 30;
const RATE = 1000;
const SEEDED_EVENTS = Number(process.env.SOAK_SEEDED_EVENTS ?? 1_000_000);
const SAMPLES_CALLS = 300;
const ROOT = path.join(__dirname, '..');

interface Seeded {
  workspaceId: string;
  assistants: [string, string, string];
  key: string;
}

interface Window {
  index: number;
  sends: number;
  failures: number;
  sendToArrival: Summary;
  commitToArrival: Summary;
  dbMb: number;
  rssMb: number;
  load: number;
}

interface SamplesTiming {
  query: string;
  source: string;
  p50: number;
  p99: number;
  max: number;
}

/** The pre-filled file, built once per schema (migration count) and size, with what seed-large printed. */
function cachedSeed(): { file: string; seeded: Seeded } {
  const migrations = fs.readdirSync(path.join(ROOT, 'partner-api/db/migrations')).length;
  const file = path.join(ROOT, 'bench-results', 'cache', `soak-${SEEDED_EVENTS}-m${migrations}.db`);
  const meta = `${file}.json`;
  if (!fs.existsSync(file) || !fs.existsSync(meta)) {
    console.error(`building the pre-filled database (${SEEDED_EVENTS} events; about 1.5 min per million here)…`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // In this process (ts-node): a one-off, not measured; loaded only when the cache is cold.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { seedLargeDatabase } = require('./seed-large') as typeof seedLarge;
    const seeded = seedLargeDatabase(file, SEEDED_EVENTS, 1);
    fs.writeFileSync(meta, JSON.stringify(seeded));
  }
  return { file, seeded: JSON.parse(fs.readFileSync(meta, 'utf8')) as Seeded };
}

const fileMb = (file: string) =>
  ['', '-wal'].reduce((sum, ext) => sum + (fs.existsSync(file + ext) ? fs.statSync(file + ext).size : 0), 0) / 2 ** 20;
const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

async function timeSamples(url: string, key: string, query: string): Promise<SamplesTiming> {
  const times: number[] = [];
  let source = '';
  for (let i = 0; i < SAMPLES_CALLS + 10; i++) {
    const started = epochMs();
    const res = await fetch(`${url}/v1/samples?${query}`, { headers: { authorization: `Bearer ${key}` } });
    const body = (await res.json()) as { source: string };
    if (res.status !== 200) throw new Error(`GET /v1/samples?${query}: ${res.status} ${JSON.stringify(body)}`);
    source = body.source;
    if (i >= 10) times.push(epochMs() - started);
  }
  const s = summarize(times);
  return { query, source, p50: s.p50, p99: s.p99, max: s.max };
}

export async function runSoak(compiled: string): Promise<string> {
  const began = Date.now();
  const { file: cache, seeded } = cachedSeed();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'illumichat-soak-'));
  const dbPath = path.join(dir, 'soak.db');
  console.error('copying the pre-filled database…');
  fs.copyFileSync(cache, dbPath);
  const span = (() => {
    const db = new Database(dbPath, { readonly: true });
    try {
      const at = (order: string) =>
        Date.parse(db.prepare(`SELECT created_at FROM events ORDER BY seq ${order} LIMIT 1`).pluck().get() as string);
      return {
        oldest: at('ASC'),
        newest: at('DESC'),
        events: db.prepare('SELECT max(seq) FROM events').pluck().get() as number,
      };
    } finally {
      db.close();
    }
  })();
  // The cutoff (now − retention) starts at the oldest seeded event and then moves 1 s per second.
  const retentionMs = Date.now() - span.oldest;
  const startMb = fileMb(dbPath);

  const receiverChild = await startChild<{ url: string }>(compiled, 'servers/receiver.ts');
  const receiver = receiverClient(receiverChild.info.url);
  const api = await startChild<{ url: string; assistants: string[]; pid: number }>(compiled, 'servers/api.ts', {
    BENCH_RECEIVER_URL: receiver.url,
    BENCH_HANGING_URL: 'http://127.0.0.1:9',
    BENCH_ASSISTANTS: '4',
    BENCH_DB_PATH: dbPath,
    BENCH_RETENTION_MS: String(retentionMs),
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-semi-space-size=8`,
  });
  const eventsUrl = (i: number) =>
    `${api.info.url}/v1/widget/assistants/${api.info.assistants[i % api.info.assistants.length]}/conversations`;
  const windows: Window[] = [];
  const runs: PacedRun[] = [];
  try {
    console.error(
      `soak: ${SOAK_SECONDS} s at ${RATE} events/s on ${span.events} pre-filled events (${Math.round(startMb)} MB), retention ${Math.round(retentionMs / 1000)} s…`,
    );
    // Warm-up, not counted: the API's first seconds (JIT, caches of a cold file) at a fifth of the rate.
    await pacedConversations(eventsUrl, RATE / 5, 5);
    await receiver.waitFor(RATE, 30_000);
    await receiver.take();
    // One schedule for the whole soak: window w's sends are due from start + w × 30 s, and each window starts
    // sending when it is due, whether or not the previous window's requests have been answered, so the sender
    // never pauses to let a queue drain unseen. File size, RSS and load are read at each window's end.
    const soakStart = epochMs();
    const pending: Promise<PacedRun>[] = [];
    for (let w = 0; w * WINDOW_SECONDS < SOAK_SECONDS; w++) {
      pending.push(pacedConversations(eventsUrl, RATE, WINDOW_SECONDS, soakStart + w * WINDOW_SECONDS * 1000));
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, soakStart + (w + 1) * WINDOW_SECONDS * 1000 - epochMs())),
      );
      const window: Window = {
        index: w + 1,
        sends: 0,
        failures: 0,
        ...latencies([], new Map()), // filled in once every delivery is in
        dbMb: fileMb(dbPath),
        rssMb: rssMb(api.info.pid),
        load: loadAverage(),
      };
      windows.push(window);
      console.error(
        `  window ${w + 1}: ${Math.round(window.dbMb)} MB, RSS ${Math.round(window.rssMb)} MB, load ${window.load}`,
      );
    }
    runs.push(...(await Promise.all(pending)));
    // runs[i] is window i's sends: one window was pushed per run above.
    const windowOf = (i: number): Window => {
      const window = windows[i];
      if (!window) throw new Error(`no window for run ${i}`);
      return window;
    };
    for (const [i, run] of runs.entries())
      Object.assign(windowOf(i), { sends: run.scheduled.size, failures: run.failures });
    const sent = runs.reduce((n, r) => n + r.scheduled.size, 0);
    await receiver.waitFor(RATE + sent, 120_000);
    const arrivals = await receiver.take(); // 180,000 rows: too many to spread into push()
    for (const [i, run] of runs.entries()) Object.assign(windowOf(i), latencies(arrivals, run.scheduled));
    const delivered = new Set(arrivals.map(([n]) => n)).size;
    const lost = sent - delivered;

    console.error('GET /v1/samples on the million-event workspace…');
    const samples = [
      await timeSamples(api.info.url, seeded.key, 'event_type=chat.conversation_started'),
      await timeSamples(
        api.info.url,
        seeded.key,
        `event_type=chat.conversation_started&assistant_id=${seeded.assistants[0]}`,
      ),
      await timeSamples(
        api.info.url,
        seeded.key,
        `event_type=chat.conversation_started&assistant_id=${seeded.assistants[2]}`,
      ),
    ];
    const peakRssMb = api.peakRssBytes() / 2 ** 20;
    return renderSoak({
      windows,
      lost,
      sent,
      samples,
      peakRssMb,
      startMb,
      retentionMs,
      seededEvents: span.events,
      seconds: (Date.now() - began) / 1000,
    });
  } finally {
    await api.stop();
    await receiverChild.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

interface SoakFigures {
  windows: Window[];
  lost: number;
  sent: number;
  samples: SamplesTiming[];
  peakRssMb: number;
  startMb: number;
  retentionMs: number;
  seededEvents: number;
  seconds: number;
}

function renderSoak(f: SoakFigures): string {
  const lastHalf = f.windows.slice(Math.floor(f.windows.length / 2));
  const sizes = lastHalf.map((w) => w.dbMb);
  const sizeSpread = (Math.max(...sizes) - Math.min(...sizes)) / Math.min(...sizes);
  const rss = lastHalf.map((w) => w.rssMb);
  const rssSpread = (Math.max(...rss) - Math.min(...rss)) / Math.min(...rss);
  const worst = f.windows.reduce((a, b) => (b.sendToArrival.p99 > a.sendToArrival.p99 ? b : a));
  const worstSamples = Math.max(...f.samples.map((s) => s.p99));
  const row = (w: Window) =>
    `| ${w.index} (${fmt((w.index - 1) * WINDOW_SECONDS)}-${fmt(w.index * WINDOW_SECONDS)} s) | ${fmt(w.sends)} | ${w.failures} | ${fmt(w.sendToArrival.p50)} | **${fmt(w.sendToArrival.p99)}** | ${fmt(w.sendToArrival.max)} | ${fmt(w.commitToArrival.p50)} | ${fmt(w.commitToArrival.p99)} | ${fmt(w.dbMb)} | ${fmt(w.rssMb)} | ${fmt(w.load, 1)} |`;
  const samplesRow = (s: SamplesTiming) =>
    `| \`${s.query.replace(/assistant_id=\w+/, (m) => m.slice(0, 17) + '…')}\` | ${s.source} | ${fmt(s.p50, 2)} | **${fmt(s.p99, 2)}** | ${fmt(s.max, 2)} |`;
  return `# Benchmarks: the soak

<!-- Written by \`npm run bench -- --soak --write-docs\` (\`./dev bench --soak --write-docs\`); rerun it to refresh. -->

Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ${fmt(os.totalmem() / 2 ** 30)} GiB,
Node ${process.versions.node}. The run took ${fmt(f.seconds)} s. The API, the receiver and the load generator are separate
processes on the same cores, shared with other work: the host's 1-minute load average is beside every window.

The API starts on a copy of a database pre-filled with ${fmt(f.seededEvents)} events, each with its delivery and attempt
(${fmt(f.startMb)} MB), and makes ${fmt(RATE)} events/s for ${fmt(f.windows.length * WINDOW_SECONDS)} s (open loop, one delivery each, to a receiver in
its own process), after 5 s at a fifth of the rate that are not counted. Retention keeps events and deliveries ${fmt(f.retentionMs / 1000)} s, so its cutoff starts at the oldest
pre-filled event and as many rows age out as come in. Method: docs/performance.md, "How the bench measures".

| window | sends | failed | send→arrival p50 ms | p99 ms | max ms | commit→arrival p50 ms | p99 ms | file MB | API RSS MB | host load |
|---|---|---|---|---|---|---|---|---|---|---|
${f.windows.map(row).join('\n')}

Deliveries: ${fmt(f.sent - f.lost)} of ${fmt(f.sent)} sends arrived (${f.lost} lost). Peak API RSS over the run: ${fmt(f.peakRssMb)} MB.
Over the last half, the file's size moved by ${fmt(sizeSpread * 100, 1)}% and RSS by ${fmt(rssSpread * 100, 1)}%.

## GET /v1/samples on the million-event workspace

${SAMPLES_CALLS} sequential calls each after the soak, on the same running API (the pruner still at work).
A: 90% of the events; C: none (the filtered Test trigger that used to read every event of the type).

| query | source | p50 ms | p99 ms | max ms |
|---|---|---|---|---|
${f.samples.map(samplesRow).join('\n')}

## Against the targets

| target | figure | |
|---|---|---|
| send→arrival p99 ≤ 60 ms at 1,000 events/s in the worst window | ${fmt(worst.sendToArrival.p99)} ms (window ${worst.index}, load ${fmt(worst.load, 1)}) | ${verdict(worst.sendToArrival.p99 <= 60)} |
| none lost | ${f.lost} | ${verdict(f.lost === 0)} |
| file size flat within 10% over the last half | ${fmt(sizeSpread * 100, 1)}% | ${verdict(sizeSpread <= 0.1)} |
| API RSS ≤ 200 MB | peak ${fmt(f.peakRssMb)} MB | ${verdict(f.peakRssMb <= 200)} |
| GET /v1/samples p99 ≤ 10 ms at 1M events, with and without an assistant filter | worst ${fmt(worstSamples, 2)} ms | ${verdict(worstSamples <= 10)} |
`;
}

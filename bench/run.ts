/**
 * `npm run bench`: the partner API's speed, measured against bare baselines in the same run on the same
 * machine, and written to bench-results/ (gitignored; `--write-docs` also writes docs/benchmarks.md, the
 * published figures, so a run for a look leaves the tracked tree clean). Every server, the webhook receiver
 * included, is its own child process on loopback; every load is bounded in time and count. Delivery
 * latency runs from an open-loop paced sender's scheduled send to the receiver's arrival (paced.ts).
 * `--soak` runs the long phase on a pre-filled million-event database instead (soak.ts). Not part of the
 * test command: figures are published, not asserted. Method: docs/performance.md, "How the bench measures".
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startChild } from './child';
import { type LoadOptions, type LoadResult, measure } from './load';
import {
  agent,
  fmt,
  type Latencies,
  latencies,
  loadAverage,
  pacedConversations,
  type ReceiverClient,
  receiverClient,
  startConversation,
  summarize,
  type Summary,
  verdict,
} from './paced';
import { startHangingReceiver } from './receiver';
import { runSoak } from './soak';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 10;
/** Subscriptions, one per assistant; each event comes from one assistant, so it has one delivery. */
const SUBSCRIPTIONS = 4;

interface ApiInfo {
  url: string;
  key: string;
  assistants: string[];
  /** An assistant of a second workspace whose every event goes to SUBSCRIPTIONS subscriptions. */
  fanOutAssistant: string;
  /** An assistant of a third workspace whose every event goes to STALLED_SUBSCRIPTIONS subscriptions at a receiver that never answers. */
  stalledAssistant: string;
  /** By subscription count (FANOUT_SIZES): an assistant whose every event goes to that many subscriptions. */
  fanOutBySize: Record<string, string>;
  pid: number;
}

/** Issue 12 §3: the creating request's cost with this many subscriptions matching its event. */
const FANOUT_SIZES = [1, 100, 1000];
/** The sizes the target compares, measured interleaved (send by send in turn) so both see the same moments of the host. */
const COMPARED_SIZES = [1, 100];

interface FanOutCost {
  subscriptions: number;
  events: number;
  eventsPerSecond: number;
  /** Scheduled send → answer of the creating request, ms. */
  request: Summary;
  deliveries: number;
  lost: number;
  load: number;
}

/** The fairness phase's fault (issue 8 §3): 16 subscriptions at a receiver that never answers, and 100 events. */
const STALLED_SUBSCRIPTIONS = 16;
const STALLED_EVENTS = 100;

interface Fairness {
  /** The healthy workspace's delivery latency meanwhile. */
  latency: DeliveryLatency;
  /** Attempts of the stalled workspace it owed, and how many were at its receiver, hanging, when the phase began and ended. */
  stalledAttempts: number;
  stalledHangingAtStart: number;
  stalledHangingAtEnd: number;
}

interface DeliveryLatency extends Latencies {
  eventsPerSecond: number;
  events: number;
  lost: number;
  /** The host's 1-minute load average at the end of the phase. */
  load: number;
}

interface Sustained {
  events: number;
  /** Deliveries each event makes. */
  fanOut: number;
  deliveries: number;
  lost: number;
  seconds: number;
  deliveriesPerSecond: number;
  load: number;
}

/** Compiles the project once, inside the repo so node_modules resolve, and every server runs as JavaScript. */
export function compile(): string {
  const outDir = path.join(__dirname, '..', '.bench-build');
  fs.rmSync(outDir, { recursive: true, force: true });
  const tsc = require.resolve('typescript/bin/tsc');
  execFileSync(
    process.execPath,
    [tsc, '-p', path.join(__dirname, '..', 'tsconfig.json'), '--noEmit', 'false', '--outDir', outDir],
    { stdio: 'inherit' },
  );
  // Files the API reads at run time that the compiler does not copy.
  for (const asset of ['partner-api/db/migrations', 'partner-api/openapi.json']) {
    fs.cpSync(path.join(__dirname, '..', asset), path.join(outDir, asset), { recursive: true });
  }
  return outDir;
}

async function main() {
  const started = Date.now();
  const args = process.argv.slice(2);
  const outputs = reportFiles(args); // a wrong argument fails before minutes of measuring
  console.error('compiling…');
  const compiled = compile();
  if (args.includes('--soak')) {
    try {
      const report = await runSoak(compiled);
      writeReport(outputs, report);
    } finally {
      agent.destroy();
      fs.rmSync(compiled, { recursive: true, force: true });
    }
    return;
  }
  console.error(
    `Benchmarks: ${SECONDS} s per HTTP endpoint in 1 s slices, ${CONNECTIONS} connections, ${SUBSCRIPTIONS} subscriptions`,
  );

  const nodeHttpChild = await startChild<{ port: number }>(compiled, 'servers/node-http-hello.ts');
  const expressChild = await startChild<{ port: number }>(compiled, 'servers/express-hello.ts');
  const receiverChild = await startChild<{ url: string }>(compiled, 'servers/receiver.ts');
  const receiver = receiverClient(receiverChild.info.url);
  const hanging = await startHangingReceiver();
  const api = await startChild<ApiInfo>(compiled, 'servers/api.ts', {
    BENCH_RECEIVER_URL: receiver.url,
    BENCH_HANGING_URL: hanging.url,
    BENCH_ASSISTANTS: String(SUBSCRIPTIONS),
    BENCH_FANOUT_SIZES: FANOUT_SIZES.join(','),
    // With the V8 flag `npm start` gives the API (package.json): a 8 MB young generation per semi-space
    // instead of 16 took 16 MB off its peak RSS here at the same CPU per event.
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-semi-space-size=8`,
  });
  const base = api.info.url;
  const auth = { authorization: `Bearer ${api.info.key}`, 'content-type': 'application/json' };
  try {
    console.error('HTTP throughput: node:http, Express, GET /v1/me, POST /v1/contacts, interleaved…');
    let n = 0;
    const [nodeHttp, expressHello, authCheck, contactUpsert] = await measureInterleaved([
      { url: `http://127.0.0.1:${nodeHttpChild.info.port}/` },
      { url: `http://127.0.0.1:${expressChild.info.port}/` },
      { url: `${base}/v1/me`, headers: auth },
      {
        url: `${base}/v1/contacts`,
        method: 'POST',
        headers: auth,
        // Half new contacts, half updates of ones already made: both paths of create-or-update.
        body: () => JSON.stringify({ email: `lead${n++ % 2 === 0 ? n : n - 1}@bench.example`, name: 'Bench Lead' }),
      },
    ]);
    await Promise.all([nodeHttpChild.stop(), expressChild.stop()]);

    // Round-robin over the assistants: every subscription gets its share of the events.
    const eventsUrl = (i: number) =>
      `${base}/v1/widget/assistants/${api.info.assistants[i % SUBSCRIPTIONS]}/conversations`;
    console.error('delivery latency at 200 events/s…');
    const at200 = await deliveryLatency(receiver, eventsUrl, 200, Math.max(5, SECONDS * 2));
    console.error('delivery latency at 1,000 events/s…');
    const at1000 = await deliveryLatency(receiver, eventsUrl, 1000, SECONDS);
    console.error('sustained deliveries, one per event…');
    const sustained = await sustainedDeliveries(receiver, eventsUrl, 8000, 1);
    console.error(`sustained deliveries, ${SUBSCRIPTIONS} per event…`);
    const fanOutUrl = () => `${base}/v1/widget/assistants/${api.info.fanOutAssistant}/conversations`;
    const sustainedFanOut = await sustainedDeliveries(receiver, fanOutUrl, 8000 / SUBSCRIPTIONS, SUBSCRIPTIONS);
    const zapsUrl = (size: number) => `${base}/v1/widget/assistants/${api.info.fanOutBySize[size]}/conversations`;
    console.error(`the creating request with ${COMPARED_SIZES.join(' and ')} matching subscriptions, interleaved…`);
    const fanOutCosts = await fanOutCost(
      receiver,
      COMPARED_SIZES.map((size) => ({ size, url: zapsUrl(size) })),
      10,
      30,
    );
    for (const size of FANOUT_SIZES.filter((n) => !COMPARED_SIZES.includes(n))) {
      console.error(`the creating request with ${size} matching subscriptions…`);
      fanOutCosts.push(...(await fanOutCost(receiver, [{ size, url: zapsUrl(size) }], 1, 10)));
    }
    // Last: the stalled workspace's attempts and retries go on for minutes after.
    console.error(
      `delivery latency at 200 events/s while another workspace's ${STALLED_SUBSCRIPTIONS} endpoints hang…`,
    );
    const stalledUrl = () => `${base}/v1/widget/assistants/${api.info.stalledAssistant}/conversations`;
    const fairness = await underStall(receiver, hanging, stalledUrl, eventsUrl);
    const peakRssMb = api.peakRssBytes() / 1024 / 1024;

    const report = render({
      nodeHttp,
      expressHello,
      authCheck,
      contactUpsert,
      at200,
      at1000,
      sustained,
      sustainedFanOut,
      fanOutCosts,
      fairness,
      peakRssMb,
      seconds: (Date.now() - started) / 1000,
    });
    writeReport(outputs, report);
  } finally {
    agent.destroy();
    await Promise.all([nodeHttpChild.stop(), expressChild.stop()]);
    await hanging.close(); // ends the stalled attempts, so the API stops without waiting out their timeout
    await api.stop();
    await receiverChild.stop();
    fs.rmSync(compiled, { recursive: true, force: true });
  }
}

/**
 * The soak's own "Against the targets" table, copied from its latest published run (docs/benchmarks-soak.md,
 * written by `--soak --write-docs`) with the day it was measured, so that every target of issue 12 reads in
 * docs/benchmarks.md; '' when no soak was published.
 */
export function soakTargets(markdown = readSoakDoc()): string {
  const measured = /^Measured (\S+)/m.exec(markdown)?.[1];
  const table = /## Against the targets\n\n(\|[^]*?)(?:\n\n|\n?$)/.exec(markdown)?.[1];
  if (!measured || !table) return '';
  return `\nIts targets, from that run (measured ${measured}):\n\n${table}\n`;
}

function readSoakDoc(): string {
  const file = path.join(__dirname, '..', 'docs', 'benchmarks-soak.md');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
}

function writeReport(outputs: string[], report: string): void {
  for (const file of outputs) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, report);
    console.error(`wrote ${path.relative(process.cwd(), file)}`);
  }
  console.log(report);
}

/**
 * Where a run's report goes: bench-results/<UTC time>.md and bench-results/latest.md always (gitignored);
 * docs/benchmarks.md, the tracked published figures, only with `--write-docs`.
 */
export function reportFiles(args: string[], now = new Date()): string[] {
  const unknown = args.filter((a) => a !== '--write-docs' && a !== '--soak');
  if (unknown.length) {
    throw new Error(
      `Unknown argument(s): ${unknown.join(' ')}. Use --write-docs to update docs/benchmarks.md, --soak for the soak.`,
    );
  }
  const root = path.join(__dirname, '..');
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const prefix = args.includes('--soak') ? 'soak-' : '';
  const files = [
    path.join(root, 'bench-results', `${prefix}${stamp}.md`),
    path.join(root, 'bench-results', `${prefix}latest.md`),
  ];
  if (args.includes('--write-docs'))
    files.push(path.join(root, 'docs', prefix ? 'benchmarks-soak.md' : 'benchmarks.md'));
  return files;
}

/**
 * Measures every target for SECONDS in all, in one-second slices taken in turn (target 1, 2, 3, 4, 1, 2,
 * …), so a baseline and the endpoint compared with it see the same moments of a shared machine: measured
 * one after the other, a drift in the host's speed once moved the auth check's ratio by 14 points.
 * Requests/s is the mean of the slices, p50 their median, p99 the worst slice's.
 */
async function measureInterleaved<const T extends readonly Omit<LoadOptions, 'seconds' | 'connections'>[]>(
  targets: T,
): Promise<{ [K in keyof T]: LoadResult }> {
  const slices = targets.map((target) => ({ target, runs: [] as LoadResult[] }));
  for (let round = 0; round < SECONDS; round++) {
    for (const { target, runs } of slices)
      runs.push(await measure({ ...target, connections: CONNECTIONS, seconds: 1 }));
  }
  // One result per target, in the targets' order: what the mapped tuple type says.
  return slices.map(({ runs }) => ({
    requestsPerSecond: runs.reduce((sum, r) => sum + r.requestsPerSecond, 0) / runs.length,
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: Math.max(...runs.map((r) => r.p99Ms)),
    non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
  })) as { [K in keyof T]: LoadResult };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/**
 * Starts widget conversations open loop at `eventsPerSecond` (paced.ts); each fires one event, delivered
 * to the one subscription filtered to its assistant. Times each delivery from its send's scheduled time and
 * from its commit.
 */
async function deliveryLatency(
  receiver: ReceiverClient,
  url: (i: number) => string,
  eventsPerSecond: number,
  seconds: number,
): Promise<DeliveryLatency> {
  await receiver.take(); // forget what came before
  const before = await receiver.count();
  const run = await pacedConversations(url, eventsPerSecond, seconds);
  const events = run.scheduled.size - run.failures;
  await receiver.waitFor(before + events, 30_000);
  const arrivals = await receiver.take();
  const measured = latencies(arrivals, run.scheduled);
  const delivered = new Set(arrivals.filter(([n]) => run.scheduled.has(n)).map(([, , , id, p]) => `${p} ${id}`)).size;
  return { eventsPerSecond, events, lost: run.scheduled.size - delivered, load: loadAverage(), ...measured };
}

/**
 * Issue 12 §3: the creating request's own cost when `size` Zaps listen to its event. Events are sent open
 * loop at a low rate, to each target in turn (send i to targets[i % n]), so the sizes compared share the
 * same moments of the host; every delivery is awaited before the phase ends.
 */
async function fanOutCost(
  receiver: ReceiverClient,
  targets: { size: number; url: string }[],
  eventsPerSecond: number,
  seconds: number,
): Promise<FanOutCost[]> {
  await receiver.take();
  const before = await receiver.count();
  const urlOf = (i: number) => {
    const target = targets[i % targets.length];
    if (!target) throw new Error('fanOutCost needs at least one target');
    return target.url;
  };
  const run = await pacedConversations(urlOf, eventsPerSecond, seconds);
  const load = loadAverage();
  const owed = targets.reduce(
    (sum, t, k) =>
      sum + t.size * run.answerByIndex.filter((ms, i) => i % targets.length === k && !Number.isNaN(ms)).length,
    0,
  );
  const deliveries = (await receiver.waitFor(before + owed, 120_000)) - before;
  await receiver.take();
  return targets.map((t, k) => {
    const sends = run.answerByIndex.filter((_, i) => i % targets.length === k);
    const answered = sends.filter((ms) => !Number.isNaN(ms));
    return {
      subscriptions: t.size,
      events: sends.length,
      eventsPerSecond: eventsPerSecond / targets.length,
      request: summarize(answered),
      // Shared by the phase's targets: the receiver counts deliveries, not whose event they came from.
      deliveries,
      lost: owed - deliveries + (sends.length - answered.length) * t.size,
      load,
    };
  });
}

/**
 * Issue 8 §3's fault, then the 200 events/s latency phase: the stalled workspace makes STALLED_EVENTS events
 * (STALLED_SUBSCRIPTIONS × STALLED_EVENTS attempts, each holding its slot for the 10 s timeout), and once its
 * attempts are hanging at the receiver the healthy workspace's deliveries are timed as in `deliveryLatency`.
 */
async function underStall(
  receiver: ReceiverClient,
  hanging: { readonly requests: number },
  stalledUrl: (i: number) => string,
  healthyUrl: (i: number) => string,
): Promise<Fairness> {
  for (let i = 0; i < STALLED_EVENTS; i++) await startConversation(stalledUrl(i), 1_000_000 + i);
  // Until the stalled workspace has taken every slot it will get (the count stops growing).
  let seen = -1;
  while (hanging.requests !== seen) {
    seen = hanging.requests;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const latency = await deliveryLatency(receiver, healthyUrl, 200, Math.max(5, SECONDS));
  return {
    latency,
    stalledAttempts: STALLED_SUBSCRIPTIONS * STALLED_EVENTS,
    stalledHangingAtStart: seen,
    stalledHangingAtEnd: hanging.requests,
  };
}

/**
 * Makes `events` events as fast as the API takes them (16 senders, each waiting for its answer), each
 * owing `fanOut` deliveries, and times how quickly every delivery arrives.
 */
async function sustainedDeliveries(
  receiver: ReceiverClient,
  url: (i: number) => string,
  events: number,
  fanOut: number,
): Promise<Sustained> {
  const before = await receiver.count();
  const began = performance.now();
  let next = 0;
  const senders = Array.from({ length: 16 }, async () => {
    while (next < events) {
      const i = next++;
      await startConversation(url(i), i);
    }
  });
  await Promise.all(senders);
  const expected = events * fanOut;
  const arrived = (await receiver.waitFor(before + expected, 60_000)) - before;
  const seconds = (performance.now() - began) / 1000;
  await receiver.take();
  return {
    events,
    fanOut,
    deliveries: arrived,
    lost: expected - arrived,
    seconds,
    deliveriesPerSecond: arrived / seconds,
    load: loadAverage(),
  };
}

interface Figures {
  nodeHttp: LoadResult;
  expressHello: LoadResult;
  authCheck: LoadResult;
  contactUpsert: LoadResult;
  at200: DeliveryLatency;
  at1000: DeliveryLatency;
  sustained: Sustained;
  sustainedFanOut: Sustained;
  fanOutCosts: FanOutCost[];
  fairness: Fairness;
  peakRssMb: number;
  seconds: number;
}

function render(f: Figures): string {
  const ratio = (r: LoadResult) =>
    `${fmt((r.requestsPerSecond / f.expressHello.requestsPerSecond) * 100)}% of Express, ${fmt((r.requestsPerSecond / f.nodeHttp.requestsPerSecond) * 100)}% of node:http`;
  const http = (name: string, r: LoadResult, vs: string) =>
    `| ${name} | ${fmt(r.requestsPerSecond)} | ${fmt(r.p50Ms, 1)} | ${fmt(r.p99Ms, 1)} | ${r.non2xx + r.errors} | ${vs} |`;
  const lat = (d: DeliveryLatency) =>
    `| ${fmt(d.eventsPerSecond)} events/s over ${SUBSCRIPTIONS} subscriptions | ${fmt(d.deliveries)} | ${d.lost} | ${fmt(d.sendToArrival.p50)} | ${fmt(d.sendToArrival.p95)} | **${fmt(d.sendToArrival.p99)}** | ${fmt(d.commitToArrival.p50)} | ${fmt(d.commitToArrival.p99)} | ${fmt(d.load, 1)} |`;
  const sus = (r: Sustained) =>
    `| ${r.fanOut === 1 ? '1 subscription' : `${r.fanOut} subscriptions`} | ${fmt(r.events)} | ${fmt(r.deliveries)} | ${r.lost} | ${fmt(r.seconds, 1)} s | **${fmt(r.deliveriesPerSecond)}** | ${fmt(r.load, 1)} |`;
  const cost = (c: FanOutCost) =>
    `| ${fmt(c.subscriptions)} | ${c.events} at ${c.eventsPerSecond}/s | ${fmt(c.request.p50, 1)} | **${fmt(c.request.p99, 1)}** | ${fmt(c.deliveries)} | ${c.lost} | ${fmt(c.load, 1)} |`;
  const costOf = (n: number) => f.fanOutCosts.find((c) => c.subscriptions === n)!;
  const fanOutRatio = costOf(100).request.p99 / costOf(1).request.p99;
  const authShare = f.authCheck.requestsPerSecond / f.expressHello.requestsPerSecond;
  return `# Benchmarks

<!-- Written by \`npm run bench -- --write-docs\` (\`./dev bench --write-docs\`); rerun it to refresh. -->

Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ${fmt(os.totalmem() / 2 ** 30)} GiB,
Node ${process.versions.node}, ${os.platform()} ${os.release()}. Load generator (autocannon, ${CONNECTIONS} connections)
and servers share the same cores, on loopback; each server is its own process. The run took ${fmt(f.seconds)} s.
Figures move by 10-20% between runs on a shared machine: compare ratios, not absolutes.

## HTTP throughput

Each endpoint gets ${SECONDS} s in all, in one-second slices taken in turn with the baselines', so that an
endpoint and the baseline it is compared with share the same moments of the machine.

| endpoint | requests/s | p50 ms | p99 ms (worst slice) | errors | against the baselines |
|---|---|---|---|---|---|
${http('node:http hello-world (baseline)', f.nodeHttp, '100% of node:http')}
${http('Express 5 hello-world (baseline)', f.expressHello, ratio(f.expressHello))}
${http('GET /v1/me: the authenticated auth check', f.authCheck, ratio(f.authCheck))}
${http('POST /v1/contacts: create or update', f.contactUpsert, ratio(f.contactUpsert))}

## Delivery: from the client's send to the receiver's arrival

Widget conversations are started through the API by an open-loop paced sender: send *n* is scheduled at
*n*/rate s and goes out then whatever the API has answered, and its latency starts at that scheduled time, so
a queue anywhere (the client's connection pool, the API's accept queue or parser, the commit, the worker)
counts. The receiver is a process of its own and stamps arrivals on the same machine clock. Conversations
go round-robin over ${SUBSCRIPTIONS} assistants; each assistant has one subscription (a Zap filtered to it), so every
event makes one delivery. Beside it, the figure published before: from the event's \`createdAt\` (stamped
in the transaction that commits it) to arrival. Host load is the 1-minute load average at the end of the
phase (${os.cpus().length} cores, shared with other work).

| load | deliveries | lost | send→arrival p50 ms | p95 ms | p99 ms | commit→arrival p50 ms | p99 ms | host load |
|---|---|---|---|---|---|---|---|---|
${lat(f.at200)}
${lat(f.at1000)}

### Fairness: another workspace's endpoints hang

Issue 8's fault: a second workspace has ${STALLED_SUBSCRIPTIONS} subscriptions to a receiver that reads each request and never
answers, and makes ${STALLED_EVENTS} events: ${fmt(f.fairness.stalledAttempts)} attempts, each holding its slot for the 10 s timeout. Once its
attempts are hanging (${f.fairness.stalledHangingAtStart} of them at the start, ${f.fairness.stalledHangingAtEnd} by the end: its share of the slots, then its
retries), the first workspace makes events at 200/s as above.

| load | deliveries | lost | send→arrival p50 ms | p95 ms | p99 ms | commit→arrival p50 ms | p99 ms | host load |
|---|---|---|---|---|---|---|---|---|
${lat(f.fairness.latency)}

### Sustained deliveries

Events made as fast as the API takes them (16 senders, each waiting for its answer), every delivery
counted at the receiver by subscription and \`webhook-id\`. The target is judged on the first shape, one
subscription per event (the Zaps above, each filtered to its assistant), where every delivery costs an
event made through HTTP as well. Beside it, the fan-out shape: ${SUBSCRIPTIONS} Zaps on the same trigger, so each event
owes ${SUBSCRIPTIONS} deliveries and event-making is a quarter of the work.

| each event goes to | events | deliveries | lost | all arrived in | deliveries/s | host load |
|---|---|---|---|---|---|---|
${sus(f.sustained)}
${sus(f.sustainedFanOut)}

### The creating request against its fan-out

One workspace per row, with that many Zaps (unfiltered subscriptions) on the trigger; events sent open
loop at a low rate. The rows with ${COMPARED_SIZES.join(' and ')} subscriptions are measured together, their sends
alternating, so both see the same moments of the shared host (their deliveries are counted together);
every delivery is awaited before the next phase. The request's time is from its
scheduled send to its answer: past 8 matching subscriptions the fan-out runs after the commit
(delivery/fanout.ts; up to 8 the request writes the rows), so it should not grow with the subscriptions (issue 12 §3: 57 ms p50 at 100 and 228 ms at 1,000 when the fan-out was inside
the request). With 1,000 the cap on active subscriptions per workspace is raised for the bench.

| matching subscriptions | events | request p50 ms | p99 ms | deliveries | lost | host load |
|---|---|---|---|---|---|---|
${f.fanOutCosts.map(cost).join('\n')}

Peak memory (RSS) of the API process over the whole run: **${fmt(f.peakRssMb)} MB**.

The soak (3 minutes at 1,000 events/s on a million-event database, per 30 s window, and \`GET /v1/samples\`
there) is \`npm run bench -- --soak\`; its latest published run is in \`docs/benchmarks-soak.md\`.
${soakTargets()}

## Against the targets

Where a target is missed, \`docs/performance.md\` says what profiling found, what was changed for it, and
what is left to do.

| target | figure | |
|---|---|---|
| auth check ≥ 60% of bare Express's requests/s | ${fmt(authShare * 100)}% | ${verdict(authShare >= 0.6)} |
| contact create-or-update ≥ 2,000 requests/s | ${fmt(f.contactUpsert.requestsPerSecond)} | ${verdict(f.contactUpsert.requestsPerSecond >= 2000)} |
| send→arrival p99 ≤ 20 ms at 200 events/s | ${fmt(f.at200.sendToArrival.p99)} ms (load ${fmt(f.at200.load, 1)}) | ${verdict(f.at200.sendToArrival.p99 <= 20 && f.at200.lost === 0)} |
| send→arrival p99 ≤ 60 ms at 1,000 events/s | ${fmt(f.at1000.sendToArrival.p99)} ms (load ${fmt(f.at1000.load, 1)}) | ${verdict(f.at1000.sendToArrival.p99 <= 60 && f.at1000.lost === 0)} |
| send→arrival p99 < 100 ms at 200 events/s while another workspace's ${STALLED_SUBSCRIPTIONS} endpoints hang | ${fmt(f.fairness.latency.sendToArrival.p99)} ms | ${verdict(f.fairness.latency.sendToArrival.p99 < 100 && f.fairness.latency.lost === 0)} |
| ≥ 1,500 deliveries/s with one subscription per event, none lost | ${fmt(f.sustained.deliveriesPerSecond)}/s, ${f.sustained.lost} lost (load ${fmt(f.sustained.load, 1)}); fan-out shape ${fmt(f.sustainedFanOut.deliveriesPerSecond)}/s | ${verdict(f.sustained.deliveriesPerSecond >= 1500 && f.sustained.lost === 0)} |
| creating request p99 with 100 matching subscriptions ≤ 2 × with one | ${fmt(costOf(100).request.p99, 1)} ms against ${fmt(costOf(1).request.p99, 1)} ms: ${fmt(fanOutRatio, 2)}× | ${verdict(fanOutRatio <= 2)} |
| API RSS ≤ 200 MB | ${fmt(f.peakRssMb)} MB | ${verdict(f.peakRssMb <= 200)} |
`;
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

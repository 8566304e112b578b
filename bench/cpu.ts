/**
 * `ts-node bench/cpu.ts`: the API's CPU time per event at a paced rate, the figure a change to the hot path
 * is judged by on this shared host, where wall-clock latency moves with other people's work and CPU time
 * much less. Starts the receiver and the API as `npm run bench` does, then runs ROUNDS phases of
 * CPU_SECONDS at CPU_RATE events/s (open loop, over the 4 filtered subscriptions: one delivery per event),
 * waits for every delivery, and reads the API process's user + system time (/proc/<pid>/stat) before and
 * after each phase. Prints µs of API CPU per event (event made over HTTP, fanned out, signed, sent and
 * recorded) per round. `--cpu-prof DIR` also writes a V8 CPU profile of the API (open it in Chrome's
 * DevTools or speedscope) when it stops. `--callgrind` runs the API under valgrind's callgrind instead and
 * counts instructions per event, which other work on the host does not move (run it at a low rate, e.g.
 * CPU_RATE=50 CPU_SECONDS=4: valgrind runs the API about 50 times slower). Not part of the test command.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startChild } from './child';
import { agent, fmt, loadAverage, pacedConversations, receiverClient } from './paced';
import { compile } from './run';

const RATE = Number(process.env.CPU_RATE ?? 500);
const SECONDS = Number(process.env.CPU_SECONDS ?? 8);
const ROUNDS = Number(process.env.CPU_ROUNDS ?? 3);
const ASSISTANTS = 4;

/** User + system CPU time of a process so far, µs (Linux /proc/<pid>/stat, fields 14 and 15, in clock ticks). */
export function cpuMicros(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / 100; // USER_HZ is 100 on Linux
}

async function main() {
  const args = process.argv.slice(2);
  const profileAt = args.indexOf('--cpu-prof');
  const profileDir = profileAt >= 0 ? path.resolve(args[profileAt + 1] ?? 'bench-results/profiles') : undefined;
  if (profileDir) fs.mkdirSync(profileDir, { recursive: true });
  const callgrindDir = args.includes('--callgrind') ? fs.mkdtempSync(path.join(os.tmpdir(), 'callgrind-')) : undefined;
  console.error('compiling…');
  const compiled = compile();
  const receiverChild = await startChild<{ url: string }>(compiled, 'servers/receiver.ts');
  const receiver = receiverClient(receiverChild.info.url);
  const api = await startChild<{ url: string; assistants: string[]; pid: number }>(
    compiled,
    'servers/api.ts',
    {
      BENCH_RECEIVER_URL: receiver.url,
      BENCH_HANGING_URL: 'http://127.0.0.1:9',
      BENCH_ASSISTANTS: String(ASSISTANTS),
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-semi-space-size=8${profileDir ? ` --cpu-prof --cpu-prof-dir=${profileDir}` : ''}`,
    },
    callgrindDir
      ? ['valgrind', '--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${callgrindDir}/cg.%p`]
      : [],
  );
  const url = (i: number) =>
    `${api.info.url}/v1/widget/assistants/${api.info.assistants[i % ASSISTANTS]}/conversations`;
  const unit = callgrindDir ? 'instructions' : 'µs of CPU';
  try {
    // A short warm-up: the JIT, the statement cache and the connection pools.
    await pacedConversations(url, RATE, callgrindDir ? 2 * SECONDS : 1);
    const rounds: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const before = await receiver.count();
      const cpuBefore = cpuMicros(api.info.pid);
      if (callgrindDir) {
        execFileSync('callgrind_control', ['--zero', String(api.info.pid)], { stdio: 'ignore' });
        execFileSync('callgrind_control', ['--instr=on', String(api.info.pid)], { stdio: 'ignore' });
      }
      const run = await pacedConversations(url, RATE, SECONDS);
      const events = run.scheduled.size - run.failures;
      const arrived = (await receiver.waitFor(before + events, 600_000)) - before;
      let perEvent = (cpuMicros(api.info.pid) - cpuBefore) / events;
      if (callgrindDir) perEvent = instructionsSoFar(callgrindDir, api.info.pid) / events;
      rounds.push(perEvent);
      await receiver.take();
      console.error(
        `round ${round + 1}: ${events} events at ${RATE}/s, ${arrived} delivered, ${run.failures} failed: ` +
          `${fmt(perEvent)} ${unit} per event (host load ${fmt(loadAverage(), 1)})`,
      );
    }
    const sorted = [...rounds].sort((a, b) => a - b);
    console.log(
      `API ${unit} per event at ${RATE} events/s: median ${fmt(sorted[Math.floor(sorted.length / 2)] ?? NaN)}, ` +
        `range ${fmt(sorted[0] ?? NaN)}-${fmt(sorted.at(-1) ?? NaN)} over ${ROUNDS} rounds of ${SECONDS} s; ` +
        `${os.cpus().length} cores, load ${fmt(loadAverage(), 1)}`,
    );
  } finally {
    agent.destroy();
    await api.stop();
    await receiverChild.stop();
    fs.rmSync(compiled, { recursive: true, force: true });
  }
}

/**
 * Instructions the API executed since collection was last switched on, and switches it off: dumps the
 * counters (callgrind_control) and reads the dump's `summary:` line.
 */
function instructionsSoFar(dir: string, pid: number): number {
  execFileSync('callgrind_control', ['--dump', String(pid)], { stdio: 'ignore' });
  execFileSync('callgrind_control', ['--instr=off', String(pid)], { stdio: 'ignore' });
  const dumps = fs
    .readdirSync(dir)
    .filter((f) => f.startsWith(`cg.${pid}.`))
    .sort((a, b) => Number(a.split('.').at(-1)) - Number(b.split('.').at(-1)));
  const last = fs.readFileSync(path.join(dir, dumps.at(-1) ?? ''), 'utf8');
  return Number(/^summary: (\d+)/m.exec(last)?.[1] ?? NaN);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

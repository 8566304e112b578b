/** Starts a bench server in its own process (so its CPU and memory are its own) and reads its first line. */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

export interface BenchChild<T> {
  process: ChildProcess;
  info: T;
  /** Peak resident memory so far, in bytes (Linux VmHWM). */
  peakRssBytes(): number;
  stop(): Promise<void>;
}

/**
 * The servers run as compiled JavaScript, as in production: under ts-node the TypeScript compiler itself
 * would sit in the measured process's memory. `compiledDir` is where `tsc` wrote the project.
 */
export async function startChild<T>(
  compiledDir: string,
  script: string,
  env: NodeJS.ProcessEnv = {},
  /** A command that runs Node for it, e.g. `['valgrind', '--tool=callgrind']` (bench/cpu.ts). */
  wrapper: string[] = [],
): Promise<BenchChild<T>> {
  const entry = path.join(compiledDir, 'bench', script.replace(/\.ts$/, '.js'));
  const [command = process.execPath, ...args] = [...wrapper, process.execPath, entry];
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: child.stdout });
  const info = await new Promise<T>((resolve, reject) => {
    // Under valgrind, starting takes minutes rather than a second.
    const startMs = wrapper.length ? 600_000 : 30_000;
    const timer = setTimeout(() => reject(new Error(`${script} did not start within ${startMs / 1000} s`)), startMs);
    child.once('exit', (code) => reject(new Error(`${script} exited early with ${code}`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line) as T);
    });
  });
  return {
    process: child,
    info,
    peakRssBytes: () => readPeakRss(child.pid!),
    stop: () =>
      new Promise<void>((resolve) => {
        // Already gone (a child stopped by a signal has no exit code, only a signal code): stopping twice is fine.
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
      }),
  };
}

function readPeakRss(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

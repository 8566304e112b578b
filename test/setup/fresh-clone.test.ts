/**
 * The README's set-up, as a new user meets it: a fresh clone with no .tools/ and no node_modules, and its two
 * commands started at once (`./dev start`, and in another shell `./dev test`). Both bring Node 22 (on a
 * machine with an older Node) and run npm ci; the set-up lock (scripts/setup-lock.sh) makes them take
 * turns. Then an install killed with SIGKILL half-way is repaired by the next command.
 *
 * The test side runs a cheap command through the same ./dev path (bootstrap, install, then the command)
 * rather than the whole suite inside the suite. The clone holds the working tree's tracked files, so the
 * test checks what is about to be committed. It takes a fresh npm ci or two (about a minute each here).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { waitUntil } from '../support/api-server';
import { describeEngine } from '../support/test-store';

describeEngine(
  'sqlite',
  "the README's set-up: ./dev start serves SQLite, the embedded default; two npm ci (minutes), run once",
  'a fresh clone',
  () => {
    const ROOT = path.join(__dirname, '..', '..');
    const MINUTES = 60_000;

    let dir: string;
    let clone: string;
    const children: ChildProcess[] = [];

    /** The environment of a new user's shell: no Node 22 or node_modules/.bin of this checkout on PATH, no npm run variables. */
    function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
      const env: NodeJS.ProcessEnv = {};
      for (const [name, value] of Object.entries(process.env))
        if (!/^npm_/i.test(name) && name !== 'INIT_CWD') env[name] = value;
      env.PATH = (process.env.PATH ?? '')
        .split(path.delimiter)
        .filter((entry) => !entry.startsWith(ROOT) && !entry.includes('node-gyp-bin'))
        .join(path.delimiter);
      return { ...env, ILLUMICHAT_LOG: 'info', ...extra };
    }

    interface Run {
      child: ChildProcess;
      output: () => string;
      exited: Promise<number | null>;
    }

    /** `./dev …` in the clone, in its own process group so the test can kill the whole tree. */
    function dev(args: string[], env: NodeJS.ProcessEnv = userEnv()): Run {
      const child = spawn('./dev', args, { cwd: clone, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      return { child, output: () => output, exited };
    }

    function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
    }

    /** What the test side runs after set-up: Node 22, the compiler and the native SQLite addon all load. */
    const CHECK = [
      'node',
      '-e',
      "require('typescript'); require('ts-node'); new (require('better-sqlite3'))(':memory:').exec('SELECT 1');" +
        " if (+process.versions.node.split('.')[0] < 22) throw new Error('not Node 22: ' + process.version); console.log('ready')",
    ];

    const stamp = () => path.join(clone, 'node_modules', '.installed-lock');

    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'illumichat-clone-'));
      clone = path.join(dir, 'project');
      execFileSync('git', ['clone', '--quiet', '--no-hardlinks', ROOT, clone]);
      const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' })
        .split('\0')
        .filter(Boolean);
      for (const file of tracked) {
        const from = path.join(ROOT, file);
        if (fs.existsSync(from)) fs.copyFileSync(from, path.join(clone, file));
        else fs.rmSync(path.join(clone, file), { force: true });
      }
      expect(fs.existsSync(path.join(clone, 'node_modules'))).toBe(false);
      expect(fs.existsSync(path.join(clone, '.tools'))).toBe(false);
    });

    afterAll(() => {
      for (const child of children)
        if (child.exitCode === null && child.signalCode === null) killGroup(child, 'SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it(
      'both README commands started at once in a fresh clone succeed',
      async () => {
        const start = dev(['start'], userEnv({ PORT: '0' }));
        const test = dev(CHECK);

        const url = await waitUntil(
          () => {
            if (start.child.exitCode !== null)
              throw new Error(
                `./dev start exited (${start.child.exitCode}) before listening:\n${start.output()}\n--- test side:\n${test.output()}`,
              );
            return /"url":"(http:\/\/[^"]+)"/.exec(start.output())?.[1];
          },
          8 * MINUTES,
          'the API to listen',
        );
        expect(start.output()).toMatch(/^wsk_live_[0-9A-Za-z]{38}$/m);
        expect((await fetch(`${url}/healthz`)).status).toBe(200);

        const code = await test.exited;
        expect({ code, output: test.output() }).toEqual({ code: 0, output: expect.stringMatching(/^ready$/m) });
        expect(fs.readFileSync(stamp(), 'utf8')).toBe(fs.readFileSync(path.join(clone, 'package-lock.json'), 'utf8'));
        execFileSync('./dev', ['npm', 'ls', '--all'], { cwd: clone, env: userEnv(), stdio: 'ignore' }); // throws unless the tree is whole

        killGroup(start.child, 'SIGTERM');
        await start.exited;
      },
      10 * MINUTES,
    );

    it(
      'an install killed half-way (SIGKILL, lock still held) is repaired by the next command',
      async () => {
        fs.rmSync(path.join(clone, 'node_modules'), { recursive: true, force: true });
        const interrupted = dev(CHECK);
        // Half-way: npm ci has unpacked some packages but not finished.
        await waitUntil(
          () => {
            const entries = fs.existsSync(path.join(clone, 'node_modules'))
              ? fs.readdirSync(path.join(clone, 'node_modules'))
              : [];
            return entries.length >= 20 || undefined;
          },
          5 * MINUTES,
          'npm ci to be half-way',
        );
        killGroup(interrupted.child, 'SIGKILL');
        await interrupted.exited;
        expect(fs.existsSync(stamp())).toBe(false);
        expect(fs.existsSync(path.join(clone, '.tools', 'setup.lock'))).toBe(true);

        const next = dev(CHECK);
        const code = await next.exited;
        expect({ code, output: next.output() }).toEqual({ code: 0, output: expect.stringMatching(/^ready$/m) });
        expect(fs.existsSync(path.join(clone, '.tools', 'setup.lock'))).toBe(false);
        expect(fs.readFileSync(stamp(), 'utf8')).toBe(fs.readFileSync(path.join(clone, 'package-lock.json'), 'utf8'));
      },
      10 * MINUTES,
    );
  },
);

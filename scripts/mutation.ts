/**
 * `npm run test:mutation [-- [stryker flags] [module…]]`: StrykerJS on each security- and correctness-critical
 * module in turn, each with only the tests that pin it, then a table of scores. Exits 1 when any module's
 * score is below the threshold (stryker.config.js `thresholds.break`). Not part of `npm test`: it takes minutes.
 * Adding a module is one entry in MUTATION_MODULES. docs/testing.md has the current scores.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Module → the test files that pin its behaviour (paths from the repository root). */
export const MUTATION_MODULES: Record<string, string[]> = {
  'partner-api/net/target-policy.ts': ['test/delivery/target-policy.test.ts'],
  'partner-api/net/ip-ranges.ts': ['test/delivery/ip-ranges.test.ts'],
  'partner-api/delivery/policy.ts': ['test/delivery/policy.test.ts'],
  'partner-api/delivery/signing.ts': ['test/delivery/signing.test.ts'],
  'partner-api/domain/idempotency.ts': ['test/api/idempotency.test.ts'],
  'partner-api/http/auth.ts': ['test/api/auth-guards.test.ts'],
  'zapier-app/http/errors.ts': ['test/zapier-app/errors.test.ts'],
};

const ROOT = path.join(__dirname, '..');
const STRYKER = path.join(ROOT, 'node_modules', '.bin', 'stryker');

interface Score {
  module: string;
  killed: number;
  survived: number;
  noCoverage: number;
  /** Killed (or timed out) of all mutants that compile, in %. */
  total: number;
  /** Killed (or timed out) of the mutants some test executes, in %. */
  covered: number;
  passed: boolean;
}

function main(argv: string[]): number {
  const flags = argv.filter((a) => a.startsWith('-'));
  const named = argv.filter((a) => !a.startsWith('-'));
  const unknown = named.filter((m) => !MUTATION_MODULES[m]);
  if (unknown.length > 0) {
    console.error(`Not in MUTATION_MODULES (scripts/mutation.ts): ${unknown.join(', ')}`);
    return 2;
  }
  const scores: Score[] = [];
  for (const module of named.length > 0 ? named : Object.keys(MUTATION_MODULES)) {
    console.log(`\n== ${module}`);
    const run = spawnSync(STRYKER, ['run', 'stryker.config.js', ...flags], {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, STRYKER_MODULE: module, STRYKER_TESTS: MUTATION_MODULES[module]!.join(',') },
    });
    scores.push(scoreOf(module, run.status === 0));
  }
  console.log('\nmodule | killed | survived | no coverage | score | on covered code | threshold');
  for (const s of scores) {
    console.log(
      `${s.module} | ${s.killed} | ${s.survived} | ${s.noCoverage} | ${s.total.toFixed(1)} % | ${s.covered.toFixed(1)} % | ${s.passed ? 'met' : 'NOT MET'}`,
    );
  }
  return scores.every((s) => s.passed) ? 0 : 1;
}

/** Reads the module's JSON report (mutation-testing-report-schema); `passed` is Stryker's own verdict. */
function scoreOf(module: string, passed: boolean): Score {
  const file = path.join(ROOT, 'reports', 'mutation', `${module.replace(/\.ts$/, '').replaceAll('/', '.')}.json`);
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    files: Record<string, { mutants: { status: string }[] }>;
  };
  const count: Record<string, number> = {};
  for (const { mutants } of Object.values(report.files)) {
    for (const { status } of mutants) count[status] = (count[status] ?? 0) + 1;
  }
  const killed = (count.Killed ?? 0) + (count.Timeout ?? 0);
  const survived = count.Survived ?? 0;
  const noCoverage = count.NoCoverage ?? 0;
  const percent = (part: number, whole: number) => (whole === 0 ? 100 : (100 * part) / whole);
  return {
    module,
    killed,
    survived,
    noCoverage,
    total: percent(killed, killed + survived + noCoverage),
    covered: percent(killed, killed + survived),
    passed,
  };
}

process.exitCode = main(process.argv.slice(2));

/**
 * `./dev bench` leaves the tracked tree clean unless asked: its report goes to the gitignored
 * bench-results/, and to docs/benchmarks.md only with --write-docs.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

import { reportFiles, soakTargets } from '../../bench/run';

const ROOT = path.join(__dirname, '..', '..');
const rel = (files: string[]) => files.map((f) => path.relative(ROOT, f));
const tracked = (file: string) =>
  execFileSync('git', ['ls-files', file], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
const ignored = (file: string) => {
  try {
    execFileSync('git', ['check-ignore', '-q', file], { cwd: ROOT });
    return true;
  } catch {
    return false;
  }
};

it('writes only to gitignored bench-results/ by default', () => {
  const files = rel(reportFiles([], new Date('2026-11-29T15:00:00.000Z')));
  expect(files).toEqual(['bench-results/2026-11-29T15-00-00-000Z.md', 'bench-results/latest.md']);
  for (const file of files)
    expect({ file, ignored: ignored(file), tracked: tracked(file) }).toEqual({ file, ignored: true, tracked: false });
});

it('also updates the tracked docs/benchmarks.md with --write-docs, and refuses an unknown argument', () => {
  expect(rel(reportFiles(['--write-docs']))).toContain('docs/benchmarks.md');
  expect(tracked('docs/benchmarks.md')).toBe(true);
  expect(() => reportFiles(['--write-doc'])).toThrow(/Unknown argument.*--write-docs/);
});

it('keeps the soak in files of its own: bench-results/soak-*.md, and docs/benchmarks-soak.md only with --write-docs', () => {
  const files = rel(reportFiles(['--soak'], new Date('2026-11-29T15:00:00.000Z')));
  expect(files).toEqual(['bench-results/soak-2026-11-29T15-00-00-000Z.md', 'bench-results/soak-latest.md']);
  for (const file of files) expect({ file, ignored: ignored(file) }).toEqual({ file, ignored: true });
  expect(rel(reportFiles(['--soak', '--write-docs']))).toContain('docs/benchmarks-soak.md');
  expect(rel(reportFiles(['--soak', '--write-docs']))).not.toContain('docs/benchmarks.md');
});

it("carries the soak's targets table into docs/benchmarks.md, with the day the soak measured them", () => {
  const soak = [
    '# Benchmarks: the soak',
    '',
    'Measured 2026-11-29 on 2 cores.',
    '',
    '## Against the targets',
    '',
    '| target | figure | |',
    '|---|---|---|',
    '| none lost | 0 | met |',
    '',
  ].join('\n');
  expect(soakTargets(soak)).toBe(
    '\nIts targets, from that run (measured 2026-11-29):\n\n| target | figure | |\n|---|---|---|\n| none lost | 0 | met |\n',
  );
  expect(soakTargets('# no soak published yet')).toBe('');
});

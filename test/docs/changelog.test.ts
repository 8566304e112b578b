/**
 * CHANGELOG.md and the app's version agree, and the changelog keeps Zapier's semver rules (docs.zapier.com,
 * "Versions"): Zaps stay pinned to app versions, so a release whose number or notes disagree misleads the
 * builders and reviewers who read them.
 *  - The newest entry is `zapier-app/version.ts`'s APP_VERSION, which package.json and package-lock.json carry
 *    too (the staged build takes its version from package.json; definition.test.ts holds App.version to it).
 *  - Every `zapier-platform env:set <version>` example in the README and docs names the current version.
 *  - Entries are `## X.Y.Z (YYYY-MM-DD)`, newest first, each with labelled items; a (Breaking) item needs a new
 *    major version, and a (New) one at least a new minor.
 */
import fs from 'node:fs';
import path from 'node:path';

import { APP_VERSION } from '../../zapier-app/version';
import { at } from '../support/items';

const ROOT = path.join(__dirname, '..', '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

interface Entry {
  version: [number, number, number];
  text: string;
  date: string;
  labels: Set<string>;
}

const HEADING = /^## (\d+)\.(\d+)\.(\d+) \((\d{4}-\d{2}-\d{2})\)$/;
const LABEL = /^- \*\*\((Breaking|New|Fix)\)\*\*/;

/** The `## ` sections of the changelog, in file order; a `## ` heading that is not a version fails. */
function entries(markdown: string): Entry[] {
  const found: Entry[] = [];
  for (const line of markdown.split('\n')) {
    if (line.startsWith('## ')) {
      const match = HEADING.exec(line);
      if (!match) throw new Error(`CHANGELOG.md: "${line}" is not "## X.Y.Z (YYYY-MM-DD)"`);
      const version = [Number(match[1]), Number(match[2]), Number(match[3])] as [number, number, number];
      found.push({ version, text: version.join('.'), date: at(match, 4), labels: new Set() });
      continue;
    }
    const label = LABEL.exec(line);
    if (label && found.length > 0) at(found, -1).labels.add(at(label, 1));
  }
  return found;
}

/** What kind of step `to` is from `from`: a major, minor or patch bump, or none (not newer). */
function bump(from: [number, number, number], to: [number, number, number]): 'major' | 'minor' | 'patch' | 'none' {
  if (to[0] !== from[0]) return to[0] > from[0] ? 'major' : 'none';
  if (to[1] !== from[1]) return to[1] > from[1] ? 'minor' : 'none';
  return to[2] > from[2] ? 'patch' : 'none';
}

const changelog = entries(read('CHANGELOG.md'));

describe('CHANGELOG.md and the app version', () => {
  it('has the current version as its newest entry', () => {
    expect(changelog.length).toBeGreaterThan(0);
    expect(at(changelog, 0).text).toBe(APP_VERSION);
  });

  it('carries the same version in package.json and package-lock.json', () => {
    const lock = JSON.parse(read('package-lock.json'));
    expect({
      packageJson: JSON.parse(read('package.json')).version,
      lock: lock.version,
      lockRoot: lock.packages[''].version,
    }).toEqual({ packageJson: APP_VERSION, lock: APP_VERSION, lockRoot: APP_VERSION });
  });

  it('names the current version in every env:set example', () => {
    const docs = [
      'README.md',
      ...fs
        .readdirSync(path.join(ROOT, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
    ];
    const named = docs.flatMap((file) =>
      [...read(file).matchAll(/zapier-platform env:set (\d+\.\d+\.\d+)/g)].map((m) => ({ file, version: m[1] })),
    );
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((n) => n.version !== APP_VERSION)).toEqual([]);
  });

  it('lists versions newest first, with dates that never go forward down the file', () => {
    for (let i = 1; i < changelog.length; i++) {
      const [entry, newer] = [at(changelog, i), at(changelog, i - 1)];
      expect({ [entry.text]: bump(entry.version, newer.version) }).not.toEqual({ [entry.text]: 'none' });
      expect(entry.date <= newer.date).toBe(true);
    }
  });

  it('gives every entry labelled items, and the bump their labels call for', () => {
    changelog.forEach((entry, i) => {
      expect({ [entry.text]: entry.labels.size > 0 }).toEqual({ [entry.text]: true });
      const previous = changelog[i + 1];
      if (!previous) return;
      const step = bump(previous.version, entry.version);
      if (entry.labels.has('Breaking')) expect({ [entry.text]: step }).toEqual({ [entry.text]: 'major' });
      else if (entry.labels.has('New'))
        expect({ [entry.text]: step === 'major' || step === 'minor' }).toEqual({ [entry.text]: true });
    });
  });
});

/**
 * Run by scripts/zapier-check.sh after `zapier-platform build`: build.zip must hold the app and the packages
 * it runs on, and nothing of the partner API, the tests or the tooling.
 *   ts-node check-build-zip.ts <build.zip>
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';

import { at } from '../../support/items';
import { zipEntries } from './zip-entries';

const root = join(__dirname, '..', '..', '..');

const ALLOWED_PREFIXES = [
  'index.js',
  'zapierwrapper.js',
  'package.json',
  'definition.json',
  'dist/zapier-app/',
  'dist/catalog/',
  'dist/fixtures/',
  'node_modules/',
];

const fixtureFiles = readdirSync(join(root, 'fixtures')).filter((f) => f.endsWith('.json'));
const REQUIRED = [
  'index.js',
  'zapierwrapper.js',
  'package.json',
  'definition.json',
  'dist/zapier-app/index.js',
  'dist/catalog/events.js',
  'dist/catalog/fields.js',
  'dist/fixtures/index.js',
  ...fixtureFiles.map((f) => `dist/fixtures/${f}`),
  'node_modules/zapier-platform-core/index.js',
  'node_modules/zod/package.json',
];

/** Names of the installed packages that the runtime dependencies need, as npm resolves them. */
function runtimePackages(): Set<string> {
  const out = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root, encoding: 'utf8' });
  const names = out
    .split('\n')
    .filter((dir) => dir.includes('/node_modules/'))
    .map((dir) => dir.slice(dir.lastIndexOf('/node_modules/') + '/node_modules/'.length));
  return new Set(names);
}

/** `node_modules/a/node_modules/@s/b/x.js` → `@s/b`: the innermost package a file belongs to. */
function packageOf(entry: string): string {
  const rest = entry.slice(entry.lastIndexOf('node_modules/') + 'node_modules/'.length).split('/');
  return at(rest, 0).startsWith('@') ? `${at(rest, 0)}/${at(rest, 1)}` : at(rest, 0);
}

function check(zipPath: string): string[] {
  const entries = zipEntries(zipPath);
  const present = new Set(entries);
  const runtime = runtimePackages();
  const problems: string[] = [];
  for (const file of REQUIRED) if (!present.has(file)) problems.push(`missing ${file}`);
  for (const entry of entries) {
    if (!ALLOWED_PREFIXES.some((prefix) => entry === prefix || (prefix.endsWith('/') && entry.startsWith(prefix)))) {
      problems.push(`not part of the app: ${entry}`);
    } else if (entry.startsWith('node_modules/') && !runtime.has(packageOf(entry))) {
      problems.push(`not a runtime dependency: ${entry}`);
    }
  }
  if (problems.length === 0) {
    const packages = new Set(entries.filter((e) => e.startsWith('node_modules/')).map(packageOf));
    console.log(`${basename(zipPath)}: ${entries.length} files, the app and ${packages.size} runtime packages only`);
  }
  return problems;
}

const problems = check(process.argv[2] ?? join(root, 'build', 'app', 'build', 'build.zip'));
if (problems.length > 0) {
  console.error(`build.zip holds what it must not, or lacks what it needs:\n  ${problems.slice(0, 50).join('\n  ')}`);
  process.exit(1);
}

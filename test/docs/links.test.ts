/**
 * A doc nobody can find is a doc nobody reads: every page in docs/, CHANGELOG.md and CONTRIBUTING.md is named
 * in the README's "Docs" section, and docs/adr/README.md's table lists every decision record, each of which
 * exists.
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** The text of a `## ` section, up to the next `## ` heading. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`no "## ${heading}" section`);
  const next = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, next < 0 ? undefined : next);
}

describe('the docs can be found', () => {
  it('names every page of docs/, CHANGELOG.md and CONTRIBUTING.md in the README’s Docs section', () => {
    const docsSection = section(read('README.md'), 'Docs');
    const pages = [
      ...fs
        .readdirSync(path.join(ROOT, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
      'docs/adr/',
      'CHANGELOG.md',
      'CONTRIBUTING.md',
    ];
    expect(pages.filter((page) => !docsSection.includes(`\`${page}\``))).toEqual([]);
  });

  it('lists every decision record in docs/adr/README.md, and each one listed exists', () => {
    const records = fs.readdirSync(path.join(ROOT, 'docs/adr')).filter((f) => /^\d{4}-.+\.md$/.test(f));
    const listed = [...read('docs/adr/README.md').matchAll(/\]\((\d{4}-[^)]+\.md)\)/g)].map((m) => m[1]);
    expect(records.length).toBeGreaterThan(0);
    expect(listed.sort()).toEqual(records.sort());
  });
});

/**
 * StrykerJS, one module per run: `npm run test:mutation` (scripts/mutation.ts, which lists the modules and
 * the tests that pin each) sets STRYKER_MODULE and STRYKER_TESTS and runs Stryker once per module, so each
 * module gets its own score and its own threshold. docs/testing.md says how to read the results.
 */
const jestConfig = require('./jest.config.js');

const mutate = process.env.STRYKER_MODULE;
const tests = (process.env.STRYKER_TESTS ?? '').split(',').filter(Boolean);
if (!mutate || tests.length === 0) {
  throw new Error('Run `npm run test:mutation [module]`: it sets STRYKER_MODULE and STRYKER_TESTS for each module.');
}
const name = mutate.replace(/\.ts$/, '').replaceAll('/', '.');
const { reporters: _ownReporters, ...jestOwn } = jestConfig;

module.exports = {
  mutate: [mutate],
  testRunner: 'jest',
  jest: {
    projectType: 'custom',
    config: { ...jestOwn, testMatch: tests.map((file) => `<rootDir>/${file}`) },
    // With `roots` set to test/, find-related-tests silently drops tests that reach the module indirectly.
    enableFindRelatedTests: false,
  },
  // Each mutant runs only the tests that executed its code (mutants in module-level tables run them all).
  coverageAnalysis: 'perTest',
  // Mutants that do not compile are not counted either way.
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  // The machine is shared: 2 by default, STRYKER_CONCURRENCY=1 when others need the cores.
  concurrency: Number(process.env.STRYKER_CONCURRENCY ?? 2),
  thresholds: { high: 95, low: 85, break: 85 },
  reporters: ['clear-text', 'progress', 'json', 'html'],
  clearTextReporter: { allowColor: false, logTests: false },
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  htmlReporter: { fileName: `reports/mutation/${name}.html` },
  // Where Stryker's --incremental mode keeps the last results of this module.
  incrementalFile: `reports/mutation/${name}.incremental.json`,
  tempDirName: '.stryker-tmp',
  ignorePatterns: ['/.tools', '/dist', '/build', '/data', '/coverage', '/.bench-build', '/.scratch', '/.jest-summary'],
};

/** One jest run covers the partner API, the Zapier app and the end-to-end proofs. */
module.exports = {
  testEnvironment: 'node',
  // The product directories are roots too, so coverage also counts a file that no test loads (at 0 %).
  roots: ['<rootDir>/test', '<rootDir>/partner-api', '<rootDir>/zapier-app', '<rootDir>/catalog', '<rootDir>/fixtures'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  testTimeout: 30000,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  // PostgreSQL (ILLUMICHAT_TEST_ENGINE=postgres, or a cluster in ILLUMICHAT_TEST_DATABASE_URL): one migrated
  // template database for the run, cloned per test file (test/support/pg.ts). Nothing on a plain SQLite run.
  globalSetup: '<rootDir>/test/support/pg-global-setup.ts',
  globalTeardown: '<rootDir>/test/support/pg-global-teardown.ts',
  // Type errors are caught once by `tsc --noEmit` in the test command, not per file by ts-jest.
  modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/build/', '<rootDir>/.tools/'],
  // Coverage of the product code, whether a test loads a file or not (npm test runs jest --coverage).
  collectCoverageFrom: ['partner-api/**/*.ts', 'zapier-app/**/*.ts', 'catalog/**/*.ts', 'fixtures/**/*.ts'],
  coverageReporters: ['text-summary', 'json-summary'],
  // The coverage gate: today's figures floored to the whole percent (measured 2026-11-29, the whole suite).
  // DO NOT LOWER THESE. When coverage rises, raise them in the same commit (CONTRIBUTING.md, "Coverage").
  // Jest checks each directory below on its own files, and `global` on every other file (server start-up,
  // config, db, lib, net, cli, catalog…, and the checkpoint thread, which runs only in its worker thread and
  // so counts 0 %), which is why `global` is the lowest line: the whole run measured 93.73 % statements,
  // 85.32 % branches, 94.46 % functions and 95.1 % lines.
  coverageThreshold: {
    global: { statements: 84, branches: 71, functions: 81, lines: 87 },
    './partner-api/domain/': { statements: 98, branches: 94, functions: 98, lines: 99 },
    './partner-api/delivery/': { statements: 94, branches: 87, functions: 98, lines: 96 },
    './partner-api/http/': { statements: 98, branches: 89, functions: 100, lines: 98 },
    './zapier-app/': { statements: 99, branches: 92, functions: 100, lines: 99 },
  },
};

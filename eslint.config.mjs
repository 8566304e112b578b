// ESLint flat config: typescript-eslint's type-checked rules over every TypeScript and JavaScript file the
// project owns. Formatting is Prettier's job (.prettierrc.json); eslint-config-prettier, last, turns off every
// stylistic rule that could disagree with it.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import simpleImportSort from 'eslint-plugin-simple-import-sort';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      '.tools/',
      'dist/',
      'build/',
      'coverage/',
      'data/',
      '.bench-build/',
      '.scratch/',
      'bench-results/',
      'docs/',
      // npm run test:mutation: Stryker's sandbox copy of the tree, and its reports.
      '.stryker-tmp/',
      'reports/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: { ...globals.node },
    },
    plugins: { 'simple-import-sort': simpleImportSort },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A promise nobody awaits loses its rejection: the bug a type-aware rule exists to catch.
      '@typescript-eslint/no-floating-promises': 'error',
      // Express 5 forwards a rejected handler promise to the error middleware (expressjs.com/en/guide/
      // error-handling.html), so an async function passed as an argument where a void callback is expected
      // (app.get(path, async (req, res) => …)) is safe there; every other misuse (a promise in an `if`, an
      // async method implementing a void one, an async attribute) stays an error.
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-import-type-side-effects': 'error',
      // `_name` marks a parameter a signature needs but the body does not (Express tells an error handler by its
      // four parameters); a rest sibling is how a test drops fields from an object it compares.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
      'simple-import-sort/imports': 'error',
      'simple-import-sort/exports': 'error',
    },
  },
  {
    // The CommonJS glue (jest config and reporter, the Zapier entry point, worker-thread scripts) has no types for
    // the type-aware rules to check, so it gets the plain recommended rules; require() is how it loads code.
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The settings pages' one script runs in the browser (partner-api/settings/assets/copy.js).
    files: ['partner-api/settings/assets/**/*.js'],
    languageOptions: { sourceType: 'script', globals: { ...globals.browser } },
  },
  {
    // scripts/demo.ts drives the integration through the same test helpers and prints what they answer.
    files: ['test/**/*.ts', 'scripts/demo.ts'],
    rules: {
      // Tests read HTTP and JSON bodies that are `any` by their libraries' types (supertest's res.body,
      // JSON.parse) and pin their shape with expect(); typing each read would be a cast that proves nothing.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      // The helpers' JSON records (JsonRecord, the Zapier tester's result) are `any` for the same reason.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  prettier,
);

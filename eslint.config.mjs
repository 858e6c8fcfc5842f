// ESLint: correctness only. Layout is Prettier's (.prettierrc.json), so no rule here is about style.
// TypeScript files get typescript-eslint's type-aware set (it reads tsconfig.json through the project
// service); the plain JavaScript gets ESLint's recommended rules with the globals of where it runs.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // Built, installed or recorded, never written by hand.
    ignores: ['dist/', 'coverage/', '.data/', '.tools/', 'test/fixtures/'],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  js.configs.recommended,
  {
    rules: {
      // Loops that end with a `return` or `break` inside, written `for (;;)` or `while (true)` on purpose.
      'no-constant-condition': ['error', { checkLoops: 'none' }],
      // Text is checked for U+0000 and other control characters on purpose (PostgreSQL text cannot hold NUL).
      'no-control-regex': 'off',
      // `catch {}` around a best-effort clean-up says, in a comment, why nothing is done.
      'no-empty': ['error', { allowEmptyCatch: true }],
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // tsc already reports unused locals and parameters (tsconfig.json: noUnusedLocals, noUnusedParameters).
      '@typescript-eslint/no-unused-vars': 'off',
      // `any` comes from the libraries' own types: node-postgres rows, Koa's next(), superstruct's
      // Struct<any, any>, and the JSON bodies tests read. Checking every use of it would mean a cast per column.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Objects are built from closures, not classes that use `this` (`read.end`, `recorder.close`): passing
      // a member on is safe here, and the rule cannot tell a closure from a method by the interface.
      '@typescript-eslint/unbound-method': 'off',
      // It flags every `list[i]!`: the codebase writes the `!` on purpose where an index may miss, as it
      // would have to under noUncheckedIndexedAccess; --fix would strip them all.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // `async () => undefined` is how a function that must return a promise says it has nothing to wait for.
      '@typescript-eslint/require-await': 'off',
      // Fire-and-forget is written `void promise`; an async handler may stand where a callback is expected.
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: true }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      // The CLI loads each command's modules only when that command runs (`require` inside a function), so a
      // hook run, which Claude Code waits for, never pays for the imports of init-claude or doctor.
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    // The dashboard: ES modules in the browser, no build step.
    files: ['dashboard/assets/*.js'],
    languageOptions: { sourceType: 'module', globals: { ...globals.browser } },
  },
  {
    // Node scripts: the benchmarks, the migrations, test helpers run as processes, configuration files.
    files: ['**/*.js'],
    ignores: ['dashboard/assets/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { ...globals.node } },
  },
  {
    // Its functions passed to page.evaluate() and page.waitForFunction() run in the browser.
    files: ['bench/dashboard.js'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module', globals: { ...globals.node } },
  },
);

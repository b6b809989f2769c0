// ESLint for the whole repository (flat config). `npm run lint` runs this, then tsc on both
// TypeScript projects. TypeScript files are linted with type information from tsconfig.json
// (engine, main, test, scripts) and renderer/tsconfig.json (renderer/src and the renderer
// component tests), so promise and type-safety rules see the real types.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores([
    'dist/',
    'node_modules/',
    'renderer/dist/',
    'engine/native/build/',
    'test-results/',
  ]),

  js.configs.recommended,

  {
    name: 'wirelane/all',
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      eqeqeq: ['error', 'always'],
      'no-console': 'error',
    },
  },

  {
    name: 'wirelane/typescript',
    files: ['**/*.ts', '**/*.tsx'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        // A file is checked with the first project that includes it. The renderer's component
        // tests live in test/unit but belong to the renderer project (DOM lib, JSX), so the two
        // projects are listed explicitly rather than found by the nearest tsconfig.json.
        project: ['./tsconfig.json', './renderer/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test()/describe() return a promise the runner itself awaits and reports;
          // awaiting it in the file would only serialise the top level.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'inline-type-imports' },
      ],
      // Off: an `async` function with no `await` is how this code implements a Promise-returning
      // interface (fakes in tests, `async () => null` desktop stubs, handlers whose throw must
      // become a rejection rather than escape synchronously). no-floating-promises and
      // no-misused-promises already catch the mistakes that rule aims at.
      '@typescript-eslint/require-await': 'off',
      // `_name` marks a parameter or binding kept for its position (callback signatures,
      // destructuring to drop a field); everything else unused is a finding.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
    },
  },

  {
    // Packet and protocol code indexes byte arrays under noUncheckedIndexedAccess and asserts
    // non-null (`offsets[i]!`) right after the bounds check, on purpose: a second check per byte
    // on the hot path would cost more than it proves. (Not in recommended-type-checked either;
    // stated here so turning on `strict` later keeps it off for the engine.)
    name: 'wirelane/engine-non-null-after-bounds-checks',
    files: ['engine/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },

  {
    // Build configs of the renderer belong to neither tsconfig (vite loads them itself), so they
    // are linted without type information.
    name: 'wirelane/untyped-build-configs',
    files: ['renderer/vite.config.ts', 'renderer/vitest.config.ts'],
    extends: [tseslint.configs.disableTypeChecked],
  },

  {
    name: 'wirelane/node-scripts',
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: globals.node },
  },

  {
    name: 'wirelane/renderer',
    files: ['renderer/src/**/*.{ts,tsx}', 'test/unit/renderer-*.test.tsx'],
    extends: [reactHooks.configs.flat.recommended],
    languageOptions: { globals: globals.browser },
  },

  {
    // Command-line programs and test runners print to the terminal by design; so does
    // main/browser-mode.ts, `npm start` without Electron, which prints the page's address and
    // how to stop it to the terminal it was started from.
    name: 'wirelane/console-allowed',
    files: ['engine/cli/**', 'scripts/**', 'test/**', 'main/browser-mode.ts'],
    rules: { 'no-console': 'off' },
  },
);

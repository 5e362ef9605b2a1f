// `npm run lint`: typescript-eslint's type-checked rules over src/, test/, bench/ and scripts/.
// ESLint rather than Biome for the rules that need types (floating and misused promises, await of
// non-promises, unsafe any, throwing non-errors): a tool that deletes data cannot afford an
// unawaited promise, and neither can a test that checks it.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', 'man/**', '*.config.*', '.dependency-cruiser.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    files: ['src/**/*.ts'],
    languageOptions: {
      parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Interface methods (drivers, sources, sinks) are `async` without an await on purpose: a
      // synchronous throw then reaches the caller as a rejected promise, as the interface promises.
      '@typescript-eslint/require-await': 'off',
      // `_name`: a parameter an interface requires but this implementation ignores, or a loop that only counts.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Thread bodies run from their source text (`eval: true`): they cannot import, so they require.
    files: ['src/drivers/local-reads/thread-body.ts', 'src/verify/hashing/thread-body.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Not shipped: typed by tsconfig.check.json, which `npm run typecheck` also checks.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    languageOptions: {
      parserOptions: { project: './tsconfig.check.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // As in src/: callbacks handed to the async interfaces (stream openers, fake drivers) are `async` without an await.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Tests read the CLI's JSON output and the store's files through JSON.parse (`any`) and
      // assert on the fields: typing each of them would add casts, not checks.
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // Build scripts and a test preload in plain JavaScript (Node ESM): no types, so the rules that need them are off.
    files: ['scripts/**/*.mjs', 'test/**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { process: 'readonly', URL: 'readonly', console: 'readonly' } },
  },
);

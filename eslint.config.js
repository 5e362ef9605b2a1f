// `npm run lint`: typescript-eslint's type-checked rules over src/. ESLint rather than Biome for
// the rules that need types (floating and misused promises, await of non-promises, unsafe any,
// throwing non-errors): a tool that deletes data cannot afford an unawaited promise.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', 'man/**', 'test/**', 'bench/**', 'scripts/**', '*.config.*', '.dependency-cruiser.cjs'] },
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
);

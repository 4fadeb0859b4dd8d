import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'src/platform/db/migrations/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', performance: 'readonly', fetch: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      'no-console': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/public/**/*.js'],
    languageOptions: { globals: { document: 'readonly', HTMLElement: 'readonly', window: 'readonly' } },
  },
  {
    files: ['src/features/api/docs-theme/**/*.js'],
    languageOptions: { globals: { document: 'readonly', MutationObserver: 'readonly' } },
  },
  {
    files: ['scripts/**', 'bench/**', 'test/**', 'src/cli/**'],
    rules: { 'no-console': 'off' },
  },
);

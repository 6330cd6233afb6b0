import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'data/**', 'node_modules/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': 'off',
    },
  },
  {
    files: ['online/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/offline/**'] }] },
  },
  {
    files: ['offline/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/online/**'] }] },
  },
);

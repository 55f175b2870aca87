import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  { files: ['**/*.mjs', '**/*.js'], languageOptions: { globals: globals.node } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          // Secret comparison must be constant-time: use crypto/compare.ts (timingSafeEqual).
          selector: "CallExpression[callee.property.name='compare'][callee.object.name='Buffer']",
          message: 'Use timingSafeEqual-based helpers for secrets.',
        },
        {
          selector: "ExportAllDeclaration",
          message: 'No export * barrels: public API is opt-in.',
        },
      ],
    },
  },
);

// Lint rules, including the import boundaries that keep the planes apart (see ARCHITECTURE.md).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX, createNodeResolver } from 'eslint-plugin-import-x';

/** Build a no-restricted-imports rule forbidding the given folders (relative import groups). */
const forbid = (message, ...groups) => ({
  'no-restricted-imports': ['error', { patterns: [{ group: groups, message }] }],
});

export default tseslint.config(
  { ignores: ['node_modules/**', 'bench/results/**', 'src/web/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's test()/describe() return promises the runner tracks itself.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }],
      }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    // No import cycles anywhere in the sources: layers must stay a directed graph.
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: { 'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] }, 'import-x/extensions': ['.ts', '.js'], 'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js'] })] },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    files: ['src/protocol/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['../*', 'node:*', 'fastify', 'pino'], message: 'src/protocol is pure: schemas and types only, no I/O and no imports from other folders.' },
        ],
      }],
    },
  },
  { files: ['src/kernel/**/*.ts'], rules: forbid('src/kernel may import only src/protocol.', '**/fusion/**', '**/agent/**', '**/controller/**', '**/cli/**', '**/web/**') },
  { files: ['src/fusion/**/*.ts'], rules: forbid('fusion never imports agent, controller, cli or web: they meet through src/protocol and the network.', '**/agent/**', '**/controller/**', '**/cli/**', '**/web/**') },
  {
    files: ['src/fusion/view-fs/**/*.ts', 'src/fusion/tree/**/*.ts', 'src/fusion/view-forest/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: forbid('the consistency engine is synchronous plain code: no HTTP, no fastify, no other planes.', 'fastify', 'node:http', '**/http/**', '**/agent/**', '**/controller/**', '**/cli/**', '**/web/**'),
  },
  { files: ['src/agent/**/*.ts'], rules: forbid('agent never imports fusion, controller, cli or web.', '**/fusion/**', '**/controller/**', '**/cli/**', '**/web/**') },
  { files: ['src/controller/**/*.ts'], rules: forbid('controller never imports fusion, agent, cli or web.', '**/fusion/**', '**/agent/**', '**/cli/**', '**/web/**') },
  { files: ['**/*.js', '**/*.mjs'], languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } } },
);

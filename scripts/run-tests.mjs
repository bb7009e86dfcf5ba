#!/usr/bin/env node
// Runs the test suite with node:test through tsx. Node 20 does not discover `.ts` test files by itself,
// so this script lists them explicitly: unit tests next to the code (src/**/*.test.ts) and integration
// tests with real processes (test/**/*.test.ts). `npm test -- unit` runs only the unit tests;
// any other argument filters test files by substring.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const walk = (dir) => readdirSync(dir).flatMap((name) => {
  const full = join(dir, name);
  if (statSync(full).isDirectory()) return name === 'node_modules' ? [] : walk(full);
  return name.endsWith('.test.ts') ? [relative(root, full)] : [];
});

const args = process.argv.slice(2);
let files = [...walk(join(root, 'src')), ...walk(join(root, 'test'))].sort();
if (args[0] === 'unit') files = files.filter((f) => f.startsWith('src/'));
else if (args.length > 0) files = files.filter((f) => args.some((a) => f.includes(a)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const result = spawnSync(process.execPath, [
  '--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', '--test-timeout=240000', ...files,
], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);

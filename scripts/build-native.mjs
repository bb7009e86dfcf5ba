#!/usr/bin/env node
// Builds the agent's inotify helper (native/inotify-helper.c → native/build/inotify-helper) with the
// machine's C compiler. Runs as the root package's "install" script, and on demand from
// src/agent/fs/inotify/helper-binary.ts when the binary is missing or older than its source.
//
// At install time a missing compiler must not fail `npm install` (Fusion and the controller do not need
// the helper): we print one line and exit 0, and the agent reports the cause when it starts.
// With --strict (the on-demand build) every failure exits 1 so the caller can report it.
import { accessSync, constants, mkdirSync, renameSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const source = join(root, 'native', 'inotify-helper.c');
const outDir = join(root, 'native', 'build');
const output = join(outDir, 'inotify-helper');
const strict = process.argv.includes('--strict');
const quiet = process.argv.includes('--quiet');

/** Print one line and stop: exit 0 at install time, 1 in strict mode. */
function giveUp(line) {
  console.error(`fustor: cannot build the inotify helper: ${line}`);
  process.exit(strict ? 1 : 0);
}

/** First executable named `name` on PATH (or `name` itself when it is a path). */
function which(name) {
  const candidates = name.includes('/') ? [name] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, name));
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here; keep looking
    }
  }
  return null;
}

if (process.platform !== 'linux') {
  if (!quiet) console.error('fustor: the inotify helper is Linux-only; skipped on ' + process.platform);
  process.exit(strict ? 1 : 0);
}

const compiler = [process.env.CC, 'cc', 'gcc', 'clang'].filter(Boolean).map(which).find(Boolean);
if (!compiler) {
  giveUp('no C compiler found — install build-essential (Debian: apt-get install -y build-essential) and run npm rebuild');
}

mkdirSync(outDir, { recursive: true });
// Compile to a private name, then rename: concurrent builds (parallel test files) never see half a binary.
const temp = `${output}.${process.pid}.tmp`;
const result = spawnSync(compiler, ['-O2', '-Wall', '-Wextra', '-o', temp, source], { encoding: 'utf8' });
if (result.error || result.status !== 0) {
  rmSync(temp, { force: true });
  const detail = result.error ? result.error.message : (result.stderr || '').trim().split('\n').slice(-3).join(' | ');
  giveUp(`${compiler} failed (${detail}) — check that the C library headers are installed (Debian: apt-get install -y build-essential)`);
}
if (result.stderr && result.stderr.trim() && !quiet) console.error(result.stderr.trim());
renameSync(temp, output);
if (!quiet) console.error(`fustor: built ${output.slice(root.length)}`);

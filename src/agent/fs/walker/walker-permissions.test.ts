import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './walker-test-kit.ts';
import type { WalkRow } from './types.ts';

const SETPRIV = '/usr/bin/setpriv';
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
const canDropPrivileges = process.getuid?.() === 0 && existsSync(SETPRIV);

test('unreadable directories are skipped, reported once, and protect their children in an audit', {
  skip: canDropPrivileges ? false : 'needs root and setpriv to run the walk as nobody (root reads everything)',
}, () => {
  const { dir, cleanup } = tempDir();
  try {
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'ok'));
    writeFileSync(join(dir, 'ok', 'a'), 'a');
    writeFileSync(join(dir, 'ok', 'b'), 'bb');
    // Not listable by others.
    mkdirSync(join(dir, 'locked', 'inner'), { recursive: true });
    writeFileSync(join(dir, 'locked', 'secret'), 's');
    chmodSync(join(dir, 'locked'), 0o700);
    // Listable but not searchable by others: names come back, lstat of each fails.
    mkdirSync(join(dir, 'noexec', 'sub'), { recursive: true });
    writeFileSync(join(dir, 'noexec', 'x'), 'x');
    chmodSync(join(dir, 'noexec'), 0o744);

    const tsx = createRequire(import.meta.url).resolve('tsx');
    const child = fileURLToPath(new URL('./walker-test-child.ts', import.meta.url));
    const r = spawnSync(SETPRIV, [...NOBODY, process.execPath, '--import', tsx, child, dir], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const [snap, audit] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { mode: string; rows: WalkRow[]; errors: string[]; cache: string[] });

    const expectedErrors = ['/locked EACCES', '/noexec/sub EACCES', '/noexec/x EACCES'];
    for (const w of [snap, audit]) {
      assert.deepEqual([...w.errors].sort(), expectedErrors, `${w.mode}: each unreadable path reported once`);
      assert.deepEqual([...new Set(w.rows.map((x) => x.path))].sort(), ['/', '/locked', '/noexec', '/ok', '/ok/a', '/ok/b'], w.mode);
    }
    // Audit: the directories whose listing is incomplete say audit_skipped (so the gateway does not
    // delete their children) and are kept out of the cache; a complete one is listed normally.
    const last = new Map(audit.rows.map((x) => [x.path, x]));
    assert.equal(last.get('/locked')?.audit_skipped, true);
    assert.equal(last.get('/noexec')?.audit_skipped, true);
    assert.equal(last.get('/ok')?.audit_skipped, false);
    assert.equal(last.get('/')?.audit_skipped, false);
    assert.deepEqual([...audit.cache].sort(), ['/', '/ok']);
  } finally {
    cleanup();
  }
});

/**
 * The realtime half of the fs source on real inotify and real temporary directories: the event → row
 * mapping of spec 40 (close_write, modify/attrib throttle, create, delete, moves, new directories).
 */
import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, closeSync, mkdirSync, openSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSource, sleep, tempRoot, waitUntil, type SourceHarness } from './source-test-kit.ts';

async function withSource(fn: (h: SourceHarness) => Promise<void>, prepare?: (root: string) => void, throttleIntervalSec = 5): Promise<void> {
  const h = await openSource({ prepare, throttleIntervalSec });
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

test('create + write → non-atomic upsert (modify); close → atomic upsert with the final size', () => withSource(async ({ root, out }) => {
  const fd = openSync(join(root, 'f.txt'), 'w');
  try {
    writeSync(fd, 'hello');
    await waitUntil(() => out.upserts('/f.txt').length >= 1, 'the modify upsert', 5000, () => out.trace);
    assert.equal(out.upserts('/f.txt')[0].is_atomic_write, false, 'a write in progress is not atomic');
  } finally {
    closeSync(fd);
  }
  await waitUntil(() => out.upserts('/f.txt').some((r) => r.is_atomic_write === true), 'the close_write upsert', 5000, () => out.trace);
  const rows = out.upserts('/f.txt');
  const last = rows[rows.length - 1];
  assert.equal(last.is_atomic_write, true);
  assert.equal(last.size, 5);
  assert.equal(last.is_directory, false);
  assert.equal(last.file_name, 'f.txt');
  assert.ok(Math.abs(last.modified_time - Date.now() / 1000) < 60, 'mtime in float seconds');
}));

test('an empty file created and closed → one atomic upsert; append → atomic upsert with the new size', () => withSource(async ({ root, out }) => {
  writeFileSync(join(root, 'empty'), '');
  await waitUntil(() => out.upserts('/empty').length >= 1, 'empty file upsert');
  assert.deepEqual(out.upserts('/empty').map((r) => [r.is_atomic_write, r.size]), [[true, 0]]);
  appendFileSync(join(root, 'empty'), 'abc');
  await waitUntil(() => out.upserts('/empty').some((r) => r.size === 3 && r.is_atomic_write === true), 'the append upsert', 5000, () => out.trace);
}));

test('chmod → non-atomic upsert, throttled per path (several attribs within the interval → one row)', () => withSource(async ({ root, out }) => {
  writeFileSync(join(root, 'm'), 'x');
  writeFileSync(join(root, 'other'), 'x');
  const atomic = (p: string): boolean => out.upserts(p).some((r) => r.is_atomic_write === true);
  await waitUntil(() => atomic('/m') && atomic('/other'), 'the initial upserts');
  await sleep(50);
  const before = out.upserts('/m').length;
  const otherBefore = out.upserts('/other').length;
  chmodSync(join(root, 'm'), 0o600);
  await waitUntil(() => out.upserts('/m').length > before, 'the chmod upsert');
  chmodSync(join(root, 'm'), 0o640);
  chmodSync(join(root, 'm'), 0o644);
  chmodSync(join(root, 'other'), 0o600); // another path has its own throttle entry
  await waitUntil(() => out.upserts('/other').length > otherBefore, 'the other chmod upsert');
  await sleep(200);
  const after = out.upserts('/m').slice(before);
  assert.deepEqual(after.map((r) => r.is_atomic_write), [false], 'one non-atomic row for three chmods within 5 s');
  assert.equal(out.upserts('/other').at(-1)?.is_atomic_write, false);
}));

test('the throttle lets a modify through again once the interval has passed', () => withSource(async ({ root, out }) => {
  // 2 s: the second chmod must reach the source within the interval of the first one for "throttled" to
  // hold; 2 s leaves room for a loaded host (the chmod follows the first row by ~10 ms).
  const intervalMs = 2000;
  writeFileSync(join(root, 'm'), 'x');
  await waitUntil(() => out.upserts('/m').some((r) => r.is_atomic_write === true), 'initial upsert');
  await sleep(50);
  const base = out.upserts('/m').length;
  chmodSync(join(root, 'm'), 0o600);
  await waitUntil(() => out.upserts('/m').length === base + 1, 'first chmod');
  const first = Date.now();
  chmodSync(join(root, 'm'), 0o640);
  await sleep(100);
  assert.equal(out.upserts('/m').length, base + 1, 'throttled');
  // The source stamps the first chmod when it handles it, before the row is seen here: past `first +
  // interval` the interval has certainly passed.
  await sleep(Math.max(0, first + intervalMs + 50 - Date.now()));
  chmodSync(join(root, 'm'), 0o644);
  await waitUntil(() => out.upserts('/m').length === base + 2, 'chmod after the interval');
}, undefined, 2));

test('delete a file and a directory → delete rows', () => withSource(async ({ root, out }) => {
  rmSync(join(root, 'f'));
  rmSync(join(root, 'd'), { recursive: true });
  await waitUntil(() => out.deletes('/f') === 1 && out.deletes('/d') === 1 && out.deletes('/d/inner') === 1, 'delete rows', 5000, () => out.trace);
  assert.equal(out.realtimeRows.filter((r) => r.kind === 'upsert').length, 0, 'no upserts for deletions');
}, (root) => {
  writeFileSync(join(root, 'f'), 'x');
  mkdirSync(join(root, 'd'));
  writeFileSync(join(root, 'd', 'inner'), 'y');
}));

test('rename a file → delete(old) + upsert(new), atomic', () => withSource(async ({ root, out }) => {
  renameSync(join(root, 'a'), join(root, 'sub', 'b'));
  await waitUntil(() => out.deletes('/a') === 1 && out.upserts('/sub/b').length === 1, 'move rows', 5000, () => out.trace);
  const iDel = out.trace.indexOf('rt:delete:/a');
  const iUp = out.trace.indexOf('rt:upsert:/sub/b');
  assert.ok(iDel < iUp, 'delete first');
  assert.equal(out.upserts('/sub/b')[0].is_atomic_write, true);
  assert.equal(out.upserts('/sub/b')[0].size, 4);
}, (root) => {
  writeFileSync(join(root, 'a'), 'abcd');
  mkdirSync(join(root, 'sub'));
}));

test('rename a directory with nested content → delete(old) + upsert(new) for it and every descendant; watches follow', () => withSource(async ({ root, out }) => {
  renameSync(join(root, 'd'), join(root, 'e'));
  const rel = ['', '/x', '/s', '/s/y', '/s/t', '/s/t/z'];
  await waitUntil(() => rel.every((r) => out.deletes(`/d${r}`) === 1 && out.upserts(`/e${r}`).length === 1), 'rows for every descendant', 5000, () => out.trace);
  for (const r of rel) {
    assert.ok(out.trace.indexOf(`rt:delete:/d${r}`) < out.trace.indexOf(`rt:upsert:/e${r}`), `delete before upsert for ${r}`);
  }
  assert.equal(out.upserts('/e/s/t').at(-1)?.is_directory, true);
  assert.equal(out.upserts('/e/s/t/z').at(-1)?.size, 3);
  // The watches moved with the inodes and now carry the new paths.
  writeFileSync(join(root, 'e', 's', 't', 'new'), '1');
  writeFileSync(join(root, 'e', 'x2'), '1');
  await waitUntil(() => out.upserts('/e/s/t/new').length >= 1 && out.upserts('/e/x2').length >= 1, 'events under the moved directory at new paths', 5000, () => out.trace);
  assert.equal(out.realtimeRows.filter((r) => r.row.path.startsWith('/d/') && r.kind === 'upsert').length, 0, 'nothing at the old paths');
}, (root) => {
  mkdirSync(join(root, 'd', 's', 't'), { recursive: true });
  writeFileSync(join(root, 'd', 'x'), '1');
  writeFileSync(join(root, 'd', 's', 'y'), '12');
  writeFileSync(join(root, 'd', 's', 't', 'z'), '123');
}));

test('mkdir -p a/b/c and files inside at once → every directory and file appears', () => withSource(async ({ root, out }) => {
  mkdirSync(join(root, 'a', 'b', 'c'), { recursive: true });
  writeFileSync(join(root, 'a', 'f1'), '1');
  writeFileSync(join(root, 'a', 'b', 'f2'), '22');
  writeFileSync(join(root, 'a', 'b', 'c', 'f3'), '333');
  const want = ['/a', '/a/b', '/a/b/c', '/a/f1', '/a/b/f2', '/a/b/c/f3'];
  await waitUntil(() => want.every((p) => out.upserts(p).length >= 1), 'all entries', 5000, () => out.trace);
  assert.equal(out.upserts('/a/b/c/f3').at(-1)?.size, 3);
  for (const d of ['/a', '/a/b', '/a/b/c']) assert.equal(out.upserts(d)[0].is_directory, true);
  // The new directories are watched: later changes arrive too.
  writeFileSync(join(root, 'a', 'b', 'c', 'later'), 'x');
  await waitUntil(() => out.upserts('/a/b/c/later').some((r) => r.is_atomic_write === true), 'event in the new directory');
}));

test('a directory moved in from outside the root → its content appears; moved out → delete', async () => {
  const outside = tempRoot('fustor-source-outside-');
  try {
    mkdirSync(join(outside.dir, 'pkg', 'sub'), { recursive: true });
    writeFileSync(join(outside.dir, 'pkg', 'x'), '1');
    writeFileSync(join(outside.dir, 'pkg', 'sub', 'y'), '22');
    await withSource(async ({ root, out }) => {
      renameSync(join(outside.dir, 'pkg'), join(root, 'in'));
      const want = ['/in', '/in/x', '/in/sub', '/in/sub/y'];
      await waitUntil(() => want.every((p) => out.upserts(p).length >= 1), 'moved-in content', 5000, () => out.trace);
      assert.equal(out.upserts('/in/sub/y')[0].size, 2);
      writeFileSync(join(root, 'in', 'sub', 'w'), 'w');
      await waitUntil(() => out.upserts('/in/sub/w').length >= 1, 'watch on the moved-in sub-directory');
      renameSync(join(root, 'in'), join(outside.dir, 'back'));
      await waitUntil(() => out.deletes('/in') === 1, 'delete after the move out', 5000, () => out.trace);
      // The watches under it were dropped: activity out there is no longer reported.
      writeFileSync(join(outside.dir, 'back', 'sub', 'ghost'), 'g');
      await sleep(200);
      assert.equal(out.realtimeRows.filter((r) => r.row.path.endsWith('/ghost')).length, 0);
    });
  } finally {
    outside.cleanup();
  }
});

test('a symlink (no close_write) → upsert on create; a regular file waits for close_write', () => withSource(async ({ root, out }) => {
  symlinkSync('/nonexistent-target', join(root, 'link'));
  await waitUntil(() => out.upserts('/link').length === 1, 'symlink upsert');
  assert.equal(out.upserts('/link')[0].is_directory, false);
}));

test('file_pattern filters realtime file rows, never directories', async () => {
  const h = await openSource({ filePattern: '*.txt' });
  try {
    mkdirSync(join(h.root, 'dir.bin'));
    writeFileSync(join(h.root, 'skip.bin'), 'x');
    writeFileSync(join(h.root, 'keep.txt'), 'x');
    await waitUntil(() => h.out.upserts('/keep.txt').length >= 1 && h.out.upserts('/dir.bin').length >= 1, 'rows');
    await sleep(100);
    assert.equal(h.out.upserts('/skip.bin').length, 0);
  } finally {
    await h.close();
  }
});

test('status: watch count, events per second, idle walk', () => withSource(async ({ root, src, out }) => {
  for (let i = 0; i < 20; i++) writeFileSync(join(root, `f${i}`), 'x');
  await waitUntil(() => out.realtimeRows.length >= 20, 'rows');
  const st = src.status();
  assert.equal(st.watchCount, 3); // root, a, a/b
  assert.equal(st.watchLimit, 1000);
  assert.deepEqual(st.degraded, []);
  assert.equal(st.walk.phase, 'idle');
  assert.equal(st.overflowCount, 0);
  assert.equal(st.lastError, null);
  assert.ok(src.watchedPaths().includes('/a/b'));
  // The rate counts the completed seconds of a 5 s window: polled until a second boundary has passed.
  await waitUntil(() => src.status().eventsPerSec > 0, 'events counted in the rate', 20_000);
}, (root) => mkdirSync(join(root, 'a', 'b'), { recursive: true })));

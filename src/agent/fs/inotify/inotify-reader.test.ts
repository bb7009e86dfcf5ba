/**
 * InotifyReader against real inotify on temporary directories: what each file operation is reported as,
 * rename pairing through the MovePairer, dynamic watches, errno reporting and non-UTF-8 names.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  appendFileSync, chmodSync, mkdirSync, renameSync, rmdirSync, symlinkSync, unlinkSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { decodeName, encodeName } from '../../../protocol/paths.ts';
import { InotifyHelperError, InotifyWatchError } from './errors.ts';
import { openHarness, sleep, type Harness } from './inotify-test-kit.ts';
import type { MoveEvent, PairedEvent } from './move-pairer.ts';

const isMove = (e: PairedEvent): e is MoveEvent => e.kind === 'move';

async function withHarness(fn: (h: Harness) => Promise<void>): Promise<void> {
  const h = await openHarness();
  try {
    await fn(h);
    assert.deepEqual(h.errors, []);
  } finally {
    await h.close();
  }
}

describe('inotify reader — file operations', () => {
  test('create, write and close a new file → create, modify, close_write in order', () => withHarness(async (h) => {
    const id = await h.reader.addWatch(h.root);
    writeFileSync(join(h.root, 'a.txt'), 'hello');
    await h.waitUntil(() => h.kindsFor('a.txt').includes('close_write'), 'close_write of a.txt');
    assert.deepEqual(h.kindsFor('a.txt'), ['create', 'modify', 'close_write']);
    const close = h.events.find((e) => e.kind === 'close_write');
    assert.deepEqual(close, { watchId: id, dirPath: h.root, name: 'a.txt', kind: 'close_write', isDir: false, cookie: 0 });
  }));

  test('append to an existing file → modify then close_write, no create', () => withHarness(async (h) => {
    writeFileSync(join(h.root, 'log'), 'one\n');
    await h.reader.addWatch(h.root);
    appendFileSync(join(h.root, 'log'), 'two\n');
    await h.waitUntil(() => h.kindsFor('log').includes('close_write'), 'close_write of log');
    assert.deepEqual(h.kindsFor('log'), ['modify', 'close_write']);
  }));

  test('chmod → attrib', () => withHarness(async (h) => {
    writeFileSync(join(h.root, 'f'), '');
    await h.reader.addWatch(h.root);
    chmodSync(join(h.root, 'f'), 0o600);
    await h.waitUntil(() => h.kindsFor('f').includes('attrib'), 'attrib of f');
    assert.deepEqual(h.kindsFor('f'), ['attrib']);
  }));

  test('unlink a file and rmdir a directory → delete (isDir set for the directory)', () => withHarness(async (h) => {
    writeFileSync(join(h.root, 'f'), '');
    mkdirSync(join(h.root, 'd'));
    await h.reader.addWatch(h.root);
    unlinkSync(join(h.root, 'f'));
    rmdirSync(join(h.root, 'd'));
    await h.waitUntil(() => h.kindsFor('d').includes('delete'), 'delete of d');
    assert.deepEqual(h.events.map((e) => [e.name, e.kind, e.isDir]), [['f', 'delete', false], ['d', 'delete', true]]);
  }));
});

describe('inotify reader — renames through the move pairer', () => {
  test('rename a file within a directory → one paired move', () => withHarness(async (h) => {
    writeFileSync(join(h.root, 'old'), '');
    const id = await h.reader.addWatch(h.root);
    renameSync(join(h.root, 'old'), join(h.root, 'new'));
    await h.waitUntil(() => h.paired.some(isMove), 'a move');
    const from = h.events.find((e) => e.kind === 'moved_from');
    const to = h.events.find((e) => e.kind === 'moved_to');
    assert.ok(from && to && from.cookie !== 0 && from.cookie === to.cookie, 'the two halves share a non-zero cookie');
    assert.deepEqual(h.paired, [{
      kind: 'move', isDir: false, cookie: from.cookie,
      from: { watchId: id, dirPath: h.root, name: 'old' }, to: { watchId: id, dirPath: h.root, name: 'new' },
    }]);
  }));

  test('rename a file across two watched directories → one paired move between the two watches', () => withHarness(async (h) => {
    mkdirSync(join(h.root, 'a'));
    mkdirSync(join(h.root, 'b'));
    writeFileSync(join(h.root, 'a', 'f'), '');
    const a = await h.reader.addWatch(join(h.root, 'a'));
    const b = await h.reader.addWatch(join(h.root, 'b'));
    renameSync(join(h.root, 'a', 'f'), join(h.root, 'b', 'g'));
    await h.waitUntil(() => h.paired.some(isMove), 'a move');
    const move = h.paired.find(isMove);
    assert.deepEqual(move?.from, { watchId: a, dirPath: join(h.root, 'a'), name: 'f' });
    assert.deepEqual(move?.to, { watchId: b, dirPath: join(h.root, 'b'), name: 'g' });
    assert.equal(h.paired.length, 1);
  }));

  test('rename a watched directory → paired move (isDir) and move_self; renameWatches re-points its subtree', () => withHarness(async (h) => {
    mkdirSync(join(h.root, 'd', 'sub'), { recursive: true });
    await h.reader.addWatch(h.root);
    const d = await h.reader.addWatch(join(h.root, 'd'));
    const sub = await h.reader.addWatch(join(h.root, 'd', 'sub'));
    renameSync(join(h.root, 'd'), join(h.root, 'e'));
    await h.waitUntil(() => h.paired.some(isMove) && h.events.some((e) => e.kind === 'move_self'), 'move and move_self');
    const move = h.paired.find(isMove);
    assert.equal(move?.isDir, true);
    assert.equal(move?.from.name, 'd');
    assert.equal(move?.to.name, 'e');
    const self = h.events.find((e) => e.kind === 'move_self');
    assert.equal(self?.watchId, d);
    assert.equal(self?.name, '');

    assert.equal(h.reader.renameWatches(join(h.root, 'd'), join(h.root, 'e')), 2);
    assert.equal(h.reader.watchPath(sub), join(h.root, 'e', 'sub'));
    writeFileSync(join(h.root, 'e', 'sub', 'x'), '');
    await h.waitUntil(() => h.kindsFor('x').includes('close_write'), 'close_write of x');
    assert.equal(h.events.find((e) => e.name === 'x')?.dirPath, join(h.root, 'e', 'sub'));
  }));

  test('move out of the watched set → delete (fromMove); move in → create (fromMove)', () => withHarness(async (h) => {
    mkdirSync(join(h.root, 'in'));
    mkdirSync(join(h.root, 'out'));
    writeFileSync(join(h.root, 'in', 'leaving'), '');
    writeFileSync(join(h.root, 'out', 'arriving'), '');
    await h.reader.addWatch(join(h.root, 'in'));
    renameSync(join(h.root, 'in', 'leaving'), join(h.root, 'out', 'leaving'));
    renameSync(join(h.root, 'out', 'arriving'), join(h.root, 'in', 'arriving'));
    await h.waitUntil(() => h.paired.length === 2, 'two paired-stage events');
    assert.deepEqual(h.paired.map((e) => [e.kind, 'name' in e ? e.name : '', 'fromMove' in e ? e.fromMove : undefined]),
      [['delete', 'leaving', true], ['create', 'arriving', true]], 'order kept: the delete waited its window and the create waited behind it');
  }));
});

describe('inotify reader — dynamic watches', () => {
  test('mkdir → create (isDir); watching the new directory then reports what happens inside it', () => withHarness(async (h) => {
    await h.reader.addWatch(h.root);
    mkdirSync(join(h.root, 'new'));
    await h.waitUntil(() => h.kindsFor('new').includes('create'), 'create of new');
    assert.equal(h.events.find((e) => e.name === 'new')?.isDir, true);
    const id = await h.reader.addWatch(join(h.root, 'new'));
    writeFileSync(join(h.root, 'new', 'inside'), 'x');
    await h.waitUntil(() => h.kindsFor('inside').includes('close_write'), 'close_write of inside');
    assert.ok(h.events.filter((e) => e.name === 'inside').every((e) => e.watchId === id && e.dirPath === join(h.root, 'new')));
  }));

  test('removeWatch → no event of that watch is delivered afterwards, others continue', () => withHarness(async (h) => {
    mkdirSync(join(h.root, 'quiet'));
    mkdirSync(join(h.root, 'loud'));
    const quiet = await h.reader.addWatch(join(h.root, 'quiet'));
    const loud = await h.reader.addWatch(join(h.root, 'loud'));
    writeFileSync(join(h.root, 'quiet', 'before'), '');
    await h.reader.removeWatch(quiet);
    writeFileSync(join(h.root, 'quiet', 'after'), '');
    writeFileSync(join(h.root, 'loud', 'marker'), '');
    await h.waitUntil(() => h.kindsFor('marker').includes('close_write'), 'the marker in the other watch');
    await sleep(30);
    assert.equal(h.events.filter((e) => e.watchId === quiet && e.name === 'after').length, 0);
    assert.equal(h.events.filter((e) => e.kind === 'ignored').length, 0, 'the IN_IGNORED of a removed watch is dropped too');
    assert.equal(h.reader.watchCount, 1);
    assert.equal(h.reader.watchPath(loud), join(h.root, 'loud'));
  }));

  test('thousands of watches added and half removed → every event still names the right watch', () => withHarness(async (h) => {
    const count = 3000;
    for (let i = 0; i < count; i++) mkdirSync(join(h.root, `d${i}`));
    const ids = await Promise.all(Array.from({ length: count }, (_, i) => h.reader.addWatch(join(h.root, `d${i}`))));
    await Promise.all(ids.filter((_, i) => i % 2 === 0).map((id) => h.reader.removeWatch(id)));
    for (let i = 0; i < count; i += 3) rmdirSync(join(h.root, `d${i}`)); // kernel-side removals (ignored) too
    for (let i = 1; i < count; i += 2) if (i % 3 !== 0) writeFileSync(join(h.root, `d${i}`, `f${i}`), '');
    const expected = Array.from({ length: count }, (_, i) => i).filter((i) => i % 2 === 1 && i % 3 !== 0);
    await h.waitUntil(() => h.events.filter((e) => e.kind === 'close_write').length === expected.length, 'all close_write', 10_000);
    for (const e of h.events.filter((x) => x.kind === 'close_write')) {
      const i = Number(e.name.slice(1));
      assert.equal(e.watchId, ids[i]);
      assert.equal(e.dirPath, join(h.root, `d${i}`));
    }
    assert.equal(h.reader.watchCount, expected.length);
    // Re-adding removed directories works and gets fresh ids.
    const again = await h.reader.addWatch(join(h.root, 'd2'));
    assert.ok(!ids.includes(again));
  }));

  test('removing a watched directory → delete_self then ignored, and the watch is gone', () => withHarness(async (h) => {
    mkdirSync(join(h.root, 'doomed'));
    const id = await h.reader.addWatch(join(h.root, 'doomed'));
    rmdirSync(join(h.root, 'doomed'));
    await h.waitUntil(() => h.events.some((e) => e.kind === 'ignored'), 'ignored');
    assert.deepEqual(h.events.map((e) => [e.watchId, e.kind, e.name]), [[id, 'delete_self', ''], [id, 'ignored', '']]);
    assert.equal(h.reader.watchCount, 0);
    assert.equal(h.reader.watchPath(id), undefined);
  }));

  test('addWatch errors carry the errno code: ENOENT, ENOTDIR (file or symlink), EEXIST, EINVAL', () => withHarness(async (h) => {
    writeFileSync(join(h.root, 'file'), '');
    mkdirSync(join(h.root, 'dir'));
    symlinkSync(join(h.root, 'dir'), join(h.root, 'link'));
    const code = async (path: string): Promise<string> => {
      const error = await h.reader.addWatch(path).then(() => null, (e: unknown) => e);
      assert.ok(error instanceof InotifyWatchError, `expected an InotifyWatchError for ${path}`);
      assert.equal(error.path, path);
      assert.equal(error.isWatchLimit, false);
      return error.code;
    };
    assert.equal(await code(join(h.root, 'missing')), 'ENOENT');
    assert.equal(await code(join(h.root, 'file')), 'ENOTDIR');
    assert.equal(await code(join(h.root, 'link')), 'ENOTDIR', 'watches never follow symlinks');
    await h.reader.addWatch(join(h.root, 'dir'));
    assert.equal(await code(join(h.root, 'dir')), 'EEXIST', 'one watch per directory inode');
    assert.equal(await code(''), 'EINVAL');
    assert.equal(await code(`${h.root}/a\0b`), 'EINVAL');
    assert.equal(await code(`/${'x'.repeat(5000)}`), 'ENAMETOOLONG');
    assert.equal(h.reader.watchCount, 1);
  }));

  test('addWatch on an unreadable directory → EACCES', async (t) => {
    const root = process.getuid?.() === 0;
    let prefix: string[] | undefined;
    if (root) {
      try {
        execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true']);
        prefix = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
      } catch {
        t.skip('running as root (which bypasses permissions) and setpriv cannot drop to nobody');
        return;
      }
    }
    const h = await openHarness({ spawnPrefix: prefix });
    try {
      const locked = join(h.root, 'locked');
      mkdirSync(locked);
      chmodSync(locked, 0);
      chmodSync(h.root, 0o711); // nobody may traverse the root but not read `locked`
      const error = await h.reader.addWatch(locked).then(() => null, (e: unknown) => e);
      assert.ok(error instanceof InotifyWatchError);
      assert.equal(error.code, 'EACCES');
    } finally {
      await h.close();
    }
  });

  test('addWatch before start or after close rejects with reason not_running', async () => {
    const h = await openHarness({ start: false });
    try {
      await assert.rejects(h.reader.addWatch(h.root), (e: unknown) => e instanceof InotifyHelperError && e.reason === 'not_running');
      await h.reader.start();
      await h.reader.addWatch(h.root);
      await h.reader.close();
      assert.equal(h.reader.running, false);
      await assert.rejects(h.reader.addWatch(h.root), (e: unknown) => e instanceof InotifyHelperError && e.reason === 'not_running');
      assert.deepEqual(h.errors, [], 'a requested close is not an error');
    } finally {
      await h.close();
    }
  });
});

describe('inotify reader — names are bytes', () => {
  test('a non-UTF-8 file name arrives surrogate-escaped and encodeName gives back the exact bytes', () => withHarness(async (h) => {
    await h.reader.addWatch(h.root);
    const bytes = Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x74, 0xc3]); // "f", two invalid bytes, ".t", a truncated sequence
    writeFileSync(Buffer.concat([Buffer.from(h.root + '/'), bytes]), '');
    await h.waitUntil(() => h.events.some((e) => e.kind === 'close_write'), 'close_write');
    const name = h.events.find((e) => e.kind === 'close_write')?.name ?? '';
    assert.equal(name, 'f\udcff\udcfe.t\udcc3');
    assert.deepEqual(Buffer.from(encodeName(name)), bytes);
  }));

  test('names with newlines, backslashes, spaces and UTF-8 arrive intact', () => withHarness(async (h) => {
    await h.reader.addWatch(h.root);
    const names = ['line\nbreak', 'back\\slash', ' spaced ', 'été 日本', '\r\t%00'];
    for (const n of names) writeFileSync(join(h.root, n), '');
    await h.waitUntil(() => h.events.filter((e) => e.kind === 'close_write').length === names.length, 'all close_write');
    assert.deepEqual(h.events.filter((e) => e.kind === 'close_write').map((e) => e.name), names);
  }));

  test('a directory whose path is not UTF-8 (and holds a newline) can be watched', () => withHarness(async (h) => {
    const dirBytes = Buffer.concat([Buffer.from(h.root + '/odd\n'), Buffer.from([0x80, 0xff])]);
    mkdirSync(dirBytes);
    const dirPath = decodeName(dirBytes);
    const id = await h.reader.addWatch(dirPath);
    writeFileSync(Buffer.concat([dirBytes, Buffer.from('/inside')]), '');
    await h.waitUntil(() => h.kindsFor('inside').includes('close_write'), 'close_write of inside');
    const e = h.events.find((x) => x.name === 'inside');
    assert.equal(e?.watchId, id);
    assert.equal(e?.dirPath, dirPath);
    assert.deepEqual(Buffer.from(encodeName(dirPath)), dirBytes);
  }));
});

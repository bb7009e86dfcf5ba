import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeName, parentPath } from '../../../protocol/paths.ts';
import { Walker, walk } from './walker.ts';
import { byPath, collect, makeTree, referenceWalk, sleep, tempDir, type RefEntry } from './walker-test-kit.ts';
import type { WalkRow } from './types.ts';

const walker = new Walker({ idleTimeoutMs: 5_000 });
after(() => walker.close());

function assertMatchesReference(rows: WalkRow[], ref: Map<string, RefEntry>): void {
  const got = byPath(rows);
  const missing = [...ref.keys()].filter((p) => !got.has(p));
  const extra = [...got.keys()].filter((p) => !ref.has(p));
  assert.deepEqual({ missing: missing.slice(0, 5), extra: extra.slice(0, 5) }, { missing: [], extra: [] });
  for (const [path, e] of ref) {
    const r = got.get(path) as WalkRow;
    assert.equal(r.is_directory, e.isDir, `${path} type`);
    assert.equal(r.size, e.size, `${path} size`);
    assert.equal(r.modified_time, e.mtime, `${path} mtime`);
    assert.equal(r.created_time, e.ctime, `${path} ctime`);
    assert.equal(r.file_name, path === '/' ? '' : path.slice(path.lastIndexOf('/') + 1));
  }
}

/** Every row's parent directory row came earlier (directories first). */
function assertParentsFirst(rows: WalkRow[], start = '/'): void {
  const seen = new Set<string>();
  for (const r of rows) {
    if (r.path !== start) assert.ok(seen.has(parentPath(r.path)), `parent of ${r.path} not emitted before it`);
    seen.add(r.path);
  }
}

describe('Walker snapshot', () => {
  let dir: string;
  let cleanup: () => void;
  before(() => {
    ({ dir, cleanup } = tempDir());
    const stats = makeTree(dir, 3000);
    assert.ok(stats.files >= 2000 && stats.dirs >= 50 && stats.symlinks >= 3, JSON.stringify(stats));
  });
  after(() => cleanup());

  test('rows equal a reference walk (paths, types, sizes, mtimes), parents first', async () => {
    const ref = referenceWalk(dir);
    const { rows, batches } = await collect(walker.walk(dir, { mode: 'snapshot', batchRows: 250 }));
    assertMatchesReference(rows, ref);
    assertParentsFirst(rows);
    for (const b of batches.slice(0, -1)) assert.equal(b.rows.length, 250);
    const last = batches[batches.length - 1].progress;
    assert.equal(last.dirs + last.files, ref.size);
    assert.equal(last.errors, 0);
    assert.equal(last.queuedDirs, 0);
    // Snapshot rows carry no audit fields; symlinks are files of their own lstat.
    assert.ok(rows.every((r) => r.parent_path === undefined && r.audit_skipped === undefined));
    const link = rows.find((r) => r.file_name === 'link-to-parent');
    assert.ok(link !== undefined && !link.is_directory);
    assert.ok(rows.some((r) => Math.round(r.modified_time) !== r.modified_time), 'sub-second mtimes kept');
  });

  test('the same walk with one worker and one-row batches', async () => {
    const ref = referenceWalk(dir);
    const { rows } = await collect(walker.walk(dir, { mode: 'snapshot', workers: 1, batchRows: 1 }));
    assertMatchesReference(rows, ref);
  });

  test('scan from a sub-path keeps root-relative paths', async () => {
    const ref = referenceWalk(dir, '/d3');
    const { rows } = await collect(walker.walk(dir, { mode: 'scan', subPath: '/d3' }));
    assert.ok(ref.size > 10);
    assertMatchesReference(rows, ref);
    assert.equal(rows[0].path, '/d3');
    assertParentsFirst(rows, '/d3');
  });

  test('scan of a file yields its one row; a missing start path yields nothing and one error', async () => {
    const file = readdirSync(join(dir, 'd0')).find((n) => n.endsWith('.dat')) as string;
    const { rows } = await collect(walker.walk(dir, { mode: 'scan', subPath: `/d0/${file}` }));
    assert.equal(rows.length, 1);
    assert.equal(rows[0].path, `/d0/${file}`);
    assert.equal(rows[0].is_directory, false);
    assert.equal(rows[0].size, lstatSync(join(dir, 'd0', file)).size);

    const errors: string[] = [];
    const r2 = await collect(walker.walk(dir, { mode: 'scan', subPath: '/no/such', onError: (p, c) => errors.push(`${p} ${c}`) }));
    assert.equal(r2.rows.length, 0);
    assert.deepEqual(errors, ['/no/such ENOENT']);
  });

  test('exclude drops rows and whole subtrees', async () => {
    const asked: string[] = [];
    const { rows } = await collect(walker.walk(dir, {
      mode: 'snapshot',
      exclude: (p, isDir) => {
        asked.push(p);
        return (isDir && p === '/d1') || p.endsWith('/f1.dat');
      },
    }));
    assert.ok(!rows.some((r) => r.path === '/d1' || r.path.startsWith('/d1/')));
    assert.ok(!rows.some((r) => r.path.endsWith('/f1.dat')));
    assert.ok(!asked.some((p) => p.startsWith('/d1/')), 'nothing below an excluded directory is even listed');
    assert.ok(rows.some((r) => r.path.startsWith('/d2/')));
  });

  test('a directory removed mid-walk is skipped and reported once; the walk goes on', async () => {
    const { dir: d2, cleanup: c2 } = tempDir();
    try {
      for (const n of ['a', 'b', 'c']) {
        mkdirSync(join(d2, n, 'deep'), { recursive: true });
        writeFileSync(join(d2, n, 'deep', 'x'), 'x');
      }
      const errors: string[] = [];
      const { rows, batches } = await collect(walker.walk(d2, {
        mode: 'snapshot',
        onError: (p, c) => errors.push(`${p} ${c}`),
        // Runs when /b is found: remove it before any worker lists it.
        exclude: (p) => {
          if (p === '/b') rmSync(join(d2, 'b'), { recursive: true });
          return false;
        },
      }));
      assert.deepEqual(errors, ['/b ENOENT']);
      assert.deepEqual(rows.map((r) => r.path).sort(), ['/', '/a', '/a/deep', '/a/deep/x', '/c', '/c/deep', '/c/deep/x']);
      assert.equal(batches[batches.length - 1].progress.errors, 1);
    } finally {
      c2();
    }
  });

  test('the root may be a symlink; symlinked directories inside are not followed', async () => {
    const { dir: d2, cleanup: c2 } = tempDir();
    try {
      mkdirSync(join(d2, 'real', 'sub'), { recursive: true });
      writeFileSync(join(d2, 'real', 'sub', 'f'), 'abc');
      symlinkSync('real', join(d2, 'alias'));
      symlinkSync('sub', join(d2, 'real', 'sublink'));
      const { rows } = await collect(walker.walk(join(d2, 'alias'), { mode: 'snapshot' }));
      const m = byPath(rows);
      assert.deepEqual([...m.keys()].sort(), ['/', '/sub', '/sub/f', '/sublink']);
      assert.equal(m.get('/sublink')?.is_directory, false);
      assert.equal(m.get('/sub/f')?.size, 3);
    } finally {
      c2();
    }
  });
});

describe('Walker names', () => {
  test('names that are not valid UTF-8 round-trip through decodeName/encodeName', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const root = Buffer.from(dir);
      const slash = Buffer.from('/');
      const bad = Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe]); // "bad\xff\xfe"
      const latin1 = Buffer.from('caf\xe9', 'latin1'); // "caf\xe9" (Latin-1, invalid UTF-8)
      mkdirSync(Buffer.concat([root, slash, bad]));
      writeFileSync(Buffer.concat([root, slash, bad, slash, latin1]), 'hello');
      mkdirSync(Buffer.concat([root, slash, bad, slash, bad]));
      writeFileSync(Buffer.concat([root, slash, bad, slash, bad, slash, Buffer.from('ok.txt')]), '12');
      // Valid UTF-8 names, one of them holding U+FFFD itself, next to an invalid one.
      writeFileSync(join(dir, 'r\u00e9sum\u00e9 \u{1f600}'), '');
      writeFileSync(join(dir, 'repl\ufffdchar'), 'xyz');
      writeFileSync(Buffer.concat([root, slash, Buffer.from([0xc3, 0x28])]), ''); // broken 2-byte sequence

      const ref = referenceWalk(dir);
      const { rows } = await collect(walker.walk(dir, { mode: 'snapshot' }));
      assertMatchesReference(rows, ref);
      const m = byPath(rows);
      assert.equal(m.get('/repl\ufffdchar')?.size, 3);
      assert.ok(m.has('/r\u00e9sum\u00e9 \u{1f600}'));
      const deep = rows.find((r) => r.path.endsWith('/ok.txt'));
      assert.ok(deep !== undefined);
      assert.equal(deep.size, 2);
      // Every row's path encodes back to the bytes on disk.
      for (const r of rows) {
        const abs = Buffer.concat([root, Buffer.from(encodeName(r.path === '/' ? '' : r.path))]);
        assert.equal(lstatSync(abs).size, r.size, r.path);
      }
      assert.ok(Buffer.from(encodeName(deep.path)).equals(Buffer.concat([slash, bad, slash, bad, slash, Buffer.from('ok.txt')])));
    } finally {
      cleanup();
    }
  });
});

describe('Walker pace and lifecycle', () => {
  let dir: string;
  let cleanup: () => void;
  let total = 0;
  before(() => {
    ({ dir, cleanup } = tempDir());
    for (let d = 0; d < 40; d++) {
      mkdirSync(join(dir, `d${d}`));
      for (let f = 0; f < 500; f++) writeFileSync(join(dir, `d${d}`, `f${f}`), '');
    }
    mkdirSync(join(dir, 'big'));
    for (let f = 0; f < 5000; f++) writeFileSync(join(dir, 'big', `f${f}`), '');
    total = 1 + 41 + 40 * 500 + 5000;
  });
  after(() => cleanup());

  test('a slow consumer keeps the buffered rows bounded', async () => {
    const batchRows = 100;
    const maxBufferedBatches = 2;
    const workers = 2;
    const bound = (maxBufferedBatches + workers) * batchRows;
    let maxBuffered = 0;
    let maxAhead = 0;
    let consumed = 0;
    const { rows } = await collect(
      walker.walk(dir, { mode: 'snapshot', batchRows, maxBufferedBatches, workers }),
      async (b) => {
        consumed += b.rows.length;
        maxBuffered = Math.max(maxBuffered, b.progress.bufferedRows);
        // Rows the workers have produced but the consumer has not got yet.
        maxAhead = Math.max(maxAhead, b.progress.dirs + b.progress.files - consumed);
        if (consumed < 8000) await sleep(4);
      },
    );
    assert.equal(rows.length, total);
    assert.ok(maxBuffered <= bound, `buffered ${maxBuffered} > ${bound}`);
    assert.ok(maxAhead <= bound, `ahead ${maxAhead} > ${bound}`);
    assert.ok(maxBuffered > 0);
  });

  test('a partial batch is handed out when no full one forms in time', async () => {
    const { rows, batches } = await collect(walker.walk(dir, { mode: 'snapshot', batchRows: 1_000_000, maxBatchDelayMs: 0 }));
    assert.equal(rows.length, total);
    assert.ok(batches.length > 1, `${batches.length} batch(es)`);
  });

  test('the module-level walk() uses a shared walker', async () => {
    const { rows } = await collect(walk(dir, { mode: 'scan', subPath: '/d7' }));
    assert.equal(rows.length, 501);
  });

  test('abort stops the workers and the iteration throws', async () => {
    const w = new Walker({ idleTimeoutMs: 0 });
    const ac = new AbortController();
    let seen = 0;
    await assert.rejects(
      collect(w.walk(dir, { mode: 'snapshot', batchRows: 100, workers: 2, signal: ac.signal }), (b) => {
        seen += b.rows.length;
        if (seen >= 300) ac.abort();
      }),
      { name: 'AbortError' },
    );
    assert.ok(seen < total);
    for (let i = 0; i < 1000 && w.workerCount > 0; i++) await sleep(20); // up to 20 s: thread exit is slow on a loaded host
    assert.equal(w.workerCount, 0, 'worker threads exited');
    await w.close();
  });

  test('an already aborted signal yields nothing', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(collect(walker.walk(dir, { mode: 'snapshot', signal: ac.signal })), { name: 'AbortError' });
  });

  test('breaking out early ends the workers; a finished walk keeps them for the next one', async () => {
    const w = new Walker({ idleTimeoutMs: 60_000 });
    for await (const b of w.walk(dir, { mode: 'snapshot', workers: 2 })) {
      assert.ok(b.rows.length > 0);
      break;
    }
    for (let i = 0; i < 1000 && w.workerCount > 0; i++) await sleep(20); // up to 20 s: thread exit is slow on a loaded host
    assert.equal(w.workerCount, 0);
    const { rows } = await collect(w.walk(dir, { mode: 'snapshot', workers: 2 }));
    assert.equal(rows.length, total);
    assert.equal(w.workerCount, 2, 'idle workers kept');
    const again = await collect(w.walk(dir, { mode: 'snapshot', workers: 2 }));
    assert.equal(again.rows.length, total);
    assert.equal(w.workerCount, 2, 'and reused');
    await w.close();
    assert.equal(w.workerCount, 0);
  });

  test('two walks on one walker at the same time', async () => {
    const [a, b] = await Promise.all([
      collect(walker.walk(dir, { mode: 'snapshot', workers: 2 })),
      collect(walker.walk(dir, { mode: 'audit', workers: 2, subPath: '/big' })),
    ]);
    assert.equal(a.rows.length, total);
    assert.equal(b.rows.length, 5001);
    assert.ok(b.rows.every((r) => r.is_directory ? r.audit_skipped === false : r.parent_path === '/big'));
  });

  test('bad options are refused', async () => {
    await assert.rejects(collect(walker.walk('relative/dir', { mode: 'snapshot' })), { code: 'BAD_REQUEST' });
    await assert.rejects(collect(walker.walk(dir, { mode: 'scan', subPath: 'x/../y' })), { code: 'BAD_REQUEST' });
    await assert.rejects(collect(walker.walk(dir, { mode: 'snapshot', batchRows: 0 })), { code: 'BAD_REQUEST' });
  });
});

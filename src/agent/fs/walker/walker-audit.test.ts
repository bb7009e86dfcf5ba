import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DirMtimeCache } from './dir-mtime-cache.ts';
import { Walker } from './walker.ts';
import { byPath, collect, makeTree, referenceWalk, tempDir } from './walker-test-kit.ts';
import type { WalkRow } from './types.ts';

const walker = new Walker({ idleTimeoutMs: 5_000 });
after(() => walker.close());

const dirRows = (rows: WalkRow[]): WalkRow[] => rows.filter((r) => r.is_directory);
const fileRows = (rows: WalkRow[]): WalkRow[] => rows.filter((r) => !r.is_directory);

describe('Walker audit', () => {
  let dir: string;
  let cleanup: () => void;
  before(() => {
    ({ dir, cleanup } = tempDir());
    makeTree(dir, 2000, 7);
  });
  after(() => cleanup());

  test('first audit lists everything with parent_path/parent_mtime and fills the cache', async () => {
    const cache = new DirMtimeCache();
    const ref = referenceWalk(dir);
    const { rows, batches } = await collect(walker.walk(dir, { mode: 'audit', dirMtimeCache: cache }));
    const m = byPath(rows);
    assert.equal(m.size, ref.size);
    for (const r of dirRows(rows)) {
      assert.equal(r.audit_skipped, false, r.path);
      assert.equal(r.parent_path, undefined);
      assert.equal(cache.get(r.path), r.modified_time);
    }
    for (const r of fileRows(rows)) {
      const parent = r.path.slice(0, r.path.lastIndexOf('/')) || '/';
      assert.equal(r.parent_path, parent);
      assert.equal(r.parent_mtime, m.get(parent)?.modified_time, r.path);
      assert.equal(r.audit_skipped, undefined);
    }
    assert.equal(cache.size, dirRows(rows).length);
    assert.equal(batches[batches.length - 1].progress.skippedDirs, 0);
  });

  test('an unchanged tree audits silent: directory rows with audit_skipped, no file rows; a changed directory lists its files', async () => {
    const cache = new DirMtimeCache();
    const first = await collect(walker.walk(dir, { mode: 'audit', dirMtimeCache: cache }));
    const allDirs = dirRows(first.rows).map((r) => r.path).sort();

    const second = await collect(walker.walk(dir, { mode: 'audit', dirMtimeCache: cache }));
    assert.deepEqual(fileRows(second.rows), []);
    assert.deepEqual(dirRows(second.rows).map((r) => r.path).sort(), allDirs, 'every directory still visited');
    assert.ok(second.rows.every((r) => r.audit_skipped === true));
    const p2 = second.batches[second.batches.length - 1].progress;
    assert.equal(p2.skippedDirs, allDirs.length);
    assert.equal(p2.files, 0);

    // Change one deep directory: add a file, and give the directory a new mtime.
    const changed = allDirs.filter((p) => p.split('/').length >= 4)[0];
    assert.ok(changed !== undefined);
    writeFileSync(join(dir, changed, 'new-file'), 'new');
    const t = Math.floor(statSync(join(dir, changed)).mtimeMs / 1000) + 10.5; // exact in binary
    utimesSync(join(dir, changed), t, t);

    const third = await collect(walker.walk(dir, { mode: 'audit', dirMtimeCache: cache }));
    const m = byPath(third.rows);
    assert.equal(m.get(changed)?.audit_skipped, false);
    assert.equal(m.get(changed)?.modified_time, t);
    const files = fileRows(third.rows);
    const expected = referenceWalk(dir, changed);
    // Only the changed directory's own files: its sub-directories are still silent.
    const ownFiles = [...expected].filter(([p, e]) => !e.isDir && p.lastIndexOf('/') === changed.length).map(([p]) => p);
    assert.ok(ownFiles.length > 1);
    assert.deepEqual(files.map((r) => r.path).sort(), ownFiles.sort());
    assert.ok(files.every((r) => r.parent_path === changed && r.parent_mtime === t));
    assert.equal(m.get(`${changed}/new-file`)?.size, 3);
    for (const r of dirRows(third.rows)) if (r.path !== changed) assert.equal(r.audit_skipped, true, r.path);
    assert.equal(cache.get(changed), t);
  });

  test('audit of a sub-tree', async () => {
    const cache = new DirMtimeCache();
    const { rows } = await collect(walker.walk(dir, { mode: 'audit', subPath: '/d2', dirMtimeCache: cache }));
    assert.equal(rows[0].path, '/d2');
    assert.ok(rows.every((r) => r.path === '/d2' || r.path.startsWith('/d2/')));
    assert.ok([...cache.entries()].every(([p]) => p === '/d2' || p.startsWith('/d2/')));
    const again = await collect(walker.walk(dir, { mode: 'audit', subPath: '/d2', dirMtimeCache: cache }));
    assert.ok(again.rows.every((r) => r.is_directory && r.audit_skipped === true));
  });

  test('the cache only learns from batches the consumer has finished with', async () => {
    const cache = new DirMtimeCache();
    // Take only the first batch and stop: its directories must not become silent.
    for await (const b of walker.walk(dir, { mode: 'audit', dirMtimeCache: cache, batchRows: 50 })) {
      assert.ok(b.rows.length > 0);
      break;
    }
    assert.equal(cache.size, 0);
    let batches = 0;
    for await (const b of walker.walk(dir, { mode: 'audit', dirMtimeCache: cache, batchRows: 50 })) {
      assert.ok(b.rows.length > 0);
      if (++batches === 3) break;
    }
    assert.ok(cache.size > 0, 'the first two batches were committed');
    const full = await collect(walker.walk(dir, { mode: 'audit', dirMtimeCache: cache, batchRows: 50 }));
    assert.ok(fileRows(full.rows).length > 0);
  });

  // Regression (convergence oracle under load): a directory listed while it was still changing must not
  // become silent, or a child the gateway spared as stale evidence stays in the view until a full audit.
  for (const encode of [false, true]) {
    test(`settledBefore: a directory whose mtime is not before it is listed but not cached${encode ? ' (encoded)' : ''}`, async () => {
      const { dir: root, cleanup: done } = tempDir();
      try {
        const settled = 1_600_000_000;
        for (const [name, t] of [['old', settled - 100], ['edge', settled], ['recent', settled + 10]] as const) {
          mkdirSync(join(root, name));
          writeFileSync(join(root, name, 'f'), name);
          utimesSync(join(root, name), t, t);
        }
        utimesSync(root, settled - 50, settled - 50);
        const cache = new DirMtimeCache();
        cache.set('/recent', settled - 200); // from an earlier audit, before the directory changed: dropped
        const audit = () => collect(walker.walk(root, { mode: 'audit', dirMtimeCache: cache, settledBefore: settled, encode }));
        await audit();
        assert.deepEqual([...cache.entries()].map(([p]) => p).sort(), ['/', '/old']);
        const again = byPath((await audit()).rows);
        assert.equal(again.get('/')?.audit_skipped, true);
        assert.equal(again.get('/old')?.audit_skipped, true);
        assert.equal(again.has('/old/f'), false);
        for (const p of ['/edge', '/recent']) {
          assert.equal(again.get(p)?.audit_skipped, false, p);
          assert.equal(again.get(`${p}/f`)?.parent_path, p, 'its files are listed again');
          assert.equal(cache.has(p), false, p);
        }
      } finally {
        done();
      }
    });
  }

  test('a snapshot neither reads nor updates the cache', async () => {
    const cache = new DirMtimeCache();
    cache.set('/', statSync(dir).mtimeMs / 1000);
    const { rows } = await collect(walker.walk(dir, { mode: 'snapshot', dirMtimeCache: cache }));
    assert.ok(fileRows(rows).some((r) => r.path.split('/').length === 2));
    assert.equal(cache.size, 1);
  });
});

describe('DirMtimeCache', () => {
  test('bounded: the entries set longest ago go first', () => {
    const c = new DirMtimeCache({ maxEntries: 3 });
    c.set('/a', 1).set('/b', 2).set('/c', 3);
    c.set('/a', 1.5); // refreshes /a
    c.set('/d', 4);
    assert.equal(c.size, 3);
    assert.equal(c.get('/b'), undefined);
    assert.deepEqual([...c.entries()], [['/c', 3], ['/a', 1.5], ['/d', 4]]);
    assert.equal(c.delete('/c'), true);
    assert.equal(c.has('/c'), false);
    assert.throws(() => new DirMtimeCache({ maxEntries: 0 }), RangeError);
  });

  test('save and load round-trip exact doubles and escaped names', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const c = new DirMtimeCache();
      const odd = 1_700_000_000_123_456_789n;
      const precise = Number(odd / 1000n) / 1e6; // a double with many significant digits
      c.set('/', precise);
      c.set('/bad\udcff\udcfe', 1_716_985_112.000_001);
      c.set('/r\u00e9sum\u00e9', 0.1 + 0.2);
      const file = join(dir, 'cache.jsonl');
      await c.save(file);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      writeFileSync(file, `${readFileSync(file, 'utf8')}not json\n[1,2]\n`);
      const d = new DirMtimeCache({ maxEntries: 2 });
      assert.equal(await d.load(file), 2);
      assert.deepEqual([...d.entries()], [['/bad\udcff\udcfe', 1_716_985_112.000_001], ['/r\u00e9sum\u00e9', 0.1 + 0.2]]);
      const e = new DirMtimeCache();
      assert.equal(await e.load(file), 3);
      assert.equal(e.get('/'), precise);
      unlinkSync(file);
      assert.equal(await e.load(file), 0);
      assert.equal(e.size, 0);
      mkdirSync(join(dir, 'x'));
      await assert.rejects(e.load(join(dir, 'x')), { code: 'EISDIR' });
    } finally {
      cleanup();
    }
  });
});

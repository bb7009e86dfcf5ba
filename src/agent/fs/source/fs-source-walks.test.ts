/**
 * The walks of the fs source (snapshot, audit, on-demand scan), the sentinel, the drift clock and the hot
 * watch set with a small limit, on real temporary trees.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FsUpsertRow } from '../../../protocol/events.ts';
import { AUDIT_SETTLE_SECONDS } from './fs-source.ts';
import { openSource, sleep, waitUntil } from './source-test-kit.ts';

function makeTree(root: string): string[] {
  const paths = ['/a', '/a/b', '/a/b/c', '/e', '/a/f1', '/a/b/f2', '/a/b/c/f3', '/e/f4', '/top'];
  for (const p of paths.filter((x) => !/\/(f\d|top)$/.test(x))) mkdirSync(join(root, p), { recursive: true });
  for (const p of paths.filter((x) => /\/(f\d|top)$/.test(x))) writeFileSync(join(root, p), p);
  return ['/', ...paths];
}

test('snapshot: every entry exactly once, a directory before its contents, then snapshot_end', async () => {
  let expected: string[] = [];
  const h = await openSource({ prepare: (root) => { expected = makeTree(root); } });
  try {
    await h.src.snapshot();
    const rows = h.out.compensating_('snapshot');
    assert.deepEqual(rows.map((r) => r.path).sort(), [...expected].sort());
    assert.equal(h.out.compensatingRows.every((r) => r.source === 'snapshot'), true);
    const pos = new Map(rows.map((r, i) => [r.path, i]));
    for (const r of rows) {
      if (r.path === '/') continue;
      const parent = r.path.slice(0, r.path.lastIndexOf('/')) || '/';
      assert.ok((pos.get(parent) ?? Infinity) < pos.get(r.path)!, `${parent} before ${r.path}`);
    }
    assert.equal(rows.find((r) => r.path === '/a/b/c/f3')?.size, '/a/b/c/f3'.length);
    assert.deepEqual(h.out.signalTypes(), ['snapshot_end']);
    assert.equal(h.out.trace.at(-1), 'sig:snapshot_end');
  } finally {
    await h.close();
  }
});

test('drift: future directory mtimes move the clock (P99 of recursive mtimes − now)', async () => {
  const future = Math.floor(Date.now() / 1000) + 3600;
  const h = await openSource({
    watch: false,
    prepare: (root) => {
      makeTree(root);
      for (const d of ['/a/b/c', '/a/b', '/a', '/e', '/']) utimesSync(join(root, d), future, future);
    },
  });
  try {
    await h.src.ensureDrift();
    assert.ok(Math.abs(h.src.driftSeconds - 3600) < 5, `drift ≈ 3600 s, got ${h.src.driftSeconds}`);
    // Bracketed by two readings of the local clock, so a pause between them cannot matter.
    const lo = Math.floor(Date.now() + h.src.driftSeconds * 1000);
    const clock = h.src.clock();
    const hi = Math.floor(Date.now() + h.src.driftSeconds * 1000);
    assert.ok(clock >= lo && clock <= hi, `clock = (now + drift) × 1000: ${clock} not in [${lo}, ${hi}]`);
  } finally {
    await h.close();
  }
});

test('scan of a sub-path: its rows as on_demand_job, then job_complete; a file; a missing path still completes', async () => {
  const h = await openSource({ watch: false, prepare: makeTree });
  try {
    await h.src.scan('/a/b', true, 'job-1');
    const rows = h.out.compensating_('on_demand_job').map((r) => r.path).sort();
    assert.deepEqual(rows, ['/a/b', '/a/b/c', '/a/b/c/f3', '/a/b/f2']);
    assert.deepEqual(h.out.signals.map((s) => s.sig), [{ type: 'job_complete', jobId: 'job-1', scanPath: '/a/b' }]);
    h.out.clear();
    await h.src.scan('/a', false, 'job-2');
    assert.deepEqual(h.out.compensating_('on_demand_job').map((r) => [r.path, r.is_directory]), [['/a', true]]);
    h.out.clear();
    await h.src.scan('/e/f4', true, 'job-3');
    assert.deepEqual(h.out.compensating_('on_demand_job').map((r) => r.path), ['/e/f4']);
    h.out.clear();
    await h.src.scan('/nope', true, 'job-4');
    assert.equal(h.out.compensatingRows.length, 0);
    assert.deepEqual(h.out.signals.map((s) => s.sig), [{ type: 'job_complete', jobId: 'job-4', scanPath: '/nope' }]);
  } finally {
    await h.close();
  }
});

test('sentinel: exists with mtime and size, or missing', async () => {
  const h = await openSource({ watch: false, prepare: makeTree });
  try {
    utimesSync(join(h.root, 'top'), 1_600_000_000.5, 1_600_000_000.5);
    const updates = await h.src.sentinel(['/top', '/gone', '/a', '/a/b/c/missing', 'bad-path']);
    assert.deepEqual(updates, [
      { path: '/top', status: 'exists', mtime: 1_600_000_000.5, size: 4 },
      { path: '/gone', status: 'missing' },
      { path: '/a', status: 'exists', mtime: updates[2].mtime, size: updates[2].size },
      { path: '/a/b/c/missing', status: 'missing' },
    ]);
  } finally {
    await h.close();
  }
});

test('watchLimit 3: the most recent directories are watched; changes elsewhere reach only the audit', async () => {
  const now = Date.now() / 1000;
  const h = await openSource({
    watchLimit: 3,
    prepare: (root) => {
      for (const d of ['a', 'b', 'c', 'd']) {
        mkdirSync(join(root, d));
        writeFileSync(join(root, d, 'old'), d);
      }
      // Recursive mtimes (the LRU key): /a and /b recent, /c and /d old — directories and their files.
      const times: Record<string, number> = { a: now - 10, b: now - 20, c: 1_000_000_000, d: 1_000_000_000 };
      for (const [d, t] of Object.entries(times)) {
        utimesSync(join(root, d, 'old'), t, t);
        utimesSync(join(root, d), t, t);
      }
    },
  });
  const { out, src, root } = h;
  try {
    assert.deepEqual(src.watchedPaths().sort(), ['/', '/a', '/b']);
    assert.equal(src.status().watchCount, 3);

    // A first audit fills the dir-mtime cache: nothing is silent yet.
    await src.audit();
    const first = out.compensating_('audit');
    assert.deepEqual(out.signalTypes(), ['audit_start', 'audit_end']);
    assert.equal(first.filter((r) => r.is_directory).every((r) => r.audit_skipped === false), true);
    out.clear();

    // Changes in unwatched /c and /d: no realtime rows. The same in watched /a: realtime rows.
    writeFileSync(join(root, 'c', 'new'), 'new!');
    rmSync(join(root, 'd', 'old'));
    writeFileSync(join(root, 'a', 'seen'), 'x');
    await waitUntil(() => out.upserts('/a/seen').length >= 1, 'realtime row in a watched directory');
    await sleep(300);
    assert.deepEqual(out.realtimeRows.filter((r) => /^\/(c|d)\//.test(r.row.path)), [], 'no realtime rows for unwatched directories');

    await src.audit();
    const rows = out.compensating_('audit');
    const by = new Map<string, FsUpsertRow>(rows.map((r) => [r.path, r]));
    // /b did not change: silent, its files not listed.
    assert.equal(by.get('/b')?.audit_skipped, true);
    assert.equal(by.has('/b/old'), false);
    // /c changed: listed, and its file rows carry the parent's mtime.
    assert.equal(by.get('/c')?.audit_skipped, false);
    const cNew = by.get('/c/new');
    assert.ok(cNew, 'the new file in /c is found by the audit');
    assert.equal(cNew.size, 4);
    assert.equal(cNew.parent_path, '/c');
    assert.equal(cNew.parent_mtime, by.get('/c')?.modified_time);
    // /d lost a file: listed (not silent) without it, so the gateway detects the deletion.
    assert.equal(by.get('/d')?.audit_skipped, false);
    assert.equal(by.has('/d/old'), false);
    assert.deepEqual(out.signalTypes(), ['audit_start', 'audit_end']);
    const bulk = out.trace.filter((t) => !t.startsWith('rt:'));
    assert.equal(bulk[0], 'sig:audit_start');
    assert.equal(bulk.at(-1), 'sig:audit_end');
    assert.ok(src.status().watchCount <= 3, 'never more than the limit');

    // A new session / promotion: the cache is cleared and the next audit lists everything.
    src.resetAuditCache();
    out.clear();
    await src.audit();
    assert.equal(out.compensating_('audit').some((r) => r.audit_skipped === true), false);
    assert.ok(out.compensating_('audit').some((r) => r.path === '/b/old'));
  } finally {
    await h.close();
  }
});

test(`audit: a directory changed less than ${AUDIT_SETTLE_SECONDS} s before the audit is listed again by the next one`, async () => {
  const now = Date.now() / 1000;
  const h = await openSource({ watch: false, prepare: (root) => {
    for (const [d, t] of [['settled', now - 60], ['fresh', now + 3600]] as const) { // fresh: still changing when audited
      mkdirSync(join(root, d));
      writeFileSync(join(root, d, 'f'), d);
      utimesSync(join(root, d), t, t);
    }
    utimesSync(root, now - 60, now - 60);
  } });
  try {
    await h.src.audit();
    h.out.clear();
    await h.src.audit();
    const by = new Map<string, FsUpsertRow>(h.out.compensating_('audit').map((r) => [r.path, r]));
    assert.equal(by.get('/settled')?.audit_skipped, true);
    assert.equal(by.has('/settled/f'), false);
    assert.equal(by.get('/fresh')?.audit_skipped, false, 'not made silent by the first audit');
    assert.equal(by.get('/fresh/f')?.parent_path, '/fresh');
  } finally {
    await h.close();
  }
});

test('audit_end is sent even when the output fails during the audit', async () => {
  const h = await openSource({ watch: false, prepare: makeTree });
  try {
    h.out.compensating = async () => { throw new Error('send failed'); };
    await assert.rejects(h.src.audit(), /send failed/);
    assert.deepEqual(h.out.signalTypes(), ['audit_start', 'audit_end']);
  } finally {
    await h.close();
  }
});

test('snapshot rows respect file_pattern; directories always pass', async () => {
  const h = await openSource({ watch: false, filePattern: '*.txt', prepare: (root) => {
    mkdirSync(join(root, 'd'));
    writeFileSync(join(root, 'd', 'a.txt'), '1');
    writeFileSync(join(root, 'd', 'b.bin'), '1');
  } });
  try {
    await h.src.snapshot();
    assert.deepEqual(h.out.compensating_('snapshot').map((r) => r.path).sort(), ['/', '/d', '/d/a.txt']);
  } finally {
    await h.close();
  }
});

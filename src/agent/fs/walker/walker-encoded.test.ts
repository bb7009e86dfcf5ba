/**
 * Encoded walks (`encode: true`): the worker threads write each row's wire text. It must be exactly
 * `JSON.stringify` of the row object the walker builds otherwise — snapshot and audit rows, non-UTF-8
 * names (surrogate escapes written as `\udcXX`), audit fields — and the batch's counters, cache updates
 * and directory recency must match the object walk's.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DirMtimeCache } from './dir-mtime-cache.ts';
import { F_DIR, F_NO_PARENT, F_SELF, F_SKIPPED } from './messages.ts';
import { encodeColumns, fieldsText } from './row-text.ts';
import { Walker } from './walker.ts';
import { collect, makeTree, tempDir } from './walker-test-kit.ts';
import type { WalkBatch, WalkRow } from './types.ts';

const walker = new Walker({ idleTimeoutMs: 5_000 });
after(() => walker.close());

/** Row texts of an encoded walk, split back into single rows through the object they parse to. */
function encodedTexts(batches: WalkBatch[]): string[] {
  const out: string[] = [];
  for (const b of batches) {
    const enc = b.encoded;
    assert.ok(enc !== undefined, 'an encoded walk yields encoded batches');
    let n = 0;
    for (let i = 0; i < enc.texts.length; i++) {
      const rows = JSON.parse(`[${enc.texts[i]}]`) as WalkRow[];
      assert.equal(rows.length, enc.counts[i]);
      n += rows.length;
      // The text is the concatenation of JSON.stringify of each parsed row: byte for byte the object path.
      assert.equal(enc.texts[i], rows.map((r) => JSON.stringify(r)).join(','));
      for (const r of rows) out.push(JSON.stringify(r));
    }
    assert.equal(n, enc.rows);
    const first = JSON.parse(`[${enc.texts[0]}]`)[0] as Record<string, unknown>;
    assert.equal(enc.fields, JSON.stringify(Object.keys(first)), 'fields = the keys of the batch\'s first row');
  }
  return out;
}

const sorted = (xs: string[]): string[] => [...xs].sort();

/** A tree with non-UTF-8 names, JSON-special characters and a file of its own at the top. */
function oddTree(dir: string): void {
  const root = Buffer.from(dir);
  const slash = Buffer.from('/');
  const bad = Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe]); // "bad\xff\xfe"
  mkdirSync(Buffer.concat([root, slash, bad]));
  writeFileSync(Buffer.concat([root, slash, bad, slash, Buffer.from('caf\xe9', 'latin1')]), 'hello');
  mkdirSync(Buffer.concat([root, slash, bad, slash, bad]));
  writeFileSync(Buffer.concat([root, slash, bad, slash, bad, slash, Buffer.from('ok.txt')]), '12');
  writeFileSync(Buffer.concat([root, slash, Buffer.from([0xed, 0xa0, 0x80])]), ''); // an encoded surrogate: invalid UTF-8
  writeFileSync(join(dir, 'quote"back\\slash\ttab\u0001ctl'), 'x');
  writeFileSync(join(dir, 'r\u00e9sum\u00e9 \u{1f600}'), '');
  writeFileSync(join(dir, 'repl\ufffdchar'), 'xyz');
  mkdirSync(join(dir, 'empty'));
  utimesSync(join(dir, 'empty'), 1_700_000_000.123456, 1_700_000_000.987654);
}

describe('Walker encoded walks', () => {
  test('snapshot: the wire text equals JSON.stringify of the object rows (odd names included)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      makeTree(dir, 1500, 11);
      oddTree(dir);
      const plain = await collect(walker.walk(dir, { mode: 'snapshot', batchRows: 300 }));
      const enc = await collect(walker.walk(dir, { mode: 'snapshot', batchRows: 300, encode: true }));
      const texts = encodedTexts(enc.batches);
      assert.deepEqual(sorted(texts), sorted(plain.rows.map((r) => JSON.stringify(r))));
      // `rows` of an encoded batch parses the text: the same objects.
      assert.deepEqual(sorted(enc.rows.map((r) => JSON.stringify(r))), sorted(texts));
      // Lone surrogates (escaped bytes) travel as \udcXX escapes.
      assert.ok(texts.some((t) => t.includes('"file_name":"bad\\udcff\\udcfe"')), 'non-UTF-8 name escaped');
      assert.ok(texts.some((t) => t.includes('\\udced\\udca0\\udc80')), 'an encoded surrogate is three escaped bytes');
      const a = plain.batches[plain.batches.length - 1].progress;
      const b = enc.batches[enc.batches.length - 1].progress;
      assert.deepEqual([b.dirs, b.files, b.bytes, b.errors, b.skippedDirs], [a.dirs, a.files, a.bytes, a.errors, a.skippedDirs]);
    } finally {
      cleanup();
    }
  });

  test('audit: parent_path/parent_mtime and audit_skipped texts, and the cache updates, match the object walk', async () => {
    const { dir, cleanup } = tempDir();
    try {
      makeTree(dir, 800, 5);
      oddTree(dir);
      const cacheA = new DirMtimeCache();
      const cacheB = new DirMtimeCache();
      for (let round = 0; round < 2; round++) {
        if (round === 1) writeFileSync(join(dir, 'new-file'), 'n'); // the root changes; the rest stays silent
        const plain = await collect(walker.walk(dir, { mode: 'audit', dirMtimeCache: cacheA }));
        const enc = await collect(walker.walk(dir, { mode: 'audit', dirMtimeCache: cacheB, encode: true }));
        const texts = encodedTexts(enc.batches);
        assert.deepEqual(sorted(texts), sorted(plain.rows.map((r) => JSON.stringify(r))), `round ${round}`);
        assert.deepEqual([...cacheB.entries()].sort(), [...cacheA.entries()].sort(), `cache after round ${round}`);
        const rows = texts.map((t) => JSON.parse(t) as WalkRow);
        if (round === 0) {
          assert.ok(rows.filter((r) => !r.is_directory).every((r) => typeof r.parent_path === 'string' && typeof r.parent_mtime === 'number'));
          assert.ok(rows.filter((r) => r.is_directory).every((r) => r.audit_skipped === false));
        } else {
          assert.equal(rows.find((r) => r.path === '/')?.audit_skipped, false);
          assert.ok(rows.filter((r) => r.is_directory && r.path !== '/').every((r) => r.audit_skipped === true));
          assert.ok(rows.filter((r) => !r.is_directory).every((r) => r.parent_path === '/'));
          assert.equal(enc.batches[enc.batches.length - 1].progress.skippedDirs, plain.batches[plain.batches.length - 1].progress.skippedDirs);
        }
      }
    } finally {
      cleanup();
    }
  });

  test('dirRecency holds, per directory, the greatest mtime of its own row and its files', async () => {
    const { dir, cleanup } = tempDir();
    try {
      makeTree(dir, 600, 3);
      const plain = await collect(walker.walk(dir, { mode: 'snapshot' }));
      const want = new Map<string, number>();
      const bump = (p: string, t: number): void => { want.set(p, Math.max(want.get(p) ?? -Infinity, t)); };
      for (const r of plain.rows) bump(r.is_directory ? r.path : r.path.slice(0, r.path.lastIndexOf('/')) || '/', r.modified_time);
      const enc = await collect(walker.walk(dir, { mode: 'snapshot', encode: true }));
      const got = new Map<string, number>();
      for (const b of enc.batches) {
        const pairs = b.encoded?.dirRecency ?? [];
        for (let i = 0; i < pairs.length; i += 2) got.set(pairs[i] as string, Math.max(got.get(pairs[i] as string) ?? -Infinity, pairs[i + 1] as number));
      }
      assert.deepEqual([...got].sort(), [...want].sort());
    } finally {
      cleanup();
    }
  });

  test('a scan of a single file, and encode with exclude is refused', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'only'), 'abc');
      const enc = await collect(walker.walk(dir, { mode: 'scan', subPath: '/only', encode: true }));
      const plain = await collect(walker.walk(dir, { mode: 'scan', subPath: '/only' }));
      assert.deepEqual(encodedTexts(enc.batches), plain.rows.map((r) => JSON.stringify(r)));
      await assert.rejects(walker.walk(dir, { mode: 'snapshot', encode: true, exclude: () => false }).next(), /exclude/);
    } finally {
      cleanup();
    }
  });
});

describe('encodeColumns', () => {
  test('every row kind, odd strings and numbers: JSON.stringify of the object', () => {
    const dirs = ['/', '/a"b', '/x/\udcff\udcfe', '/e\u{1f600}\\'];
    const names = ['', 'f\u0000\u001f\u007f', '\udc80lone', 'n\u2028l', '', 'plain', 'z'];
    const seg = Uint32Array.from([0, 0, 1, 2, 2, 3, 3]);
    const flags = Uint8Array.from([F_DIR | F_SELF, 0, 0, F_NO_PARENT, F_DIR | F_SELF | F_SKIPPED, 0, 0]);
    const size = Float64Array.from([4096, 0, 1e21, 12345678901, 4096, 5e-7, 3]);
    const mtime = Float64Array.from([1.5, 1700000000.123456, 0.1 + 0.2, -1, 1e-7, 2 ** 53, 1700000000]);
    const ctime = Float64Array.from([2, 3, 4, 5, 6, 7, 8]);
    const segMtimes = [1.5, 7.25, NaN, 9];
    const cols = { n: 7, names, seg, segDirs: dirs, segMtimes, size, mtime, ctime, flags };
    for (const audit of [false, true]) {
      const expected: string[] = [];
      for (let i = 0; i < 7; i++) {
        const d = dirs[seg[i]];
        const self = (flags[i] & F_SELF) !== 0;
        const path = self ? d : d === '/' ? `/${names[i]}` : `${d}/${names[i]}`;
        const row: Record<string, unknown> = { path, file_name: self ? (d === '/' ? '' : d.slice(d.lastIndexOf('/') + 1)) : names[i], size: size[i], modified_time: mtime[i], created_time: ctime[i], is_directory: self };
        if (audit && self) row.audit_skipped = (flags[i] & F_SKIPPED) !== 0;
        if (audit && !self && (flags[i] & F_NO_PARENT) === 0) {
          row.parent_path = d;
          row.parent_mtime = segMtimes[seg[i]];
        }
        expected.push(JSON.stringify(row));
        assert.equal(fieldsText(audit, flags[i]), JSON.stringify(Object.keys(row)));
      }
      assert.equal(encodeColumns(cols, audit), expected.join(','), `audit ${audit}`);
    }
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FustorError } from '../../kernel/errors.ts';
import type { SearchQuery } from '../../protocol/index.ts';
import type { FsView } from './fs-view.ts';
import { T0, dir, file, makeView, upsert } from './testing.ts';

const OLD = T0 - 3600;

function sample() {
  const made = makeView();
  upsert(made.view, 'snapshot', [
    dir('/data', OLD), dir('/data/proj1', OLD), dir('/data/proj2', OLD), dir('/other', OLD),
    file('/data/proj1/a.txt', OLD, { size: 10 }), file('/data/proj1/b.log', OLD + 10, { size: 20 }),
    file('/data/proj2/a.txt', OLD + 20, { size: 30 }), file('/data/proj2/deep/x/c.txt', OLD + 30, { size: 40 }),
    file('/other/a.txt', OLD + 40, { size: 50 }), file('/other/.hidden', OLD, { size: 1 }), file('/data/proj1/ab', OLD, { size: 1 }),
  ]);
  return made;
}

const paths = (view: FsView, q: SearchQuery): string[] => view.search(q).items.map((n) => n.path).sort();

test('search — a slashless glob matches names anywhere (files by default)', () => {
  const { view } = sample();
  assert.deepEqual(paths(view, { pattern: '*.txt' }), ['/data/proj1/a.txt', '/data/proj2/a.txt', '/data/proj2/deep/x/c.txt', '/other/a.txt']);
  assert.deepEqual(paths(view, { pattern: 'a?' }), ['/data/proj1/ab']);
  assert.deepEqual(paths(view, { pattern: '[bc].*' }), ['/data/proj1/b.log', '/data/proj2/deep/x/c.txt']);
  assert.deepEqual(paths(view, { pattern: '.*' }), ['/other/.hidden'], 'dot files match like find -name');
});

test('search — a literal name uses the name index', () => {
  const { view } = sample();
  assert.deepEqual(paths(view, { pattern: 'a.txt' }), ['/data/proj1/a.txt', '/data/proj2/a.txt', '/other/a.txt']);
  assert.deepEqual(paths(view, { pattern: 'proj2', type: 'directory' }), ['/data/proj2']);
  assert.deepEqual(paths(view, { pattern: 'absent' }), []);
});

test('search — a pattern with / matches the whole path, with ** across levels', () => {
  const { view } = sample();
  assert.deepEqual(paths(view, { pattern: '/data/*/a.txt' }), ['/data/proj1/a.txt', '/data/proj2/a.txt']);
  assert.deepEqual(paths(view, { pattern: '/data/**/*.txt' }), ['/data/proj1/a.txt', '/data/proj2/a.txt', '/data/proj2/deep/x/c.txt']);
  assert.deepEqual(paths(view, { pattern: '/data/proj?/*' }), ['/data/proj1/a.txt', '/data/proj1/ab', '/data/proj1/b.log', '/data/proj2/a.txt']);
  assert.deepEqual(paths(view, { pattern: 'other/*.txt' }), ['/other/a.txt'], 'a relative pattern with / is rooted');
  assert.deepEqual(paths(view, { pattern: '/other/a.txt' }), ['/other/a.txt'], 'a literal path');
});

test('search — type, size, mtime and suspect filters', () => {
  const { view } = sample();
  assert.deepEqual(paths(view, { pattern: 'proj*', type: 'directory' }), ['/data/proj1', '/data/proj2']);
  assert.deepEqual(paths(view, { pattern: 'proj*' }), [], 'directories are not returned by default');
  assert.equal(view.search({ pattern: '*', type: 'any' }).items.length, 13, '6 directories + 7 files (the root has no name)');
  assert.deepEqual(paths(view, { pattern: '*.txt', min_size: 20, max_size: 40 }), ['/data/proj2/a.txt', '/data/proj2/deep/x/c.txt']);
  assert.deepEqual(paths(view, { pattern: '*', modified_after: OLD + 15, modified_before: OLD + 35 }), ['/data/proj2/a.txt', '/data/proj2/deep/x/c.txt']);
  upsert(view, 'realtime', [file('/other/a.txt', OLD + 40, { size: 50, is_atomic_write: false })]);
  assert.deepEqual(paths(view, { pattern: '*.txt', suspect: true }), ['/other/a.txt']);
  assert.equal(paths(view, { pattern: '*.txt', suspect: false }).length, 3);
});

test('search — a path scope limits results to a subtree, for every strategy', () => {
  const { view } = sample();
  assert.deepEqual(paths(view, { pattern: '*.txt', path: '/data/proj2' }), ['/data/proj2/a.txt', '/data/proj2/deep/x/c.txt']);
  assert.deepEqual(paths(view, { pattern: 'a.txt', path: '/other' }), ['/other/a.txt']);
  assert.deepEqual(paths(view, { pattern: '/data/**/*.txt', path: '/data/proj1' }), ['/data/proj1/a.txt']);
  assert.deepEqual(paths(view, { pattern: '/other/*', path: '/data' }), []);
  assert.throws(() => view.search({ pattern: '*', path: '/missing' }), (e: unknown) => e instanceof FustorError && e.code === 'NOT_FOUND');
  assert.throws(() => view.search({ pattern: '*', path: '/../x' }), (e: unknown) => e instanceof FustorError && e.code === 'BAD_REQUEST');
});

function allPages(view: FsView, q: SearchQuery): { pages: number; paths: string[] } {
  const out: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const r = view.search({ ...q, cursor });
    assert.ok(r.items.length <= (q.limit ?? 1000));
    out.push(...r.items.map((n) => n.path));
    cursor = r.next_cursor;
    pages++;
    assert.ok(pages < 100);
  } while (cursor !== undefined);
  return { pages, paths: out };
}

test('search — paging with limit and next_cursor returns every match once, in a stable order', () => {
  const { view } = makeView();
  const rows = [];
  for (let d = 0; d < 7; d++) for (let f = 0; f < 9; f++) rows.push(file(`/d${d}/f${f}.dat`, OLD), file(`/d${d}/same.dat`, OLD));
  upsert(view, 'snapshot', rows);
  for (const q of [{ pattern: '*.dat' }, { pattern: 'same.dat' }, { pattern: '/d*/*.dat' }, { pattern: '*.dat', path: '/d3' }]) {
    const expected = view.search({ ...q, limit: 1000 }).items.map((n) => n.path);
    const { pages, paths: got } = allPages(view, { ...q, limit: 4 });
    assert.deepEqual(got, expected, `same order paged and unpaged for ${JSON.stringify(q)}`);
    assert.equal(new Set(got).size, got.length, 'no duplicates');
    assert.equal(pages, Math.ceil(expected.length / 4) + (expected.length % 4 === 0 ? 1 : 0) || 1);
  }
  assert.equal(view.search({ pattern: '*.dat', limit: 1000 }).items.length, 70);
  const walked = view.search({ pattern: '/d*/*.dat' }).items.map((n) => n.path);
  assert.deepEqual(walked, [...walked].sort(), 'walks return path order');
});

test('search — default limit is 1000 with a next_cursor', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', Array.from({ length: 1200 }, (_, i) => file(`/f${i}`, OLD)));
  const r = view.search({ pattern: 'f*' });
  assert.equal(r.items.length, 1000);
  assert.equal(typeof r.next_cursor, 'string');
  assert.equal(view.search({ pattern: 'f*', cursor: r.next_cursor }).items.length, 200);
});

test('search — a forged cursor is a 400', () => {
  const { view } = sample();
  assert.throws(() => view.search({ pattern: '*', cursor: 'garbage!' }), (e: unknown) => e instanceof FustorError && e.code === 'BAD_REQUEST');
});

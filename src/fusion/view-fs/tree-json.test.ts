import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FustorError } from '../../kernel/errors.ts';
import { T0, childNames, dir, file, makeView, treeOf, upsert } from './testing.ts';

const OLD = T0 - 3600;

function sample() {
  const made = makeView();
  upsert(made.view, 'snapshot', [
    dir('/proj', OLD), file('/proj/b.txt', OLD, { size: 2 }), file('/proj/a.txt', OLD, { size: 1 }),
    dir('/proj/sub', OLD), file('/proj/sub/deep.bin', OLD, { size: 5 }), file('/top', OLD),
  ]);
  return made;
}

type N = { name: string; path: string; children?: N[]; [k: string]: unknown };

test('tree — returns the node with nested children sorted by name, with every node field', () => {
  const { view } = sample();
  const root = treeOf(view) as N;
  assert.equal(root.path, '/');
  assert.equal(root.content_type, 'directory');
  assert.deepEqual(childNames(root), ['proj', 'top']);
  const proj = root.children?.[0] as N;
  assert.deepEqual(childNames(proj), ['a.txt', 'b.txt', 'sub']);
  const a = proj.children?.[0] as N;
  assert.deepEqual(Object.keys(a), ['name', 'path', 'content_type', 'size', 'modified_time', 'created_time', 'integrity_suspect', 'agent_missing', 'last_agent_id', 'source_uri']);
  assert.equal(a.path, '/proj/a.txt');
  assert.equal(a.children, undefined, 'files carry no children key');
  assert.equal((proj.children?.[2] as N).audit_skipped, false);
});

test('tree — max_depth 0 is the node alone, without a children key', () => {
  const { view } = sample();
  const n = treeOf(view, { path: '/proj', max_depth: 0 }) as N;
  assert.equal(n.path, '/proj');
  assert.equal('children' in n, false);
});

test('tree — max_depth n limits the levels; -1 is unlimited', () => {
  const { view } = sample();
  const one = treeOf(view, { max_depth: 1 }) as N;
  assert.deepEqual(childNames(one), ['proj', 'top']);
  assert.equal('children' in (one.children?.[0] as N), false);
  const all = treeOf(view, { max_depth: -1 }) as N;
  const sub = (all.children?.[0] as N).children?.[2] as N;
  assert.deepEqual(childNames(sub), ['deep.bin']);
});

test('tree — recursive=false lists one level', () => {
  const { view } = sample();
  const n = treeOf(view, { path: '/proj', recursive: false }) as N;
  assert.deepEqual(childNames(n), ['a.txt', 'b.txt', 'sub']);
  assert.equal('children' in (n.children?.[2] as N), false);
});

test('tree — only_path keeps name, path and content_type', () => {
  const { view } = sample();
  const n = treeOf(view, { path: '/proj', only_path: true }) as N;
  assert.deepEqual(Object.keys(n), ['name', 'path', 'content_type', 'children']);
  assert.deepEqual(Object.keys(n.children?.[0] as N), ['name', 'path', 'content_type']);
});

test('tree — pages through the direct children by name with limit and cursor', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', Array.from({ length: 25 }, (_, i) => file(`/d/f${String(i).padStart(2, '0')}`, OLD)));
  const names: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = treeOf(view, { path: '/d', limit: 10, cursor }) as N & { next_cursor?: string };
    names.push(...childNames(page));
    cursor = page.next_cursor;
    pages++;
  } while (cursor !== undefined);
  assert.equal(pages, 3);
  assert.deepEqual(names, Array.from({ length: 25 }, (_, i) => `f${String(i).padStart(2, '0')}`));
});

test('tree — paging cursors round-trip names that are not valid UTF-8 and sort by bytes', () => {
  const { view } = makeView();
  const odd = 'bad\udcff'; // the byte 0xFF, surrogate-escaped
  upsert(view, 'snapshot', [file('/d/a', OLD), file(`/d/${odd}`, OLD), file('/d/é', OLD), file('/d/z', OLD)]);
  const first = treeOf(view, { path: '/d', limit: 2 }) as N & { next_cursor?: string };
  assert.deepEqual(childNames(first), ['a', odd]);
  const second = treeOf(view, { path: '/d', limit: 2, cursor: first.next_cursor }) as N;
  assert.deepEqual(childNames(second), ['z', 'é'], 'byte order: "z" (0x7a) before "é" (0xc3 0xa9)');
});

test('tree — max_tree_items is compared with the nodes in the response, not the whole view', () => {
  const { view } = makeView({ maxTreeItems: 10 });
  upsert(view, 'snapshot', [
    ...Array.from({ length: 50 }, (_, i) => file(`/big/f${i}`, OLD)),
    file('/small/a', OLD), file('/small/b', OLD),
  ]);
  assert.deepEqual(childNames(treeOf(view, { path: '/small' })), ['a', 'b']);
  assert.equal((treeOf(view, { path: '/big', max_depth: 0 }) as N).path, '/big');
  assert.throws(() => view.tree({ path: '/big' }), (e: unknown) => {
    assert.ok(e instanceof FustorError);
    assert.equal(e.code, 'TOO_MANY_ITEMS');
    assert.equal(e.httpStatus, 400);
    const d = e.details as Record<string, unknown>;
    assert.equal(d.limit, 10);
    assert.equal(d.would_return, 51);
    assert.equal(typeof d.error, 'string');
    assert.equal(typeof d.suggestion, 'string');
    return true;
  });
  assert.deepEqual(childNames(treeOf(view, { path: '/', max_depth: 1 })), ['big', 'small'], 'root + 2 directories: 3 nodes');
  assert.throws(() => view.tree({ path: '/', max_depth: 2 }), /max_tree_items/, 'root + 2 + 52 nodes');
});

test('tree — a page within max_tree_items is served', () => {
  const { view } = makeView({ maxTreeItems: 10 });
  upsert(view, 'snapshot', Array.from({ length: 50 }, (_, i) => file(`/big/f${String(i).padStart(2, '0')}`, OLD)));
  const page = treeOf(view, { path: '/big', limit: 9 }) as N & { next_cursor?: string };
  assert.equal(page.children?.length, 9);
  assert.equal(typeof page.next_cursor, 'string');
});

test('tree — invalid path is a 400, unknown path a 404', () => {
  const { view } = sample();
  assert.throws(() => view.tree({ path: '/a/../b' }), (e: unknown) => e instanceof FustorError && e.code === 'BAD_REQUEST');
  assert.throws(() => view.tree({ path: 'relative' }), (e: unknown) => e instanceof FustorError && e.code === 'BAD_REQUEST');
  assert.throws(() => view.tree({ path: '/nope' }), (e: unknown) => e instanceof FustorError && e.code === 'NOT_FOUND');
  assert.throws(() => view.metadata('/nope'), (e: unknown) => e instanceof FustorError && e.httpStatus === 404);
});

test('tree — large responses come as several ~64 KB chunks that join into one JSON document', () => {
  const { view } = makeView();
  upsert(view, 'snapshot', Array.from({ length: 3000 }, (_, i) => file(`/many/file-with-a-long-name-${i}.dat`, OLD)));
  const chunks = view.tree({ path: '/many' });
  assert.ok(chunks.length > 3);
  for (const c of chunks.slice(0, -1)) assert.ok(c.length >= 64 * 1024 && c.length < 66 * 1024);
  assert.equal((JSON.parse(chunks.join('')) as N).children?.length, 3000);
});

test('metadata — the node without children', () => {
  const { view } = sample();
  const m = view.metadata('/proj');
  assert.equal(m.content_type, 'directory');
  assert.equal(m.children, undefined);
  assert.equal(view.metadata('/proj/a.txt').size, 1);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pathProblem, encodeName, decodeName, parentPath, baseName, isWithin } from './paths.ts';

test('path rules — accepts root and normal paths, rejects .., NUL, empty segments and trailing slash', () => {
  assert.equal(pathProblem('/'), null);
  assert.equal(pathProblem('/a/b.txt'), null);
  assert.match(pathProblem('/a/../b') ?? '', /'\.\.'/);
  assert.match(pathProblem('/a\0b') ?? '', /NUL/);
  assert.match(pathProblem('/a//b') ?? '', /empty segment/);
  assert.match(pathProblem('/a/') ?? '', /end with/);
  assert.match(pathProblem('a/b') ?? '', /start with/);
  assert.match(pathProblem(3) ?? '', /string/);
});

test('names — non-UTF-8 bytes round-trip through surrogate escapes and JSON', () => {
  const raw = Uint8Array.from([0x61, 0xff, 0xfe, 0x62, 0xc3, 0xa9]); // a, two invalid bytes, b, é
  const name = decodeName(raw);
  assert.equal(name, 'a\udcff\udcfeb\u00e9');
  const viaJson = JSON.parse(JSON.stringify(name)) as string;
  assert.deepEqual([...encodeName(viaJson)], [...raw]);
  assert.deepEqual([...encodeName('plain')], [...Buffer.from('plain')]);
  assert.deepEqual([...encodeName('日本😀')], [...Buffer.from('日本😀')]);
  assert.equal(decodeName(Buffer.from('日本😀')), '日本😀');
});

test('path helpers — parent, base name and scope', () => {
  assert.equal(parentPath('/a/b'), '/a');
  assert.equal(parentPath('/a'), '/');
  assert.equal(baseName('/a/b'), 'b');
  assert.equal(baseName('/'), '');
  assert.ok(isWithin('/a/b', '/a'));
  assert.ok(!isWithin('/ab', '/a'));
  assert.ok(isWithin('/x', '/'));
});

test('names — decoding a slice never reads past its end', () => {
  assert.equal(decodeName(Uint8Array.from([0x61, 0xc3, 0xa9]), 0, 2), 'a\udcc3');
});

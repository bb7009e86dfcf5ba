import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pathProblem } from '../../protocol/index.ts';
import { checkPath, validateDelete, validateUpsert } from './row-validation.ts';

test('row validation — the fast path check gives the protocol verdict on any string', () => {
  const segment = fc.oneof(fc.constantFrom('', '.', '..', 'a', '\0', 'é', '\udcff', '...'), fc.string({ maxLength: 4 }));
  const path = fc.oneof(fc.array(segment, { maxLength: 5 }).map((s) => `/${s.join('/')}`), fc.string({ maxLength: 12 }));
  fc.assert(fc.property(path, (p) => {
    assert.equal(checkPath(p), pathProblem(p));
  }), { numRuns: 2000 });
});

test('row validation — upserts need path, size, modified_time, is_directory; extra fields are tolerated', () => {
  const ok = validateUpsert({ path: '/a', size: 1, modified_time: 2, is_directory: false, unknown_field: 'x' });
  assert.equal(typeof ok, 'object');
  assert.match(validateUpsert({ path: '/a', size: 1, is_directory: false }) as string, /modified_time/);
  assert.match(validateUpsert({ path: '/a', size: 1, modified_time: 1, is_directory: 'no' }) as string, /is_directory/);
  assert.match(validateUpsert({ path: '/', size: 1, modified_time: 1, is_directory: false }) as string, /root/);
  assert.match(validateUpsert(null) as string, /not an object/);
  assert.match(validateUpsert({ path: '/a/', size: 1, modified_time: 1, is_directory: false }) as string, /end with/);
});

test('row validation — deletes need a valid path only', () => {
  assert.deepEqual(validateDelete({ path: '/x' }), { path: '/x' });
  assert.match(validateDelete({ path: '/x\0y' }) as string, /NUL/);
  assert.match(validateDelete({}) as string, /path/);
  assert.match(validateDelete({ path: '/x', modified_time: 'soon' }) as string, /modified_time/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileFieldsMapping, FieldsMappingError } from './fields-mapping.ts';

const row = { path: '/a/b.dat', file_name: 'b.dat', size: 12, modified_time: 1700000000.5, created_time: 1700000000, is_directory: false };

test('fields mapping — an empty mapping passes rows through unchanged', () => {
  assert.equal(compileFieldsMapping([]), null);
});

test('fields mapping — a non-empty mapping projects: only mapped keys survive, with conversions and constants', () => {
  const map = compileFieldsMapping([
    { to: 'path', source: ['path'] },
    { to: 'size', source: ['nope:integer', 'size:string'] },
    { to: 'modified_time', source: ['modified_time:integer'] },
    { to: 'is_directory', source: ['is_directory'] },
    { to: 'meta.origin', hardcoded_value: 'site-a' },
    { to: 'meta.flag', source: ['flag:boolean'] },
  ]);
  assert.ok(map);
  assert.deepEqual(map(row), { path: '/a/b.dat', size: '12', modified_time: 1700000000, is_directory: false, meta: { origin: 'site-a' } });
  assert.deepEqual(map({ ...row, flag: 'Yes' }).meta, { origin: 'site-a', flag: true });
});

test('fields mapping — failed conversions keep the raw value, nulls are omitted, delete rows pass untouched', () => {
  const map = compileFieldsMapping([{ to: 'path', source: ['path'] }, { to: 'size', source: ['size:number'] }, { to: 'x', source: ['x'] }]);
  assert.ok(map);
  assert.deepEqual(map({ path: '/p', size: 'big', x: null }), { path: '/p', size: 'big' });
  const del = { path: '/gone' };
  assert.equal(map(del), del);
});

test('fields mapping — bad entries are refused with the entry named, and a mapping must keep `path`', () => {
  assert.throws(() => compileFieldsMapping([{ to: 'path', source: ['path:weird'] }]), /fields_mapping\[0\]\.source: unknown type 'weird'/);
  assert.throws(() => compileFieldsMapping([{ source: ['x'] }]), /fields_mapping\[0\]\.to/);
  assert.throws(() => compileFieldsMapping([{ to: 'size', source: ['size'] }]), FieldsMappingError);
});

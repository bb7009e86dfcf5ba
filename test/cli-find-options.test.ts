import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import picomatch from 'picomatch';
import { findGlob, parseSize, rewriteFindStyleArgs, sizeMatches, toGatewayGlob } from '../src/cli/commands/find.ts';
import { resolveTarget } from '../src/cli/profile.ts';
import { describeFailure, parseRetryAfter } from '../src/cli/query-client.ts';

test('find args — find-style single-dash options become --long ones, values and tokens after -- stay', () => {
  assert.deepEqual(
    rewriteFindStyleArgs(['/up', '-name', '*.dat', '-type', 'f', '-size', '-10k', '-print', '--view', 'v']),
    ['/up', '--name', '*.dat', '--type', 'f', '--size', '-10k', '--view', 'v'],
  );
  assert.deepEqual(rewriteFindStyleArgs(['--name', '-type', '-path', 'x']), ['--name', '-type', '--path', 'x']);
  assert.deepEqual(rewriteFindStyleArgs(['-newer', 'ref', '-print0']), ['--newer', 'ref', '--print0']);
  assert.deepEqual(rewriteFindStyleArgs(['--', '-name']), ['--', '-name']);
  assert.deepEqual(rewriteFindStyleArgs(['-h']), ['-h']);
});

test("find globs — fnmatch rules: '*' and '?' also match '/', classes, negation and escapes", () => {
  assert.ok(findGlob('*.dat').test('data_0001.dat'));
  assert.ok(!findGlob('*.dat').test('data_0001.dat.tmp'));
  assert.ok(findGlob('*/sub_1/*').test('/upload/a/sub_1/data_0001.dat'));
  assert.ok(findGlob('data_000[0-4].dat').test('data_0003.dat'));
  assert.ok(!findGlob('data_000[!0-4].dat').test('data_0003.dat'));
  assert.ok(findGlob('a?c').test('a/c'));
  assert.ok(findGlob('\\*x').test('*x') && !findGlob('\\*x').test('ax'));
  assert.ok(findGlob('[x').test('[x'));
  assert.ok(findGlob('a.b').test('a.b') && !findGlob('a.b').test('axb'));
});

test("find globs — sent to the gateway with picomatch's extra syntax escaped, so it matches what find matches", () => {
  const cases: [string, string, boolean][] = [
    ['a{b,c}', 'a{b,c}', true], ['a{b,c}', 'ab', false], ['!x', '!x', true], ['!x', 'y', false],
    ['+(a)', '+(a)', true], ['[!a]b', 'cb', true], ['[!a]b', 'ab', false], ['*.dat', 'x.dat', true], ['[x', '[x', true],
  ];
  for (const [glob, name, expected] of cases) {
    assert.equal(picomatch(toGatewayGlob(glob), { dot: true })(name), expected, `${glob} (sent as ${toGatewayGlob(glob)}) vs ${name}`);
    assert.equal(findGlob(glob).test(name), expected, `find semantics of ${glob} vs ${name}`);
  }
});

test('find -size — units round up as find does; no unit means bytes', () => {
  assert.ok(sizeMatches(parseSize('+1k'), 1025));
  assert.ok(!sizeMatches(parseSize('+1k'), 1024));
  assert.ok(sizeMatches(parseSize('-1M'), 0));
  assert.ok(!sizeMatches(parseSize('-1M'), 1), 'like find, -1M matches only empty files');
  assert.ok(sizeMatches(parseSize('2k'), 1500) && !sizeMatches(parseSize('2k'), 2049));
  assert.ok(sizeMatches(parseSize('100'), 100) && !sizeMatches(parseSize('100'), 101));
  assert.throws(() => parseSize('10x'), /expected/);
});

test('profile — flags win over environment, environment over profile.yaml', () => {
  const home = mkdtempSync(join(tmpdir(), 'fustor-home-'));
  writeFileSync(join(home, 'profile.yaml'), 'server: http://profile:1\nkey: profile-key\nview: profile-view\n');
  assert.deepEqual(resolveTarget({}, { FUSTOR_HOME: home }), { server: 'http://profile:1', key: 'profile-key', view: 'profile-view' });
  assert.deepEqual(resolveTarget({}, { FUSTOR_HOME: home, FUSTOR_KEY: 'env-key', FUSTOR_VIEW: 'env-view' }), { server: 'http://profile:1', key: 'env-key', view: 'env-view' });
  assert.deepEqual(resolveTarget({ view: 'flag-view', server: 'http://flag:2/' }, { FUSTOR_HOME: home, FUSTOR_VIEW: 'env-view' }), { server: 'http://flag:2', key: 'profile-key', view: 'flag-view' });
  const empty = mkdtempSync(join(tmpdir(), 'fustor-home-'));
  assert.throws(() => resolveTarget({}, { FUSTOR_HOME: empty }), /no view given: pass --view/);
  assert.throws(() => resolveTarget({ view: 'v', server: 'ftp://x' }, { FUSTOR_HOME: empty }), /must be an http/);
  writeFileSync(join(empty, 'profile.yaml'), 'server: [unclosed\n');
  assert.throws(() => resolveTarget({ view: 'v' }, { FUSTOR_HOME: empty }), /not valid YAML/);
});

test('errors — one line naming cause and fix for the answers a user meets', () => {
  assert.equal(describeFailure(401, { code: 'AUTH_INVALID', message: 'Invalid or inactive X-API-Key' }, 'v', 1).message, '401: key rejected — pass --key or set FUSTOR_KEY');
  assert.equal(describeFailure(404, { code: 'NOT_FOUND', message: "view 'x' unknown: known views: a, b" }, 'x', 1).message, "view 'x' unknown: known views: a, b");
  assert.equal(describeFailure(503, { code: 'NOT_READY', message: "view 'v' is not ready: initial snapshot in progress" }, 'v', 5).message,
    'view not ready (initial snapshot in progress), retry in 5 s (or pass --wait SECONDS)');
  assert.match(describeFailure(400, { code: 'TOO_MANY_ITEMS', message: 'too many', details: { limit: 10, would_return: 99 } }, 'v', 1).message, /99 nodes \(limit 10\).*--depth/);
  assert.equal(parseRetryAfter('7'), 7);
  assert.equal(parseRetryAfter(null), 1);
});

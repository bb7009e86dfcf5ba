import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import picomatch from 'picomatch';
import { FustorError } from '../../kernel/errors.ts';
import { MAX_COMPLEX_WILDCARDS, compileGlob, simpleMatcher } from './glob.ts';

const reference = (pattern: string, subject: string): boolean => picomatch(pattern, { dot: true })(subject);

// Small alphabets so that matches are frequent and the edge cases (dots, empty star runs, `**`) show up.
const patternPart = fc.constantFrom('a', 'b', '.', '*', '?', '**', '***', '[ab]', '[^a]', '[a-b]', '[.]', '[!a]', '\\*', '\\a', '-', '!', '+', '@', '$', '^', '|', '#', '~', ',');
const namePattern = fc.array(patternPart, { minLength: 1, maxLength: 6 }).map((p) => p.join(''));
// View names are never '.' or '..' (the path rules reject such segments).
const name = fc.array(fc.constantFrom('a', 'b', '.', '*', '-', '!', '+', '\udcff'), { minLength: 1, maxLength: 6 }).map((p) => p.join('')).filter((n) => n !== '.' && n !== '..');
const pathPattern = fc.array(fc.oneof(namePattern, fc.constant('**')), { minLength: 1, maxLength: 4 }).map((s) => `/${s.join('/')}`);
const path = fc.array(name, { minLength: 1, maxLength: 5 }).map((s) => `/${s.join('/')}`);

// picomatch quirks the linear matcher does not copy (see glob.ts): a rooted '/**' + '/' needs a segment,
// a segment ending in '*' followed by final '/**' needs two segments, and a '.' right after an escaped
// character or after '***' is a regex wildcard. Paths are compared in their relative form, where picomatch has no root quirk.
const quirk = (p: string): boolean => /(^|\/)(?!\*\*(\/|$))[^/]*\*(\/\*\*)+$/.test(p) || /\\.\.|\*\*\*[^/]*\./.test(p);

test('glob — the linear matcher agrees with picomatch {dot: true} on names', () => {
  fc.assert(fc.property(namePattern, name, (p, s) => {
    const m = simpleMatcher(p);
    if (m === undefined || quirk(p)) return true;
    assert.equal(m(s), reference(p, s), `${JSON.stringify(p)} vs ${JSON.stringify(s)}`);
    return true;
  }), { numRuns: 5000 });
});

test('glob — the linear matcher agrees with picomatch {dot: true} on whole paths, ** included', () => {
  fc.assert(fc.property(pathPattern, path, (p, s) => {
    const m = simpleMatcher(p);
    // (A relative form starting with '!' would be a negation; rooted, it is a literal.)
    if (m === undefined || quirk(p) || p.startsWith('/!')) return true;
    assert.equal(m(s), reference(p.slice(1), s.slice(1)), `${JSON.stringify(p)} vs ${JSON.stringify(s)}`);
    return true;
  }), { numRuns: 5000 });
});

test('glob — where picomatch is inconsistent, the linear matcher follows the rule', () => {
  assert.equal(compileGlob('/**/*.txt')('/top.txt'), true, '** spans zero directories at the root too');
  assert.equal(compileGlob('/*/**')('/a'), true, 'as /a/** matches /a');
  assert.equal(compileGlob('\\*.txt')('*xtxt'), false, 'the . after an escape is a literal dot');
});

test('glob — the spec-30 language is matched linearly; hostile patterns cannot stall the loop', () => {
  for (const p of ['*.txt', 'a?c', '[bc].*', '[^.]*', '/data/**/*.txt', '/a/**', 'file\\*', '**']) assert.ok(simpleMatcher(p) !== undefined, p);
  const longName = 'a'.repeat(255);
  const evil = compileGlob('*a'.repeat(40) + '*c');
  assert.equal(evil(longName), false);
  const evilPath = compileGlob(`/${'**/a/'.repeat(30)}c`);
  assert.equal(evilPath(`/${Array(200).fill('a').join('/')}`), false);
  assert.equal(compileGlob('*a*a*c')('xaxab c'.replace(' ', '') + 'c'), true);
});

test('glob — picomatch-only patterns are limited in wildcards (400), and still work within the limit', () => {
  assert.equal(compileGlob('{a,b}*.txt')('b1.txt'), true);
  assert.equal(compileGlob('!(*.log)')('x.txt'), true);
  const tooMany = `{a,b}${'*x'.repeat(MAX_COMPLEX_WILDCARDS)}`;
  assert.throws(() => compileGlob(tooMany), (e: unknown) => e instanceof FustorError && e.code === 'BAD_REQUEST' && /too complex/.test(e.message));
});

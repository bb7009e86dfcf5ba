import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from '../src/protocol/errors.ts';

const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
/** `### \`CODE\` (status)` headings of docs/errors.md, with the text of each section. */
const sections = new Map<string, { status: number; text: string }>();
for (const part of doc.split(/^### /m).slice(1)) {
  const m = /^`([A-Z_]+)` \((\d{3})\)\n([\s\S]*)$/.exec(part);
  assert.ok(m, `malformed heading in docs/errors.md: ### ${part.split('\n')[0]}`);
  sections.set(m[1], { status: Number(m[2]), text: m[3] });
}

test('errors doc — every catalogue code is documented with its status, meaning and what to do', () => {
  for (const [code, { status }] of Object.entries(ERROR_CODES)) {
    const s = sections.get(code);
    assert.ok(s, `docs/errors.md has no section for ${code}`);
    assert.equal(s.status, status, `docs/errors.md gives ${code} the status ${s.status}, the catalogue ${status}`);
    assert.match(s.text, /\*\*Meaning:\*\* \S/, `${code}: no meaning`);
    assert.match(s.text, /\*\*What to do:\*\* \S/, `${code}: no "what to do"`);
  }
});

test('errors doc — documents no code that the catalogue does not have', () => {
  const stale = [...sections.keys()].filter((c) => !(c in ERROR_CODES));
  assert.deepEqual(stale, [], `docs/errors.md documents codes that no longer exist: ${stale.join(', ')}`);
});

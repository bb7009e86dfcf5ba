/** The C helper spoken to directly: its replies, and that malformed input never crashes it. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { errnoName } from './errors.ts';
import { ensureHelperBinary } from './helper-binary.ts';
import { NO_ID, PROTOCOL_VERSION, RecordParser, RecordType, addCommand, type HelperRecord } from './wire.ts';

let helper = '';
let dir = '';
before(async () => {
  helper = await ensureHelperBinary();
  dir = mkdtempSync(join(tmpdir(), 'fustor-helper-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the helper with `input` on stdin (then EOF); returns its exit status and records. */
function run(input: string | Buffer): { status: number | null; records: HelperRecord[] } {
  const result = spawnSync(helper, { input, timeout: 10_000 });
  const records: HelperRecord[] = [];
  new RecordParser().push(result.stdout, (r) => records.push({ ...r, name: Buffer.from(r.name) }));
  return { status: result.status, records };
}

const summary = (r: HelperRecord): string => {
  const type = Object.entries(RecordType).find(([, v]) => v === r.type)?.[0] ?? `type${r.type}`;
  const id = r.id === NO_ID ? '-' : String(r.id);
  if (type === 'ADDED') return `${type} ${id}`;
  if (type === 'READY') return `${type} v${r.arg}`;
  return `${type} ${id} ${r.arg ? errnoName(r.arg) : 0}`;
};

test('helper — stdin EOF at once → READY (protocol version) and exit 0', () => {
  const { status, records } = run('');
  assert.equal(status, 0);
  assert.deepEqual(records.map((r) => [r.type, r.arg]), [[RecordType.READY, PROTOCOL_VERSION]]);
});

test('helper — add/rm replies name the caller id; errors carry the errno', () => {
  const { status, records } = run([
    addCommand(1, dir), addCommand(2, join(dir, 'missing')), addCommand(1, '/'), 'rm 1\n', 'rm 1\n', 'rm 77\n',
  ].join(''));
  assert.equal(status, 0);
  assert.deepEqual(records.map(summary), [
    `READY v${PROTOCOL_VERSION}`, 'ADDED 1', 'ERROR 2 ENOENT', 'ERROR 1 EEXIST', 'REMOVED 1 0', 'REMOVED 1 EINVAL', 'REMOVED 77 EINVAL',
    'EVENT 1 0', // the IN_IGNORED of the removed watch (arg = cookie 0)
  ]);
  assert.equal(records[1].arg > 0, true, 'ADDED carries the kernel wd');
});

test('helper — malformed commands get EINVAL/ENAMETOOLONG replies and never crash it', () => {
  const hex = Buffer.from(dir).toString('hex');
  const lines = [
    'add 0 2f', // id 0 is reserved
    'add 4294967295 2f', // so is 0xFFFFFFFF
    'add 5 zz', // not hex
    'add 6 2f0', // odd length
    'add 7 2f00', // a NUL byte
    'add 8 ', // empty path
    'add -1 2f',
    'add 9', // no path
    'rm x',
    'rm 3 extra',
    'frobnicate 1',
    '',
    `add 10 ${'41'.repeat(20_000)}`, // a line longer than the helper's buffer
    `add 11 ${hex}`, // still works afterwards
  ];
  const garbage = Buffer.from([0xff, 0x00, 0x80, 0x0a]); // a binary line
  const { status, records } = run(Buffer.concat([Buffer.from(lines.join('\n') + '\n'), garbage]));
  assert.equal(status, 0);
  assert.deepEqual(records.map(summary), [
    `READY v${PROTOCOL_VERSION}`,
    'ERROR - EINVAL', 'ERROR - EINVAL', 'ERROR 5 EINVAL', 'ERROR 6 EINVAL', 'ERROR 7 EINVAL', 'ERROR 8 EINVAL',
    'ERROR - EINVAL', 'ERROR - EINVAL', 'ERROR - EINVAL', 'ERROR - EINVAL', 'ERROR - EINVAL',
    'ERROR - ENAMETOOLONG', 'ADDED 11', 'ERROR - EINVAL',
  ]);
});

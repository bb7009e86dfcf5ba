/** MovePairer on synthetic events: pairing by cookie, the window, order preservation. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InotifyEvent, InotifyEventKind } from './inotify-reader.ts';
import { MovePairer, type PairedEvent } from './move-pairer.ts';
import { sleep } from './inotify-test-kit.ts';

const ev = (kind: InotifyEventKind, name: string, cookie = 0, watchId = 1, isDir = false): InotifyEvent =>
  ({ watchId, dirPath: `/w${watchId}`, name, kind, isDir, cookie });

function pairer(windowMs = 20): { p: MovePairer; out: PairedEvent[][] } {
  const out: PairedEvent[][] = [];
  return { p: new MovePairer({ windowMs, onEvents: (batch) => out.push(batch) }), out };
}

const label = (e: PairedEvent): string =>
  e.kind === 'move' ? `move ${e.from.dirPath}/${e.from.name}->${e.to.dirPath}/${e.to.name}` : `${e.kind} ${e.name}${e.fromMove ? ' (move)' : ''}`;

test('move pairer — plain events pass through in the same call, as one batch', () => {
  const { p, out } = pairer();
  p.push([ev('create', 'a'), ev('close_write', 'a')]);
  assert.deepEqual(out.map((b) => b.map(label)), [['create a', 'close_write a']]);
});

test('move pairer — moved_from + moved_to with the same cookie → one move, at once', () => {
  const { p, out } = pairer();
  p.push([ev('moved_from', 'a', 7, 1, true), ev('moved_to', 'b', 7, 2, true)]);
  assert.deepEqual(out, [[{ kind: 'move', isDir: true, cookie: 7, from: { watchId: 1, dirPath: '/w1', name: 'a' }, to: { watchId: 2, dirPath: '/w2', name: 'b' } }]]);
  assert.equal(p.pendingCount, 0);
});

test('move pairer — the two halves may arrive in different batches', () => {
  const { p, out } = pairer();
  p.push([ev('moved_from', 'a', 9)]);
  assert.equal(out.length, 0);
  p.push([ev('moved_to', 'b', 9), ev('close_write', 'c')]);
  assert.deepEqual(out.map((b) => b.map(label)), [['move /w1/a->/w1/b', 'close_write c']]);
});

test('move pairer — unpaired moved_from becomes a delete after the window, events behind it keep their order', async () => {
  const { p, out } = pairer(20);
  p.push([ev('moved_from', 'x', 3), ev('create', 'x'), ev('close_write', 'x')]);
  assert.equal(out.length, 0, 'the create of the new x must not overtake the delete of the old x');
  await sleep(40);
  assert.deepEqual(out.map((b) => b.map(label)), [['delete x (move)', 'create x', 'close_write x']]);
});

test('move pairer — unpaired moved_to becomes a create (moved in from outside)', () => {
  const { p, out } = pairer();
  p.push([ev('moved_to', 'in', 5, 1, true)]);
  const e = out[0][0];
  assert.equal(label(e), 'create in (move)');
  assert.equal(e.kind === 'create' && e.isDir, true);
});

test('move pairer — a later pair resolves while an earlier one still waits; output order follows input order', async () => {
  const { p, out } = pairer(20);
  p.push([ev('moved_from', 'gone', 1), ev('moved_from', 'a', 2), ev('moved_to', 'b', 2), ev('modify', 'b')]);
  assert.equal(out.length, 0);
  await sleep(40);
  assert.deepEqual(out.flat().map(label), ['delete gone (move)', 'move /w1/a->/w1/b', 'modify b']);
});

test('move pairer — a moved_to after the window is a create, not a late move', async () => {
  const { p, out } = pairer(10);
  p.push([ev('moved_from', 'a', 4)]);
  await sleep(30);
  p.push([ev('moved_to', 'b', 4)]);
  assert.deepEqual(out.flat().map(label), ['delete a (move)', 'create b (move)']);
});

test('move pairer — flush resolves what waits; dispose stops the timer', () => {
  const { p, out } = pairer(10_000);
  p.push([ev('moved_from', 'a', 1), ev('attrib', 'z')]);
  p.flush();
  assert.deepEqual(out.flat().map(label), ['delete a (move)', 'attrib z']);
  p.push([ev('moved_from', 'b', 2)]);
  p.dispose(); // would keep the test process alive for 10 s if the timer survived
  assert.deepEqual(out.flat().map(label), ['delete a (move)', 'attrib z', 'delete b (move)']);
});

test('move pairer — many queued events are delivered once and in order', async () => {
  const { p, out } = pairer(5);
  const input: InotifyEvent[] = [ev('moved_from', 'first', 1)];
  for (let i = 0; i < 5000; i++) input.push(ev('modify', `f${i}`));
  p.push(input);
  await sleep(25);
  const names = out.flat().map((e) => ('name' in e ? e.name : ''));
  assert.equal(names.length, 5001);
  assert.equal(names[0], 'first');
  assert.equal(names[5000], 'f4999');
});

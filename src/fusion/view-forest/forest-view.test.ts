import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FustorError } from '../../kernel/errors.ts';
import type { FsNode } from '../../protocol/index.ts';
import { FakeClock, SETTINGS, T0, deleteEvent, file, upsertEvent } from '../view-fs/testing.ts';
import type { FsViewSettings, Lineage } from '../view/view-driver.ts';
import { ForestView } from './forest-view.ts';

const OLD = T0 - 3600;
const lin = (pipeId: string): Lineage => ({ pipeId, agentId: `agent-${pipeId}`, sourceUri: `nfs://${pipeId}` });

function forest(overrides: Partial<FsViewSettings> = {}) {
  const clock = new FakeClock();
  const view = new ForestView('forest', { ...SETTINGS, ...overrides }, clock);
  const put = (pipe: string, rows: unknown[], source: 'realtime' | 'snapshot' | 'audit' = 'snapshot') => view.applyEvent(upsertEvent(source, rows), source, lin(pipe));
  return { view, clock, put };
}

type Members = Record<string, { status: string; data?: Record<string, unknown>; error?: string }>;
const parse = (chunks: string[]) => JSON.parse(chunks.join('')) as { path: string; members: Members; best?: { pipe_id: string; reason: string; value: number } | null };

test('forest — events are routed to the member of their pipe, created on first use', () => {
  const { view, put } = forest();
  put('pipe-a', [file('/a-only', OLD)]);
  put('pipe-b', [file('/b-only', OLD), file('/shared', OLD)]);
  assert.deepEqual(view.memberIds(), ['pipe-a', 'pipe-b']);
  assert.equal(view.member('pipe-a').has('/b-only'), false);
  assert.equal(view.member('pipe-b').has('/b-only'), true);
  assert.equal(view.itemCount(), 2 + 3);
  const r = view.applyEvent(upsertEvent('snapshot', [file('/x', OLD)]), 'snapshot', { pipeId: '', agentId: 'a', sourceUri: 'u' });
  assert.equal(r.rejected, 1, 'an event without a pipe id is rejected');
});

test('forest — the election key is per member: view id and pipe id', () => {
  const { view } = forest();
  assert.equal(view.electionKey('pipe-a'), 'forest:pipe-a');
  assert.notEqual(view.electionKey('pipe-a'), view.electionKey('pipe-b'));
  assert.equal(view.kind, 'forest-fs');
});

test('forest — audit windows, session starts and resets apply to one member only', () => {
  const { view, put } = forest();
  put('pipe-a', [file('/d/x', OLD), file('/d/y', OLD)]);
  put('pipe-b', [file('/d/x', OLD), file('/d/y', OLD)]);
  view.auditStart('pipe-a');
  put('pipe-a', [{ path: '/d', size: 0, modified_time: OLD, is_directory: true }, file('/d/x', OLD)], 'audit');
  view.auditEnd('pipe-a');
  assert.equal(view.member('pipe-a').has('/d/y'), false, 'missing-item detection in pipe-a');
  assert.equal(view.member('pipe-b').has('/d/y'), true, 'pipe-b untouched');
  assert.equal(view.member('pipe-b').stats({}).audit_cycle_count, 0);
  view.applyEvent(deleteEvent('audit', ['/d/x']), 'audit', lin('pipe-b'));
  view.sessionStart('pipe-a');
  assert.equal(view.member('pipe-a').blindSpots({}).deletion_count, 0);
  assert.equal(view.member('pipe-b').blindSpots({}).deletion_count, 1);
  view.reset('pipe-b');
  assert.equal(view.member('pipe-b').itemCount(), 1);
  assert.equal(view.member('pipe-a').has('/d/x'), true);
  view.reset();
  assert.deepEqual(view.memberIds(), []);
});

test('forest — tree shows every member side by side, errors per member', () => {
  const { view, put } = forest();
  put('pipe-a', [file('/d/one', OLD)]);
  put('pipe-b', [file('/e/two', OLD)]);
  const t = parse(view.tree({ path: '/d' }));
  assert.equal(t.path, '/d');
  assert.deepEqual(Object.keys(t.members), ['pipe-a', 'pipe-b']);
  assert.equal(t.members['pipe-a'].status, 'ok');
  assert.equal((t.members['pipe-a'].data?.children as FsNode[])[0].name, 'one');
  assert.equal(t.members['pipe-b'].status, 'error');
  assert.match(t.members['pipe-b'].error ?? '', /not found/);
  assert.equal(t.best, undefined);
  assert.throws(() => view.tree({ path: '/../x' }), (e: unknown) => e instanceof FustorError && e.code === 'BAD_REQUEST');
});

test('forest — best picks the member with the largest file_count, total_size or latest_mtime', () => {
  const { view, put } = forest();
  put('pipe-a', [file('/d/1', OLD, { size: 500 }), file('/d/2', OLD + 1, { size: 1 })]);
  put('pipe-b', [file('/d/1', OLD + 50, { size: 10 })]);
  const byCount = parse(view.tree({ path: '/d', best: 'file_count' }));
  assert.deepEqual(Object.keys(byCount.members), ['pipe-a']);
  assert.deepEqual(byCount.best, { pipe_id: 'pipe-a', reason: 'file_count', value: 2 });
  assert.equal(parse(view.tree({ path: '/d', best: 'total_size' })).best?.pipe_id, 'pipe-a');
  const byMtime = view.stats({ path: '/d', best: 'latest_mtime' }) as { members: Members; best: { pipe_id: string } };
  assert.equal(byMtime.best.pipe_id, 'pipe-b');
  assert.deepEqual(Object.keys(byMtime.members), ['pipe-b']);
  assert.equal(byMtime.members['pipe-b'].data?.file_count, 1);
});

test('forest — stats answers each member; max_tree_items counts the whole forest response', () => {
  const { view, put } = forest({ maxTreeItems: 7 });
  put('pipe-a', [file('/d/1', OLD), file('/d/2', OLD), file('/d/3', OLD)]);
  put('pipe-b', [file('/d/1', OLD), file('/d/2', OLD), file('/d/3', OLD)]);
  const s = view.stats({}) as { members: Members };
  assert.equal(s.members['pipe-a'].data?.total_files, 3);
  assert.equal(s.members['pipe-b'].data?.item_count, 5);
  assert.equal(parse(view.tree({ path: '/d', best: 'file_count' })).best?.pipe_id, 'pipe-a', '4 nodes: within the limit');
  assert.throws(() => view.tree({ path: '/d' }), (e: unknown) => e instanceof FustorError && e.code === 'TOO_MANY_ITEMS' && (e.details as { would_return: number }).would_return === 8);
  assert.equal(view.member('pipe-a').tree({ path: '/d' }).length, 1, 'each member alone is within the limit');
});

test('forest — search merges members in pipe order, tags pipe_id and pages across members', () => {
  const { view, put } = forest();
  put('pipe-b', [file('/x/1.txt', OLD), file('/x/2.txt', OLD)]);
  put('pipe-a', [file('/x/1.txt', OLD), file('/y/3.txt', OLD), file('/y/skip.bin', OLD)]);
  const all = view.search({ pattern: '*.txt' }).items as (FsNode & { pipe_id: string })[];
  assert.deepEqual(all.map((n) => `${n.pipe_id}:${n.path}`).sort(), ['pipe-a:/x/1.txt', 'pipe-a:/y/3.txt', 'pipe-b:/x/1.txt', 'pipe-b:/x/2.txt']);
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const r = view.search({ pattern: '*.txt', limit: 3, cursor });
    seen.push(...(r.items as (FsNode & { pipe_id: string })[]).map((n) => `${n.pipe_id}:${n.path}`));
    cursor = r.next_cursor;
  } while (cursor !== undefined);
  assert.deepEqual(seen, all.map((n) => `${n.pipe_id}:${n.path}`));
  assert.deepEqual(view.search({ pattern: '*.txt', path: '/y' }).items.map((n) => n.path), ['/y/3.txt'], 'scope missing in pipe-b: skipped');
  assert.throws(() => view.search({ pattern: '*', path: '/nowhere' }), (e: unknown) => e instanceof FustorError && e.code === 'NOT_FOUND');
});

test('forest — one change journal for the whole view, each change tagged with its pipe', () => {
  const { view, put } = forest();
  const c0 = view.changes({}).cursor;
  put('pipe-a', [file('/a', OLD)]);
  put('pipe-b', [file('/b', OLD)]);
  const r = view.changes({ since: c0 });
  assert.deepEqual(r.changes.map((c) => [(c as { pipe_id?: string }).pipe_id, c.path, c.node?.path]), [['pipe-a', '/a', '/a'], ['pipe-b', '/b', '/b']]);
  view.reset('pipe-a');
  assert.equal(view.changes({ since: r.cursor }).fresh_instance, true, 'a member reset invalidates cursors');
});

test('forest — sentinel tasks and feedback stay within the pipe when it is given', () => {
  const { view, put, clock } = forest();
  put('pipe-a', [file('/f', T0 - 5)]);
  put('pipe-b', [file('/f', T0 - 5), file('/g', T0 - 5)]);
  assert.deepEqual(view.sentinelTasks('pipe-a'), ['/f']);
  assert.deepEqual(view.sentinelTasks().sort(), ['/f', '/g']);
  clock.advance(1);
  assert.equal(view.sentinelFeedback([{ path: '/f', status: 'missing' }], 'pipe-a'), 1);
  assert.equal(view.member('pipe-a').has('/f'), false);
  assert.equal(view.member('pipe-b').has('/f'), true, 'missing on pipe-a says nothing about pipe-b');
  assert.equal(view.suspectList().length, 2);
});

test('forest — metadata, has, blind spots and tick over members', () => {
  const { view, put, clock } = forest();
  put('pipe-b', [file('/only-b', OLD)]);
  put('pipe-a', [file('/new', OLD)], 'audit');
  put('pipe-b', [file('/new2', OLD), file('/new3', T0 - 1)], 'audit');
  assert.equal((view.metadata('/only-b') as FsNode & { pipe_id: string }).pipe_id, 'pipe-b');
  assert.equal(view.has('/only-b'), true);
  assert.throws(() => view.metadata('/none'), (e: unknown) => e instanceof FustorError && e.code === 'NOT_FOUND');
  const page1 = view.blindSpots({ limit: 2 });
  assert.equal(page1.additions_count, 3);
  const page2 = view.blindSpots({ limit: 2, cursor: page1.next_cursor });
  assert.deepEqual([...page1.additions, ...page2.additions].map((n) => n.path).sort(), ['/new', '/new2', '/new3']);
  assert.equal(page2.next_cursor, undefined);
  assert.equal(view.suspectList().length, 1);
  clock.advance(60);
  view.tick();
  assert.equal(view.suspectList().length, 0, 'tick sweeps every member');
});

/**
 * Query API parameters (spec 30) end to end, beyond what gateway-views covers: every parameter of tree,
 * search, stats, metadata, changes, blind-spots, suspect-list, sessions, jobs and reset, against a real
 * gateway process whose view is driven by real ingest batches over HTTP. One view, one leader and one
 * follower; a small hot-file threshold and change journal so expiry can be observed quickly.
 *
 * Time: a suspect mark lasts HOT seconds, so every check that a file is still suspect (or a path not yet
 * settled) runs within a few requests of the row that marked it; HOT leaves those few requests room on a
 * loaded host. The sessions never expire during the file (only heartbeats keep them alive).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { batch, demoConfig, dirRow, event, eventually, fileRow, realtimeBatch, snapshotBatch, startGateway, type AgentSession, type RunningGateway, type Row } from './helpers/gateway.ts';

type Json = Record<string, unknown>;
interface Node { name: string; path: string; content_type: string; size?: number; modified_time?: number; integrity_suspect?: boolean; agent_missing?: boolean; last_agent_id?: string; source_uri?: string; children?: Node[]; next_cursor?: string; job_id?: string; job_pending?: boolean }
interface Job { job_id: string; path: string; status: string; progress: { completed: number; total: number; percentage: number }; created_at: number; completed_at: number | null }

const HOT = 10;
const JOURNAL = 40;
const NOW = Date.now() / 1000;
const OLD = NOW - 3600;
const ANCIENT = NOW - 86400 * 30;
const LIST = Array.from({ length: 25 }, (_, i) => `c${String(i).padStart(2, '0')}`);

let gw: RunningGateway;
let leader: AgentSession;
let follower: AgentSession;

const json = async <T = Json>(path: string, key?: string): Promise<T> => {
  const res = await gw.get(path, key);
  const body = await res.json() as T;
  assert.equal(res.status, 200, `${path}: ${res.status} ${JSON.stringify(body)}`);
  return body;
};
const V = '/api/v1/views/demo';
type Params = Record<string, string | number | boolean | undefined>;
const q = (params: Params): string => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined).map(([k, v]): [string, string] => [k, String(v)])).toString();
const paths = (nodes: { path: string }[]): string[] => nodes.map((n) => n.path).sort();
const search = async (params: Params): Promise<string[]> => paths((await json<{ items: Node[] }>(`${V}/search?${q(params)}`)).items);
const pipeIdle = async (): Promise<void> => {
  await eventually(async () => {
    const p = await json<{ queue_size: number; statistics: { events_received: number; events_processed: number } }>('/api/v1/pipe/pipes/demo');
    return p.queue_size === 0 && p.statistics.events_received === p.statistics.events_processed;
  }, 30000, 'pipe queue drained');
};
/** Push realtime rows and wait until the loop applied them. */
const realtime = async (rows: Row[], type: 'update' | 'delete' = 'update'): Promise<void> => {
  await leader.pushOk(realtimeBatch(rows, { type }));
  await pipeIdle();
};

before(async () => {
  gw = await startGateway(demoConfig({ view: { driver_params: { hot_file_threshold: HOT, journal_size: JOURNAL } }, pipe: { session_timeout_seconds: 3600 } }));
  leader = await gw.agent('host-a:demo');
  follower = await gw.agent('host-b:demo');
  await leader.pushOk(snapshotBatch([
    dirRow('/', { mtime: OLD }), dirRow('/proj', { mtime: OLD }), dirRow('/proj/src', { mtime: OLD }), dirRow('/proj/docs', { mtime: OLD }),
    fileRow('/proj/src/main.c', { size: 100, mtime: OLD }), fileRow('/proj/src/util.c', { size: 200, mtime: OLD + 10 }), fileRow('/proj/src/util.h', { size: 50, mtime: OLD + 20 }),
    fileRow('/proj/src/deep/x/y/z.c', { size: 10, mtime: OLD + 30 }),
    fileRow('/proj/docs/readme.md', { size: 1000, mtime: OLD }), fileRow('/proj/docs/a1.txt', { size: 1, mtime: OLD }), fileRow('/proj/docs/a2.txt', { size: 2, mtime: OLD }),
    fileRow('/proj/docs/ab.txt', { size: 3, mtime: OLD }),
    fileRow('/big.bin', { size: 5000, mtime: ANCIENT }), dirRow('/chg', { mtime: OLD }),
    ...LIST.map((n) => fileRow(`/list/${n}`, { size: 1, mtime: OLD })),
  ], { isEnd: true }));
  await eventually(async () => (await gw.get(`${V}/stats`)).status === 200, 30000, 'view ready');
});
after(async () => { await gw.stop(); });

test('tree: path, max_depth 0/1/-1, recursive=false, only_path', async () => {
  const node = await json<Node>(`${V}/tree?path=/proj/src&max_depth=0`);
  assert.equal(node.path, '/proj/src');
  assert.equal(node.content_type, 'directory');
  assert.ok(!('children' in node), 'max_depth=0: the node alone, no children key');

  const one = await json<Node>(`${V}/tree?path=/proj/src&max_depth=1`);
  assert.deepEqual(one.children!.map((c) => c.name), ['deep', 'main.c', 'util.c', 'util.h'], 'children sorted by name');
  assert.ok(!('children' in one.children![0]), 'one level only: the subdirectory carries no children');
  assert.deepEqual(await json<Node>(`${V}/tree?path=/proj/src&recursive=false`), one, 'recursive=false = one level');

  const all = await json<Node>(`${V}/tree?path=/proj/src&max_depth=-1`);
  assert.deepEqual(all, await json<Node>(`${V}/tree?path=/proj/src`), 'max_depth=-1 = the default (unlimited)');
  const deep = all.children![0];
  assert.equal(deep.children![0].children![0].children![0].path, '/proj/src/deep/x/y/z.c');

  const two = await json<Node>(`${V}/tree?path=/proj&max_depth=2`);
  assert.ok(two.children!.every((c) => Array.isArray(c.children)), 'level 2 listed');
  assert.ok(two.children!.every((c) => c.children!.every((g) => !('children' in g))), 'level 3 not listed');

  const bare = await json<Node>(`${V}/tree?path=/proj/src&only_path=true&max_depth=1`);
  assert.deepEqual(Object.keys(bare).sort(), ['children', 'content_type', 'name', 'path']);
  for (const c of bare.children!) assert.deepEqual(Object.keys(c).sort(), ['content_type', 'name', 'path']);
  const full = one.children!.find((c) => c.name === 'util.c')!;
  assert.equal(full.size, 200);
  assert.equal(full.modified_time, OLD + 10);
  for (const k of ['created_time', 'integrity_suspect', 'agent_missing', 'last_agent_id', 'source_uri']) assert.ok(k in full, `node has ${k}`);
  assert.equal(full.last_agent_id, 'host-a');
  assert.equal(full.source_uri, 'fs://host-a:demo');

  const file = await json<Node>(`${V}/tree?path=/big.bin`);
  assert.deepEqual([file.content_type, file.size, 'children' in file], ['file', 5000, false]);
  const missing = await gw.get(`${V}/tree?path=/proj/nope`);
  assert.equal(missing.status, 404);
  assert.match(((await missing.json()) as Json).detail as string, /not found.*\/proj\/nope/);
});

test('tree: limit + cursor page through all direct children of path, by name, each exactly once', async () => {
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await json<Node>(`${V}/tree?${q({ path: '/list', limit: 7, ...(cursor !== undefined ? { cursor } : {}) })}`);
    assert.ok(page.children!.length <= 7);
    seen.push(...page.children!.map((c) => c.name));
    cursor = page.next_cursor;
    pages++;
    assert.ok(pages <= 10, 'paging terminates');
  } while (cursor !== undefined);
  assert.deepEqual(seen, LIST, 'every child once, in name order');
  assert.equal(pages, 4, '7 + 7 + 7 + 4');
  const unpaged = await json<Node>(`${V}/tree?path=/list`);
  assert.equal(unpaged.next_cursor, undefined, 'no cursor without limit');
  assert.equal(unpaged.children!.length, 25);
  const last = await json<Node>(`${V}/tree?path=/list&limit=25`);
  assert.equal(last.next_cursor, undefined, 'no cursor when the page holds the rest');
});

test('on_demand_scan / force_real_time: jobs for unknown and known paths, commands in the next heartbeat, completion by job_complete', async () => {
  const res = await gw.get(`${V}/tree?path=/proj/incoming&on_demand_scan=true&recursive=false`);
  assert.equal(res.status, 200);
  const pending = await res.json() as Node;
  assert.equal(pending.job_pending, true);
  const jobId = pending.job_id!;
  assert.match(jobId, /^[0-9a-f]{8}$/);

  for (const agent of [leader, follower]) {
    const hb = await (await agent.heartbeat()).json() as { commands: Json[] };
    assert.equal(hb.commands.length, 1, 'every live session of the view gets the scan, whatever its role');
    assert.deepEqual({ ...hb.commands[0], created_at: 0 }, { type: 'scan', path: '/proj/incoming', recursive: false, job_id: jobId, created_at: 0 });
  }
  const again = await json<Node>(`${V}/tree?path=/proj/incoming&on_demand_scan=true`);
  assert.equal(again.job_id, jobId, 'a running job for the same path is reused');
  assert.equal(((await (await leader.heartbeat()).json()) as { commands: Json[] }).commands.length, 0, 'and no second command is sent');

  const running = await json<Job>(`${V}/jobs/${jobId}`);
  assert.deepEqual([running.status, running.path, running.progress.completed, running.progress.total, running.completed_at], ['RUNNING', '/proj/incoming', 0, 2, null]);
  assert.ok(Math.abs(running.created_at - Date.now() / 1000) < 60, 'created_at in epoch seconds');

  await leader.pushOk(batch('on_demand_job', [event([dirRow('/proj/incoming'), fileRow('/proj/incoming/up.dat', { size: 9 })], { source: 'on_demand_job' })]));
  await leader.pushOk(batch('job_complete', [], { metadata: { job_id: 'ffffffff', scan_path: '/proj/incoming' } }));
  await pipeIdle();
  assert.equal((await json<Job>(`${V}/jobs/${jobId}`)).progress.completed, 0, 'a job_complete for another job id does not count');
  await leader.pushOk(batch('job_complete', [], { metadata: { job_id: jobId, scan_path: '/proj/incoming' } }));
  const half = await eventually(async () => {
    const j = await json<Job>(`${V}/jobs/${jobId}`);
    return j.progress.completed === 1 ? j : null;
  }, 20000, 'leader done');
  assert.deepEqual([half.status, half.progress.percentage], ['RUNNING', 50]);
  // An older agent reports the scan path only.
  await follower.pushOk(batch('job_complete', [], { metadata: { scan_path: '/proj/incoming' } }));
  const done = await eventually(async () => {
    const j = await json<Job>(`${V}/jobs/${jobId}`);
    return j.status === 'COMPLETED' ? j : null;
  }, 20000, 'job completed');
  assert.equal(done.progress.percentage, 100);
  assert.equal(typeof done.completed_at, 'number');
  const scanned = await json<Node>(`${V}/metadata?path=/proj/incoming/up.dat`);
  assert.deepEqual([scanned.size, scanned.agent_missing], [9, true], 'scan results applied, as seen by a walk only');
  assert.deepEqual((await json<{ additions: Node[] }>(`${V}/blind-spots`)).additions.map((n) => n.path), ['/proj/incoming/up.dat'], 'on-demand results are blind-spot additions');

  const known = await json<Node>(`${V}/tree?path=/proj/docs&force_real_time=true&max_depth=1`);
  assert.equal(known.path, '/proj/docs');
  assert.equal(known.children!.length, 4, 'a known path answers the node as usual');
  assert.equal(known.job_pending, true);
  assert.notEqual(known.job_id, jobId, 'the completed job is not reused');
  const hb = await (await follower.heartbeat()).json() as { commands: { job_id: string; recursive: boolean; path: string }[] };
  assert.deepEqual(hb.commands.map((c) => [c.job_id, c.path, c.recursive]), [[known.job_id, '/proj/docs', true]]);
  const jobs = await json<{ jobs: Job[] }>(`${V}/jobs`);
  assert.deepEqual(jobs.jobs.map((j) => j.job_id).sort(), [jobId, known.job_id!].sort());
  assert.equal((await gw.get(`${V}/jobs/00000000`)).status, 404);
  // Completion when the sessions report it; the leader's heartbeat drained its command too.
  await leader.heartbeat();
  for (const a of [leader, follower]) await a.pushOk(batch('job_complete', [], { metadata: { job_id: known.job_id } }));
  await eventually(async () => (await json<Job>(`${V}/jobs/${known.job_id!}`)).status === 'COMPLETED', 20000, 'second job completed');
});

test('search: *, ?, [..], ** against names and whole paths; relative patterns are rooted', async () => {
  assert.deepEqual(await search({ pattern: '*.c' }), ['/proj/src/deep/x/y/z.c', '/proj/src/main.c', '/proj/src/util.c']);
  assert.deepEqual(await search({ pattern: 'util.?' }), ['/proj/src/util.c', '/proj/src/util.h']);
  assert.deepEqual(await search({ pattern: 'a[0-9].txt' }), ['/proj/docs/a1.txt', '/proj/docs/a2.txt']);
  assert.deepEqual(await search({ pattern: 'a[^0-9].txt' }), ['/proj/docs/ab.txt']);
  assert.deepEqual(await search({ pattern: '/proj/**/*.c' }), ['/proj/src/deep/x/y/z.c', '/proj/src/main.c', '/proj/src/util.c']);
  assert.deepEqual(await search({ pattern: '/proj/*/*.c' }), ['/proj/src/main.c', '/proj/src/util.c'], 'one * never crosses a /');
  assert.deepEqual(await search({ pattern: 'proj/src/deep/**' }), ['/proj/src/deep/x/y/z.c'], 'rooted at /');
  assert.deepEqual(await search({ pattern: '**/big.bin' }), ['/big.bin'], '** spans zero directories at the root too');
  assert.deepEqual(await search({ pattern: '/proj/src/util.h' }), ['/proj/src/util.h'], 'a literal path');
  assert.deepEqual(await search({ pattern: 'nothing*' }), []);
});

test('search: path scope, type, size and mtime filters, suspect, format=list', async () => {
  assert.deepEqual(await search({ pattern: '*.txt', path: '/proj/docs' }), ['/proj/docs/a1.txt', '/proj/docs/a2.txt', '/proj/docs/ab.txt']);
  assert.deepEqual(await search({ pattern: '*.txt', path: '/proj/src' }), []);
  assert.deepEqual(await search({ pattern: '/proj/**', path: '/proj/src/deep' }), ['/proj/src/deep/x/y/z.c'], 'the scope narrows a path pattern');
  assert.equal((await gw.get(`${V}/search?pattern=*&path=/nope`)).status, 404);

  assert.deepEqual(await search({ pattern: 'd*' }), [], 'files only by default');
  assert.deepEqual(await search({ pattern: 'd*', type: 'directory' }), ['/proj/docs', '/proj/src/deep']);
  assert.deepEqual(await search({ pattern: '*e*', type: 'any', path: '/proj' }), ['/proj/docs/readme.md', '/proj/src/deep']);
  assert.deepEqual(await search({ pattern: '*', type: 'file', path: '/proj/src' }), ['/proj/src/deep/x/y/z.c', '/proj/src/main.c', '/proj/src/util.c', '/proj/src/util.h']);

  assert.deepEqual(await search({ pattern: '*', min_size: 100, max_size: 1000 }), ['/proj/docs/readme.md', '/proj/src/main.c', '/proj/src/util.c']);
  assert.deepEqual(await search({ pattern: '*', min_size: 5000 }), ['/big.bin']);
  assert.deepEqual(await search({ pattern: '*', modified_before: OLD - 1 }), ['/big.bin']);
  assert.deepEqual(await search({ pattern: '*.?', modified_after: OLD + 5, modified_before: OLD + 25 }), ['/proj/src/util.c', '/proj/src/util.h']);

  const t = Date.now() / 1000;
  await realtime([{ ...fileRow('/proj/src/hot.c', { size: 1, mtime: t }), is_atomic_write: false }]);
  assert.deepEqual(await search({ pattern: '*.c', suspect: true }), ['/proj/src/hot.c']);
  assert.deepEqual(await search({ pattern: '*.c', suspect: false }), ['/proj/src/deep/x/y/z.c', '/proj/src/main.c', '/proj/src/util.c']);

  const list = await json<Node[]>(`${V}/search?pattern=util.*&format=list`);
  assert.ok(Array.isArray(list));
  assert.deepEqual(paths(list), ['/proj/src/util.c', '/proj/src/util.h']);
  const obj = await json<{ items: Node[] }>(`${V}/search?pattern=util.*&format=object`);
  assert.deepEqual(paths(obj.items), paths(list));
  const onlyPath = await json<{ items: Node[] }>(`${V}/search?pattern=util.c&only_path=true`);
  assert.deepEqual(Object.keys(onlyPath.items[0]).sort(), ['content_type', 'name', 'path']);
});

test('search: limit + cursor yield every match exactly once, for the name index and for walks', async () => {
  const queries: Params[] = [{ pattern: 'c*' }, { pattern: '/list/c?*' }, { pattern: 'c*', path: '/list' }, { pattern: '*', type: 'any' }];
  for (const params of queries) {
    const expected = (await json<{ items: Node[]; next_cursor?: string }>(`${V}/search?${q({ ...params, limit: 1000 })}`));
    assert.equal(expected.next_cursor, undefined);
    const got: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await json<{ items: Node[]; next_cursor?: string }>(`${V}/search?${q({ ...params, limit: 4, ...(cursor !== undefined ? { cursor } : {}) })}`);
      assert.ok(page.items.length <= 4);
      got.push(...page.items.map((n) => n.path));
      cursor = page.next_cursor;
      assert.ok(++pages < 40);
    } while (cursor !== undefined);
    assert.deepEqual(got, expected.items.map((n) => n.path), `paged = unpaged for ${JSON.stringify(params)}`);
    assert.equal(new Set(got).size, got.length, 'no duplicates');
    if (params.pattern !== '*') assert.equal(got.length, 25);
  }
  const def = await json<{ items: Node[]; next_cursor?: string }>(`${V}/search?pattern=c*`);
  assert.equal(def.items.length, 25, 'default limit (1000) holds them all');
});

test('stats: view-wide fields (with sessions and leader), sub-path aggregates, settled and quiet_for_seconds', async () => {
  // The hot file of the search test, written again now: its suspect mark (HOT s) must not depend on how
  // long the tests in between took.
  await realtime([{ ...fileRow('/proj/src/hot.c', { size: 1, mtime: Date.now() / 1000 }), is_atomic_write: false }]);
  const stats = await json(`${V}/stats`);
  for (const k of ['item_count', 'total_files', 'total_directories', 'total_size', 'latest_mtime', 'suspect_file_count', 'has_blind_spot', 'blind_spot_additions',
    'blind_spot_deletions', 'logical_now', 'latency_ms', 'staleness_seconds', 'audit_cycle_count', 'last_audit_finished_at', 'is_auditing', 'sessions', 'leader']) {
    assert.ok(k in stats, `view-wide stats has ${k}`);
  }
  assert.equal(stats.sessions, 2);
  assert.equal(stats.leader, leader.sessionId, 'leader = the leader session id');
  const tree = await json<Node>(`${V}/tree?only_path=true`);
  const count = (n: Node): number => 1 + (n.children ?? []).reduce((s, c) => s + count(c), 0);
  assert.equal(stats.item_count, count(tree), 'item_count counts every node, the root included');
  assert.equal(stats.suspect_file_count, 1, '/proj/src/hot.c');
  assert.ok(Math.abs((stats.logical_now as number) - Date.now() / 1000) < 60);

  const docs = await json(`${V}/stats?path=/proj/docs`);
  assert.deepEqual([docs.content_type, docs.file_count, docs.dir_count, docs.total_size, docs.suspect_count, docs.blind_spot_count], ['directory', 4, 1, 1006, 0, 0]);
  assert.equal(typeof docs.quiet_for_seconds, 'number');
  assert.equal((await json(`${V}/stats?path=/proj/docs&quiet_seconds=0`)).settled, true, 'no suspect below and quiet for ≥ 0 s');

  const src = await json(`${V}/stats?path=/proj/src`);
  assert.equal(src.suspect_count, 1);
  assert.equal(src.settled, false, 'a file below is still being written');
  assert.equal((await json(`${V}/stats?path=/proj/src&quiet_seconds=0`)).settled, false, 'suspect files keep it unsettled whatever quiet_seconds');

  await realtime([fileRow('/proj/up/part1', { mtime: Date.now() / 1000 - 100 })]);
  const fresh = await json(`${V}/stats?path=/proj/up`);
  assert.equal(fresh.settled, false, 'just changed');
  assert.ok((fresh.quiet_for_seconds as number) < HOT);
  assert.equal((await json(`${V}/stats?path=/proj/up&quiet_seconds=0`)).settled, true, 'quiet_seconds overrides the default quiet period');
  const later = await eventually(async () => {
    const s = await json(`${V}/stats?path=/proj/src`);
    return s.settled === true ? s : null;
  }, 60000, 'the hot file settles once its suspect mark expires unchanged');
  assert.equal(later.suspect_count, 0);
  assert.ok((later.quiet_for_seconds as number) >= HOT);
  const up = await eventually(async () => {
    const s = await json(`${V}/stats?path=/proj/up`);
    return s.settled === true ? s : null;
  }, 60000, 'the upload settles after the quiet period');
  assert.ok((up.quiet_for_seconds as number) >= HOT);
  const docsLater = await json(`${V}/stats?path=/proj/docs`);
  assert.equal(docsLater.settled, true, 'nothing changed below /proj/docs for longer than the hot threshold');
  assert.ok((docsLater.quiet_for_seconds as number) > (docs.quiet_for_seconds as number), 'quiet_for_seconds grows');
  const file = await json(`${V}/stats?path=/big.bin`);
  assert.deepEqual([file.content_type, file.file_count, file.total_size], ['file', 1, 5000]);
  assert.equal((await gw.get(`${V}/stats?path=/proj/none`)).status, 404);
});

test('metadata: the node without children (200), 404 for an unknown path, 400 for a bad or missing one', async () => {
  const dir = await json<Node>(`${V}/metadata?path=/proj/src`);
  assert.deepEqual([dir.path, dir.name, dir.content_type, 'children' in dir], ['/proj/src', 'src', 'directory', false]);
  const file = await json<Node>(`${V}/metadata?path=/proj/src/util.h`);
  assert.deepEqual([file.size, file.modified_time, file.integrity_suspect], [50, OLD + 20, false]);
  const root = await json<Node>(`${V}/metadata?path=/`);
  assert.deepEqual([root.path, root.content_type], ['/', 'directory']);
  const missing = await gw.get(`${V}/metadata?path=/proj/src/none.c`);
  assert.equal(missing.status, 404);
  assert.match(((await missing.json()) as Json).message as string, /\/proj\/src\/none\.c/);
  for (const bad of ['', '?path=', '?path=proj', '?path=/proj/../etc']) assert.equal((await gw.get(`${V}/metadata${bad}`)).status, 400, bad);
});

test('changes: since=now, then the upserts and deletes after the cursor, path scope and limit', async () => {
  const start = await json<{ changes: unknown[]; cursor: string; fresh_instance?: boolean }>(`${V}/changes?since=now`);
  assert.deepEqual(start.changes, []);
  assert.equal(start.fresh_instance, undefined);
  assert.deepEqual((await json<{ changes: unknown[] }>(`${V}/changes`)).changes, [], 'no since = now');

  await realtime([fileRow('/chg/a', { size: 1 }), fileRow('/chg/b', { size: 2 })]);
  await realtime([{ path: '/chg/b' }], 'delete');
  await realtime([fileRow('/proj/src/main.c', { size: 101 })]);

  type Changes = { changes: { path: string; op: string; source: string; node?: Node }[]; cursor: string; fresh_instance?: boolean };
  const all = await json<Changes>(`${V}/changes?since=${start.cursor}`);
  assert.deepEqual(all.changes.map((c) => [c.path, c.op, c.source]), [
    ['/chg/a', 'upsert', 'realtime'], ['/chg/b', 'upsert', 'realtime'], ['/chg/b', 'delete', 'realtime'], ['/proj/src/main.c', 'upsert', 'realtime'],
  ]);
  assert.equal(all.changes[0].node!.size, 1, 'an upsert carries the node as it is now');
  assert.equal(all.changes[1].node, undefined, 'gone since: no node');
  assert.equal(all.changes[2].node, undefined);
  assert.equal(all.changes[3].node!.size, 101);
  const none = await json<Changes>(`${V}/changes?since=${all.cursor}`);
  assert.deepEqual(none.changes, [], 'the returned cursor follows on');

  const scoped = await json<Changes>(`${V}/changes?since=${start.cursor}&path=/chg`);
  assert.deepEqual(scoped.changes.map((c) => c.path), ['/chg/a', '/chg/b', '/chg/b']);
  const paged: string[] = [];
  let cursor = start.cursor;
  for (let i = 0; i < 10; i++) {
    const page = await json<Changes>(`${V}/changes?since=${cursor}&limit=3`);
    assert.ok(page.changes.length <= 3);
    paged.push(...page.changes.map((c) => `${c.op}:${c.path}`));
    cursor = page.cursor;
    if (page.changes.length === 0) break;
  }
  assert.deepEqual(paged, all.changes.map((c) => `${c.op}:${c.path}`), 'limit pages through the same changes');

  // A cursor from another journal instance, and one older than the bounded journal, answer fresh_instance.
  const foreign = await json<Changes>(`${V}/changes?since=someotherid.1`);
  assert.equal(foreign.fresh_instance, true);
  assert.deepEqual(foreign.changes, []);
  await realtime(Array.from({ length: JOURNAL + 5 }, (_, i) => fileRow(`/chg/many${i}`)));
  const expired = await json<Changes>(`${V}/changes?since=${all.cursor}`);
  assert.equal(expired.fresh_instance, true, 'the journal moved past the cursor');
  assert.deepEqual(expired.changes, []);
  assert.deepEqual((await json<Changes>(`${V}/changes?since=${expired.cursor}`)).changes, [], 'and the fresh cursor is current');
});

test('blind-spots: audit additions and missing-item deletions, paged; stats agree', async () => {
  // A realtime event for a path clears its blind spot (the on-demand scan result of the jobs test).
  await realtime([fileRow('/proj/incoming/up.dat', { size: 9 })]);
  assert.deepEqual(await json(`${V}/blind-spots`), { additions_count: 0, additions: [], deletion_count: 0, deletions: [] });
  const start = await gw.request('/api/v1/pipe/consistency/audit/start', 'POST', { key: gw.keys.agent });
  assert.equal(start.status, 200);
  await leader.pushOk(batch('audit', [event([
    dirRow('/proj/docs', { mtime: OLD }), fileRow('/proj/docs/readme.md', { size: 1000, mtime: OLD }), fileRow('/proj/docs/a1.txt', { size: 1, mtime: OLD }),
    fileRow('/proj/docs/a2.txt', { size: 2, mtime: OLD }), fileRow('/proj/docs/found.txt', { size: 7, mtime: OLD }),
  ], { source: 'audit' })], { isEnd: true }));
  await pipeIdle();
  const spots = await json<{ additions_count: number; additions: Node[]; deletion_count: number; deletions: string[]; next_cursor?: string }>(`${V}/blind-spots`);
  assert.equal(spots.additions_count, 1);
  assert.deepEqual(spots.additions.map((n) => [n.path, n.agent_missing]), [['/proj/docs/found.txt', true]], 'a file only the audit saw');
  assert.equal(spots.deletion_count, 1);
  assert.deepEqual(spots.deletions, ['/proj/docs/ab.txt'], 'a file the audit did not find');
  assert.equal(spots.next_cursor, undefined);
  assert.equal((await gw.get(`${V}/metadata?path=/proj/docs/ab.txt`)).status, 404);

  const first = await json<{ additions: Node[]; deletions: string[]; next_cursor?: string }>(`${V}/blind-spots?limit=1`);
  assert.equal(first.additions.length + first.deletions.length, 1);
  assert.equal(typeof first.next_cursor, 'string');
  const second = await json<{ additions: Node[]; deletions: string[]; next_cursor?: string }>(`${V}/blind-spots?limit=1&cursor=${first.next_cursor}`);
  assert.deepEqual([...first.additions.map((n) => n.path), ...first.deletions, ...second.additions.map((n) => n.path), ...second.deletions], ['/proj/docs/found.txt', '/proj/docs/ab.txt']);
  assert.equal(second.next_cursor, undefined);

  const stats = await json(`${V}/stats`);
  assert.deepEqual([stats.has_blind_spot, stats.blind_spot_additions, stats.blind_spot_deletions, stats.audit_cycle_count, stats.is_auditing], [true, 1, 1, 1, false]);
  assert.equal(typeof stats.last_audit_finished_at, 'number');
  await realtime([fileRow('/proj/docs/found.txt', { size: 8 })]);
  assert.equal((await json<{ additions_count: number }>(`${V}/blind-spots`)).additions_count, 0, 'realtime clears it');
});

test('suspect-list: GET has epoch-second suspect_until ≈ now + threshold; PUT evidence clears, renews or is ignored', async () => {
  const mtime = Math.floor(Date.now() / 1000) - 1;
  const before = Date.now() / 1000;
  await realtime([{ ...fileRow('/proj/up/growing.bin', { size: 10, mtime }), is_atomic_write: false }, { ...fileRow('/proj/up/copied.bin', { size: 5, mtime: OLD }), is_atomic_write: false }]);
  const afterWrite = Date.now() / 1000;
  const list = await json<{ path: string; suspect_until: number; recorded_mtime: number }[]>(`${V}/suspect-list`);
  const byPath = new Map(list.map((e) => [e.path, e]));
  const growing = byPath.get('/proj/up/growing.bin')!;
  assert.ok(growing, JSON.stringify(list));
  assert.equal(growing.recorded_mtime, mtime);
  assert.ok(growing.suspect_until >= before + HOT - 0.5 && growing.suspect_until <= afterWrite + HOT + 0.5, `suspect_until ${growing.suspect_until} ≈ now + ${HOT} (epoch seconds)`);
  assert.ok(byPath.has('/proj/up/copied.bin'));

  const put = async (updates: Json[]): Promise<Json> => {
    const res = await gw.request(`${V}/suspect-list`, 'PUT', { key: gw.keys.query, body: { updates } });
    const body = await res.json() as Json;
    assert.equal(res.status, 200, JSON.stringify(body));
    return body;
  };
  // Same mtime, old file: stable and cold → cleared at once.
  assert.deepEqual(await put([{ path: '/proj/up/copied.bin', mtime: OLD }]), { view_id: 'demo', updated_count: 1, status: 'ok' });
  assert.equal((await json<Node>(`${V}/metadata?path=/proj/up/copied.bin`)).integrity_suspect, false);
  // A different mtime: the node takes it and the mark is renewed (predecessor spelling current_mtime).
  const newer = mtime + 0.5;
  assert.equal((await put([{ path: '/proj/up/growing.bin', current_mtime: newer }])).updated_count, 1);
  const renewed = (await json<{ path: string; suspect_until: number; recorded_mtime: number }[]>(`${V}/suspect-list`)).find((e) => e.path === '/proj/up/growing.bin')!;
  assert.equal(renewed.recorded_mtime, newer);
  assert.ok(renewed.suspect_until >= growing.suspect_until);
  const node = await json<Node>(`${V}/metadata?path=/proj/up/growing.bin`);
  assert.deepEqual([node.modified_time, node.integrity_suspect], [newer, true]);
  // Not on the list, or without an mtime: ignored.
  assert.equal((await put([{ path: '/proj/src/util.c', mtime: OLD + 10 }, { path: '/proj/up/growing.bin' }])).updated_count, 0);
  assert.deepEqual((await json<{ path: string }[]>(`${V}/suspect-list`)).map((e) => e.path), ['/proj/up/growing.bin']);
});

test('sessions: every field of every session feeding the view', async () => {
  await follower.heartbeat({ can_realtime: false });
  await leader.heartbeat({ can_realtime: true });
  const s = await json<{ view_id: string; count: number; active_sessions: Json[] }>(`${V}/sessions`);
  assert.equal(s.view_id, 'demo');
  assert.equal(s.count, 2);
  const byTask = new Map(s.active_sessions.map((x) => [x.task_id, x]));
  const a = byTask.get('host-a:demo')!;
  const b = byTask.get('host-b:demo')!;
  assert.deepEqual([a.session_id, a.agent_id, a.role, a.can_realtime, a.source_uri, a.client_ip], [leader.sessionId, 'host-a', 'leader', true, 'fs://host-a:demo', '127.0.0.1']);
  assert.deepEqual([b.session_id, b.agent_id, b.role, b.can_realtime], [follower.sessionId, 'host-b', 'follower', false]);
  const now = Date.now() / 1000;
  for (const x of [a, b]) {
    assert.ok((x.created_at as number) <= (x.last_heartbeat_at as number));
    assert.ok(Math.abs((x.last_heartbeat_at as number) - now) < 60, 'last heartbeat in epoch seconds, just now');
  }
});

test('reset: 204 for an admin key only; the view is emptied, old change cursors turn foreign', async () => {
  const cursor = (await json<{ cursor: string }>(`${V}/changes?since=now`)).cursor;
  const denied = await gw.request(`${V}/reset`, 'DELETE', { key: gw.keys.query });
  assert.equal(denied.status, 403);
  assert.match(((await denied.json()) as Json).message as string, /admin_keys/);
  assert.equal((await gw.get(`${V}/metadata?path=/proj/src/util.c`)).status, 200, 'a refused reset changes nothing');
  assert.equal((await gw.request('/api/v1/views/nope/reset', 'DELETE', { key: gw.keys.admin })).status, 404);

  const res = await gw.request(`${V}/reset`, 'DELETE', { key: gw.keys.admin });
  assert.equal(res.status, 204);
  assert.equal(await res.text(), '');
  leader = await gw.agent('host-a:demo');
  await leader.pushOk(snapshotBatch([fileRow('/after-reset')], { isEnd: true }));
  await eventually(async () => (await gw.get(`${V}/stats`)).status === 200, 30000, 'ready again');
  assert.equal((await json(`${V}/stats`)).total_files, 1);
  assert.equal((await gw.get(`${V}/metadata?path=/proj/src/util.c`)).status, 404);
  assert.equal((await json<{ fresh_instance?: boolean }>(`${V}/changes?since=${cursor}`)).fresh_instance, true);
});

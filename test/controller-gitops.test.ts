/**
 * `fustor controller --git REPO[#branch[:dir]]` against a REAL controller process and a real local Git
 * repository: each commit applied as one revision (actor `git:<sha>`), invalid commits kept out with the
 * reason in the status, API writes to Git-managed kinds refused, branch and dir selection.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayDoc, startController, viewDoc, type RunningController } from './helpers/controller.ts';
import { eventually } from './helpers/gateway.ts';

let root: string;

const GATEWAY_VIEW = `apiVersion: fustor.io/v1
kind: Gateway
metadata: {name: gw1}
spec: {url: "http://gw1.example:8101"}
---
apiVersion: fustor.io/v1
kind: View
metadata: {name: demo}
spec: {driver: fs, gateway: gw1}
`;
const pipe = (uri: string, view = 'demo') => `apiVersion: fustor.io/v1
kind: Pipe
metadata: {name: p1}
spec:
  agentSelector: {matchLabels: {site: a}}
  source: {driver: fs, uri: ${uri}}
  view: ${view}
`;

function newRepo(branch: string): string {
  const dir = mkdtempSync(join(root, 'repo-'));
  execFileSync('git', ['init', '--quiet', '-b', branch, dir]);
  return dir;
}

function commit(repo: string, files: Record<string, string | null>, message: string): string {
  for (const [name, text] of Object.entries(files)) {
    const file = join(repo, name);
    if (text === null) rmSync(file, { force: true });
    else {
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, text);
    }
  }
  const env = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example' };
  execFileSync('git', ['-C', repo, 'add', '-A'], { env });
  execFileSync('git', ['-C', repo, 'commit', '--quiet', '--allow-empty', '-m', message], { env });
  return execFileSync('git', ['-C', repo, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
}

before(() => {
  root = mkdtempSync(join(tmpdir(), 'fustor-gitops-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

test('GitOps: commits applied as revisions, invalid commits kept out, API writes refused', async (t) => {
  const repo = newRepo('trunk');
  const a = commit(repo, { '10-base.yaml': GATEWAY_VIEW, '20-pipe.yml': pipe('/data/a'), 'README.md': 'not yaml: [' }, 'A');
  // Default branch = the remote HEAD (trunk); long interval: syncs below are explicit.
  const c: RunningController = await startController({ args: ['--git', repo, '--git-interval', '3600'] });
  t.after(() => c.stop());

  // Commit A is applied on start.
  let status = (await c.json('/api/v1/gitops', 'GET')).body;
  assert.equal(status.last_applied_commit, a);
  assert.equal(status.branch, 'trunk');
  assert.equal(status.last_error, null);
  const pipeA = (await c.json('/api/v1/resources/pipes/p1', 'GET')).body as { spec: { source: { uri: string } }; metadata: { revision: number } };
  assert.equal(pipeA.spec.source.uri, '/data/a');
  const revA = pipeA.metadata.revision;
  let history = (await c.json('/api/v1/history', 'GET')).body.items as { actor: string; revision: number; kind: string }[];
  assert.deepEqual(history.filter((h) => h.revision !== null).map((h) => [h.actor, h.revision]), [['git:' + a.slice(0, 12), revA], ['git:' + a.slice(0, 12), revA], ['git:' + a.slice(0, 12), revA]]);

  // Nothing moved: up to date, no new revision.
  let sync = await c.ctl(['sync']);
  assert.equal(sync.code, 0, sync.stderr);
  assert.equal(sync.stdout, `commit ${a} already applied (revision ${revA})\n`);

  // Commit B changes the pipe → one new revision.
  const b = commit(repo, { '20-pipe.yml': pipe('/data/b') }, 'B');
  sync = await c.ctl(['sync']);
  assert.equal(sync.code, 0, sync.stderr);
  assert.equal(sync.stdout, `commit ${b} applied (revision ${revA + 1})\n`);
  history = (await c.json('/api/v1/history?limit=1', 'GET')).body.items as { actor: string; revision: number; kind: string }[];
  assert.deepEqual([history[0].actor, history[0].revision, history[0].kind], [`git:${b.slice(0, 12)}`, revA + 1, 'Pipe']);

  // Commit C is invalid (dangling view reference + a YAML-valid but bad View) → not applied.
  const cc = commit(repo, { '20-pipe.yml': pipe('/data/c', 'nope') }, 'C');
  sync = await c.ctl(['sync']);
  assert.equal(sync.code, 1);
  assert.match(sync.stderr, new RegExp(`commit ${cc} not applied: 20-pipe.yml \\(document 1\\) spec.view: View "nope"`));
  status = (await c.json('/api/v1/gitops', 'GET')).body;
  assert.equal(status.last_applied_commit, b);
  assert.equal(status.last_seen_commit, cc);
  assert.equal((status.last_error as { commit: string }).commit, cc);
  assert.match((status.last_error as { message: string }).message, /spec\.view/);
  assert.equal(((await c.json('/api/v1/resources/pipes/p1', 'GET')).body as { spec: { source: { uri: string } } }).spec.source.uri, '/data/b');
  assert.equal((await c.json('/healthz', 'GET')).body.revision, revA + 1);
  // The controller's log lines are written asynchronously (pino): polled, not read once after the answer.
  await eventually(async () => /not applied/.test(c.stdout() + c.stderr()), 10000, 'the refused commit logged');

  // A YAML syntax error is also kept out.
  const c2 = commit(repo, { '20-pipe.yml': 'kind: [unclosed\n' }, 'C2');
  const bad = (await c.json('/api/v1/sync', 'POST')).body as { outcome: string; commit: string; status: { last_error: { message: string } } };
  assert.deepEqual([bad.outcome, bad.commit], ['failed', c2]);
  assert.match(bad.status.last_error.message, /^20-pipe\.yml: document 1: not valid YAML/);

  // Commit D fixes it and removes the pipe (prune) → applied.
  const d = commit(repo, { '20-pipe.yml': null, '30-pipe.yaml': pipe('/data/d') }, 'D');
  sync = await c.ctl(['sync']);
  assert.equal(sync.stdout, `commit ${d} applied (revision ${revA + 2})\n`);
  status = (await c.json('/api/v1/gitops', 'GET')).body;
  assert.deepEqual([status.last_applied_commit, status.last_error], [d, null]);
  assert.equal(((await c.json('/api/v1/resources/pipes/p1', 'GET')).body as { spec: { source: { uri: string } } }).spec.source.uri, '/data/d');

  // API writes to Git-managed kinds are refused; Secrets and QueryKeys stay API-managed.
  const refused = await c.json('/api/v1/apply', 'POST', { body: [viewDoc('other', 'gw1')] });
  assert.equal(refused.status, 409);
  assert.equal(refused.body.message, `View is managed by Git (${repo}#trunk): change it in the repository`);
  const viaCtl = await c.ctl(['delete', 'gateways', 'gw1']);
  assert.equal(viaCtl.code, 1);
  assert.match(viaCtl.stderr, /409: Gateway is managed by Git/);
  assert.equal((await c.json('/api/v1/apply?prune=true', 'POST', { body: [] })).status, 409);
  assert.equal((await c.json('/api/v1/apply', 'POST', { body: [gatewayDoc('gw2')] })).status, 409);
  const key = await c.json('/api/v1/keys', 'POST', { body: { name: 'k1', views: ['demo'] } });
  assert.equal(key.status, 201, JSON.stringify(key.body));

  // A commit removing a View the API-managed QueryKey still names is kept out.
  const e = commit(repo, { '10-base.yaml': GATEWAY_VIEW.split('---')[0], '30-pipe.yaml': null }, 'E');
  const rej = (await c.json('/api/v1/sync', 'POST')).body as { outcome: string; commit: string; status: { last_error: { message: string } } };
  assert.deepEqual([rej.outcome, rej.commit], ['failed', e]);
  assert.match(rej.status.last_error.message, /QueryKey\/k1/);

  // The viewer role may read the status but not sync.
  const viewer = (await c.json('/api/v1/tokens/operator', 'POST', { body: { name: 'v', role: 'viewer' } })).body.token as string;
  assert.equal((await c.json('/api/v1/gitops', 'GET', { token: viewer })).status, 200);
  assert.equal((await c.json('/api/v1/sync', 'POST', { token: viewer })).status, 403);
});

test('GitOps: branch and dir selection (#main:deploy); periodic sync', async (t) => {
  const repo = newRepo('trunk');
  commit(repo, { 'other.yaml': 'not: [valid' }, 'trunk only');
  execFileSync('git', ['-C', repo, 'checkout', '--quiet', '-b', 'main']);
  const a = commit(repo, { 'deploy/base.yaml': GATEWAY_VIEW, 'deploy/pipes/p.yaml': pipe('/data/a'), 'other.yaml': 'also: [not valid' }, 'A');
  execFileSync('git', ['-C', repo, 'checkout', '--quiet', 'trunk']);
  const c = await startController({ args: ['--git', `${repo}#main:deploy`, '--git-interval', '1'] });
  t.after(() => c.stop());
  const status = (await c.json('/api/v1/gitops', 'GET')).body;
  assert.deepEqual([status.branch, status.dir, status.last_applied_commit, status.last_error], ['main', 'deploy', a, null]);
  assert.equal((await c.json('/api/v1/resources/views/demo', 'GET')).status, 200);

  // The interval picks up a new commit on main without `ctl sync`.
  execFileSync('git', ['-C', repo, 'checkout', '--quiet', 'main']);
  const b = commit(repo, { 'deploy/pipes/p.yaml': pipe('/data/b') }, 'B');
  const deadline = Date.now() + 30_000;
  while ((await c.json('/api/v1/gitops', 'GET')).body.last_applied_commit !== b) {
    assert.ok(Date.now() < deadline, 'the interval did not apply commit B');
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(((await c.json('/api/v1/resources/pipes/p1', 'GET')).body as { spec: { source: { uri: string } } }).spec.source.uri, '/data/b');
});

test('GitOps: a repository that cannot be fetched stops the start with one line', async () => {
  const { runControllerExpectingFailure } = await import('./helpers/controller.ts');
  const dataDir = join(root, 'bad-data');
  const res = await runControllerExpectingFailure(['--data-dir', dataDir, '--port', '0', '--git', join(root, 'missing-repo')]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /^fustor: --git .*missing-repo/m);
});

test('GitOps: a rollback by force push (the branch moved back to an older commit) is applied', async (t) => {
  const repo = newRepo('main');
  const a = commit(repo, { 'all.yaml': GATEWAY_VIEW, 'pipe.yaml': pipe('/data/a') }, 'A');
  const c: RunningController = await startController({ args: ['--git', repo, '--git-interval', '3600'] });
  t.after(() => c.stop());
  const b = commit(repo, { 'pipe.yaml': pipe('/data/b') }, 'B');
  let sync = await c.ctl(['sync']);
  assert.equal(sync.code, 0, sync.stderr);
  assert.match(sync.stdout, new RegExp(`^commit ${b} applied`));

  execFileSync('git', ['-C', repo, 'reset', '--quiet', '--hard', a]);
  sync = await c.ctl(['sync']);
  assert.equal(sync.code, 0, sync.stderr);
  const rolled = new RegExp(`^commit ${a} applied \\(revision (\\d+)\\)`).exec(sync.stdout);
  assert.ok(rolled !== null, `the older commit is applied again: ${sync.stdout}`);
  const p = (await c.json('/api/v1/resources/pipes/p1', 'GET')).body as { spec: { source: { uri: string } } };
  assert.equal(p.spec.source.uri, '/data/a');
  sync = await c.ctl(['sync']);
  assert.equal(sync.stdout, `commit ${a} already applied (revision ${rolled[1]})\n`);
});

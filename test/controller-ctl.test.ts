/**
 * `fustor ctl` against a REAL controller: the output contract scripts rely on (token create and key create
 * print only the secret; apply prints the revision and one line per resource; get/delete/history/diff),
 * YAML files and directories, and one-line errors with the fix.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { runCtl, startController, type RunningController } from './helpers/controller.ts';

let c: RunningController;
let dir: string;

const GATEWAY_AND_VIEW = `apiVersion: fustor.io/v1
kind: Gateway
metadata: {name: gw1}
spec: {url: "http://gw1.example:8101"}
---
apiVersion: fustor.io/v1
kind: View
metadata: {name: demo, labels: {team: data}}
spec: {driver: fs, gateway: gw1}
`;
const PIPE = `apiVersion: fustor.io/v1
kind: Pipe
metadata: {name: p1}
spec:
  agentSelector: {matchLabels: {site: a}}
  source: {driver: fs, uri: /data/p1, credentialRef: creds}
  view: demo
---
apiVersion: fustor.io/v1
kind: Secret
metadata: {name: creds}
spec:
  data: {password: ctl-plaintext-secret-42}
`;

before(async () => {
  c = await startController();
  dir = mkdtempSync(join(tmpdir(), 'fustor-ctl-'));
  writeFileSync(join(dir, '10-gateway.yaml'), GATEWAY_AND_VIEW);
  writeFileSync(join(dir, '20-pipe.yaml'), PIPE);
  writeFileSync(join(dir, 'notes.txt'), 'not yaml: [');
});
after(async () => {
  await c.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('ctl apply -f DIR — all *.yaml in name order as one revision; prints the revision and per-resource action', async () => {
  const diff = await c.ctl(['diff', '-f', dir]);
  assert.equal(diff.code, 0, diff.stderr);
  assert.match(diff.stdout, /^View\/demo created {2}gateways: gw1$/m);
  assert.match(diff.stdout, /^touches agents: -; gateways: gw1$/m);

  const res = await c.ctl(['apply', '-f', dir]);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stdout, 'revision 1\nGateway/gw1 created\nView/demo created\nPipe/p1 created\nSecret/creds created\n');
  const again = await c.ctl(['apply', '-f', join(dir, '10-gateway.yaml')]);
  assert.equal(again.stdout, 'revision 1 (unchanged)\nGateway/gw1 unchanged\nView/demo unchanged\n');
});

test('ctl get — KIND singular/plural any case, table/json/yaml; Secret values never printed', async () => {
  // Independent reads run side by side (each ctl run is a process start).
  const [t, j, sTable, sJson, y, agents, unknown] = await Promise.all([
    c.ctl(['get', 'Views']), c.ctl(['get', 'pipe', 'p1', '-o', 'json']), c.ctl(['get', 'secrets']), c.ctl(['get', 'secrets', '-o', 'json']),
    c.ctl(['get', 'SECRET', 'creds', '-o', 'yaml']), c.ctl(['get', 'agents']), c.ctl(['get', 'widgets']),
  ]);
  assert.equal(t.code, 0, t.stderr);
  assert.deepEqual(t.stdout.trim().split('\n').map((l) => l.split(/\s+/).slice(0, 2)), [['NAME', 'REVISION'], ['demo', '1']]);
  assert.equal(JSON.parse(j.stdout).spec.view, 'demo');
  for (const s of [sTable, sJson, y]) {
    assert.equal(s.code, 0);
    assert.ok(!s.stdout.includes('ctl-plaintext-secret-42'), 'a secret value was printed');
  }
  assert.match(sTable.stdout, /^creds\s+1\s+keys=password$/m);
  assert.match(y.stdout, /password: "\[redacted\]"/);
  assert.equal(agents.stdout.trim(), 'NAME  STATE  REVISION  PIPES  LAG  LAST-SEEN  REASON');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^fustor: unknown kind 'widgets': use views, pipes/);
});

test('ctl token create / key create — print ONLY the token / key', async () => {
  const t = await c.ctl(['token', 'create', '--kind', 'agent', '--labels', 'site=a,rack=3', '--uses', '5', '--ttl', '1h']);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /^fen_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\n$/);
  const op = await c.ctl(['token', 'operator', 'robot', '--role', 'viewer']);
  assert.match(op.stdout, /^fop_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\n$/);
  const viewerToken = op.stdout.trim();
  const k = await c.ctl(['key', 'create', 'reviewers', '--views', 'demo']);
  assert.equal(k.code, 0, k.stderr);
  assert.match(k.stdout, /^fqk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\n$/);
  // The viewer token reads but cannot apply: a 403 line naming the fix.
  const denied = await c.ctl(['apply', '-f', dir], { token: viewerToken });
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /^fustor: 403: this request needs the operator role; token 'robot' has the viewer role — use a token with that role/);
  const bad = await c.ctl(['token', 'create', '--kind', 'robot']);
  assert.notEqual(bad.code, 0);
});

test('ctl delete / history — referenced delete refused with the referrers; history lists changes', async () => {
  const refused = await c.ctl(['delete', 'view', 'demo']);
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr, 'fustor: 409: View/demo is referenced by Pipe/p1 (spec.view), QueryKey/reviewers (spec.views): delete or change those first\n');
  const ok = await c.ctl(['delete', 'pipes', 'p1']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^Pipe\/p1 deleted \(revision \d+\)\n$/);
  const h = await c.ctl(['history', '--limit', '3']);
  assert.match(h.stdout.split('\n')[0], /^ID\s+REVISION\s+TIME\s+ACTOR\s+ACTION\s+RESOURCE$/);
  assert.match(h.stdout, /admin\s+deleted\s+Pipe\/p1/);
});

test('ctl errors — one line naming cause and fix, non-zero exit', async () => {
  const closed = await closedPort();
  writeFileSync(join(dir, 'bad.yaml'), `${GATEWAY_AND_VIEW}---\napiVersion: fustor.io/v1\nkind: Pipe\nmetadata: {name: p9}\nspec: {agent: h1, source: {driver: fs, uri: /x}, view: ghost}\n`);
  const [none, wrong, env, down, missing, invalid] = await Promise.all([
    runCtl(['--server', c.url, 'get', 'views']),
    runCtl(['get', 'views'], { FUSTOR_SERVER: c.url, FUSTOR_TOKEN: 'fop_nope' }),
    runCtl(['get', 'views'], { FUSTOR_SERVER: c.url, FUSTOR_TOKEN: c.adminToken }),
    runCtl(['--server', `http://127.0.0.1:${closed}`, '--token', 'x', 'get', 'views']),
    c.ctl(['apply', '-f', join(dir, 'nope.yaml')]),
    c.ctl(['apply', '-f', join(dir, 'bad.yaml')]),
  ]);
  assert.equal(none.code, 1);
  assert.equal(none.stderr, 'fustor: 401: no token sent — pass --token or set FUSTOR_TOKEN\n');
  assert.equal(wrong.stderr, 'fustor: 401: token rejected — pass --token or set FUSTOR_TOKEN\n');
  assert.equal(env.code, 0, env.stderr);
  assert.equal(down.code, 1);
  assert.equal(down.stderr, `fustor: cannot reach the controller at http://127.0.0.1:${closed} (ECONNREFUSED): is it running? pass --server or set FUSTOR_SERVER\n`);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^fustor: cannot read .*nope\.yaml \(ENOENT\)/);
  assert.equal(invalid.code, 1);
  const lines = invalid.stderr.trim().split('\n');
  assert.equal(lines[0], 'fustor: 422: 1 invalid field(s), nothing applied — fix them and run again:');
  assert.match(lines[1], /^ {2}.*bad\.yaml \(document 3\) spec\.view: View "ghost" does not exist/);
});

/** A port nothing listens on (bound once, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

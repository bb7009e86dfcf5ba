/**
 * TLS on the listeners of the controller and the gateway (`--tls-cert FILE --tls-key FILE`, or `tls:` in a
 * gateway's config), with real processes and real HTTPS: a throwaway CA and a server certificate for
 * 127.0.0.1/localhost are made with openssl. Clients trust the CA through FUSTOR_CA_FILE (bin/fustor turns
 * it into NODE_EXTRA_CA_CERTS); without it they fail with one line naming the fix. Bad flag combinations
 * and bad files are one line and a non-zero exit. The managed case runs the channel over wss:// and the
 * agent's pushes over https://.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { agentConfig, startAgent, startManagedAgent } from './helpers/agent.ts';
import { gatewayDoc, pipeDoc, runControllerExpectingFailure, startController, viewDoc } from './helpers/controller.ts';
import { demoConfig, DEMO_KEYS, eventually, FUSTOR_BIN, ROOT, runFusionExpectingFailure, runGatewayExpectingFailure, startGateway, startManagedGateway } from './helpers/gateway.ts';
import { issueServerCert, makeCa } from './helpers/tls.ts';

// Reports every second and a short reconnect backoff, so the managed case does not wait for 15 s heartbeats.
process.env.FUSTOR_CONTROLLER_HEARTBEAT_SEC = '1';
const MEMBER_ENV = { FUSTOR_MEMBER_RECONNECT_MAX_MS: '1000' };

const work = mkdtempSync(join(tmpdir(), 'fustor-tls-'));
const certs = join(work, 'certs');
const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

const CA = join(certs, 'ca.pem');
const CERT = join(certs, 'server.pem');
const KEY = join(certs, 'server.key');
/** A key of another certificate: does not match CERT. */
const OTHER_KEY = join(certs, 'other.key');
const TLS_ARGS = ['--tls-cert', CERT, '--tls-key', KEY];
const TRUST = { FUSTOR_CA_FILE: CA };

before(() => {
  makeCa(certs);
  issueServerCert(certs, 'server', 1);
  issueServerCert(certs, 'other', 2);
});

interface Run { code: number | null; stdout: string; stderr: string }

/** `bin/fustor …args` (a client command) with FUSTOR_* of this process removed, plus `env`. */
function fustor(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FUSTOR_') && k !== 'NODE_EXTRA_CA_CERTS'));
  return new Promise((resolve) => {
    execFile(FUSTOR_BIN, args, { cwd: ROOT, env: { ...base, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

/** GET over HTTPS trusting only the test CA (this process's fetch cannot be given a CA). */
function httpsStatus(url: string, ca: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

/** Exactly one line on stderr, and no stack trace. */
function assertOneLine(r: Run, pattern: RegExp): void {
  assert.notEqual(r.code, 0, `expected a failure\nstdout:\n${r.stdout}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected:\n${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m);
}

test('controller with TLS: https listening line; ctl works with FUSTOR_CA_FILE, fails in one line without it; plain http is refused', async () => {
  const c = await startController({ args: TLS_ARGS });
  cleanup.push(() => c.stop());
  assert.match(c.url, /^https:\/\/127\.0\.0\.1:\d+$/);

  const ok = await c.ctl(['get', 'views'], { env: TRUST });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^NAME\s+REVISION/);
  assert.equal(await httpsStatus(`${c.url}/healthz`, readFileSync(CA)), 200);

  const untrusted = await c.ctl(['get', 'views']);
  assertOneLine(untrusted, /certificate not trusted.*set FUSTOR_CA_FILE/);

  const plain = c.url.replace(/^https:/, 'http:');
  await assert.rejects(fetch(`${plain}/healthz`));
  const viaHttp = await c.ctl(['--server', plain, 'get', 'views'], { env: TRUST });
  assertOneLine(viaHttp, /use an https:\/\/ URL/);
});

test('standalone gateway with tls: in its config: every listener is https; fustor find answers with FUSTOR_CA_FILE', async () => {
  const root = join(work, 'standalone');
  mkdirSync(join(root, 'in'), { recursive: true });
  writeFileSync(join(root, 'in', 'a.dat'), 'a');
  // Relative to the config directory (a sibling temp dir), not to the gateway's cwd.
  const rel = (f: string) => join('..', basename(work), 'certs', basename(f));
  const config = demoConfig({ top: { tls: { cert_file: rel(CERT), key_file: rel(KEY) } } });
  (config.receivers as Record<string, unknown>).side = { driver: 'http', port: 0, api_keys: [] };
  const gw = await startGateway(config);
  cleanup.push(() => gw.stop());
  assert.match(gw.url, /^https:\/\//);
  // Printed right after the main listening line, which may arrive alone.
  await eventually(async () => /^fusion ingest listening on https:\/\/127\.0\.0\.1:\d+ \(receivers: side\)$/m.test(gw.stdout()), 10000, 'the receiver listener line');

  // A real agent pushes over https (trusting the CA), then the query CLI reads the view over https.
  const agent = await startAgent(agentConfig({ gateway: gw.url, root }), { env: TRUST });
  cleanup.push(() => agent.stop());
  const find = (env: Record<string, string>) => fustor(['find', '--server', gw.url, '--key', DEMO_KEYS.query, '--view', 'demo', '-name', '*.dat'], env);
  await eventually(async () => (await find(TRUST)).stdout.split('\n').includes('/in/a.dat'), 60000, 'the file in the view over https');

  assertOneLine(await find({}), /^fustor: cannot reach the gateway at https:\S+: certificate not trusted.*FUSTOR_CA_FILE/);
  assertOneLine(await fustor(['find', '--server', gw.url, '--key', DEMO_KEYS.query, '--view', 'demo'], { FUSTOR_CA_FILE: join(certs, 'missing.pem') }), /FUSTOR_CA_FILE=.*missing\.pem is not a readable file/);
});

test('TLS flags and files: one without the other, unreadable or mismatched files → one line, non-zero exit', async () => {
  const data = join(work, 'never-created');
  assertOneLine(await runControllerExpectingFailure(['--data-dir', data, '--port', '0', '--tls-cert', CERT]), /--tls-cert needs --tls-key/);
  assertOneLine(await runControllerExpectingFailure(['--data-dir', data, '--port', '0', '--tls-key', KEY]), /--tls-key needs --tls-cert/);
  assertOneLine(await runControllerExpectingFailure(['--data-dir', data, '--port', '0', '--tls-cert', join(certs, 'nope.pem'), '--tls-key', KEY]), /--tls-cert \S*nope\.pem: cannot read the certificate \(ENOENT\)/);
  assertOneLine(await runControllerExpectingFailure(['--data-dir', data, '--port', '0', '--tls-cert', CERT, '--tls-key', OTHER_KEY]), /--tls-key \S*other\.key does not match the certificate/);
  assertOneLine(await runControllerExpectingFailure(['--data-dir', data, '--port', '0', '--tls-cert', KEY, '--tls-key', KEY]), /--tls-cert \S*server\.key: not a PEM certificate/);
  assert.equal(existsSync(data), false, 'a refused start creates no data dir');

  assertOneLine(await runFusionExpectingFailure(['--controller', 'http://127.0.0.1:1', '--state-dir', join(work, 'gw-never'), '--tls-key', KEY]), /--tls-key needs --tls-cert/);
  assertOneLine(await runFusionExpectingFailure(['--controller', 'http://127.0.0.1:1', '--state-dir', join(work, 'gw-never'), '--tls-cert', CERT, '--tls-key', join(certs, 'ca.pem')]), /--tls-key \S*ca\.pem: not a PEM private key/);
  const cfg = await runGatewayExpectingFailure(demoConfig(), { args: ['--port', '0', '--tls-cert', CERT, '--tls-key', OTHER_KEY] });
  rmSync(cfg.dir, { recursive: true, force: true });
  assertOneLine(cfg, /--tls-key \S*other\.key does not match the certificate/);
  const half = await runGatewayExpectingFailure(demoConfig({ top: { tls: { cert_file: CERT } } }));
  rmSync(half.dir, { recursive: true, force: true });
  assertOneLine(half, /config error in \S+: tls\.key_file: required field is missing/);
  const missing = await runGatewayExpectingFailure(demoConfig({ top: { tls: { cert_file: CERT, key_file: 'nope.key' } } }));
  assertOneLine(missing, new RegExp(`tls\\.key_file ${missing.dir}/nope\\.key: cannot read the private key \\(ENOENT\\)`));
  rmSync(missing.dir, { recursive: true, force: true });
});

test('managed over TLS: gateway and agent join a TLS controller (wss), the agent pushes to the TLS gateway (https)', async () => {
  const root = join(work, 'managed');
  mkdirSync(join(root, 'in'), { recursive: true });
  writeFileSync(join(root, 'in', 'm.dat'), 'm');
  const c = await startController({ args: TLS_ARGS });
  cleanup.push(() => c.stop());
  const ctl = async (args: string[]) => {
    const r = await c.ctl(args, { env: TRUST });
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };

  const gwToken = await ctl(['token', 'create', '--kind', 'gateway']);
  const gw = await startManagedGateway({ controller: c.url, stateDir: join(work, 'gw'), token: gwToken, name: 'gw1', args: TLS_ARGS, env: { ...MEMBER_ENV, ...TRUST } });
  cleanup.push(() => gw.stop());
  assert.match(gw.url, /^https:\/\//);
  const agentToken = await ctl(['token', 'create', '--kind', 'agent', '--labels', 'site=lab']);
  const agent = await startManagedAgent({ controller: c.url, token: agentToken, name: 'host-a', env: { ...MEMBER_ENV, ...TRUST } });
  cleanup.push(() => agent.stop());

  const docs = join(work, 'managed.yaml');
  writeFileSync(docs, [
    gatewayDoc('gw1', gw.url), viewDoc('labview', 'gw1'),
    pipeDoc('lab', 'labview', { agentSelector: { matchLabels: { site: 'lab' } }, source: { driver: 'fs', uri: root } }),
  ].map((d) => JSON.stringify(d)).join('\n---\n'));
  await ctl(['apply', '-f', docs]);
  const key = await ctl(['key', 'create', 'reviewers', '--views', 'labview']);

  const find = async () => (await fustor(['find', '--server', gw.url, '--key', key, '--view', 'labview', '-name', '*.dat'], TRUST)).stdout.split('\n');
  await eventually(async () => (await find()).includes('/in/m.dat'), 60000, 'the file in the managed view');
  // The channel state is the agent's, not the data path's: polled (a loaded host can drop and reopen it).
  await eventually(async () => (await agent.status()).managed?.connected === true, 30000, 'the agent connected to the TLS controller');
  // The gateway's advertised URL defaults to its listening URL, https included.
  await eventually(async () => {
    const member = JSON.stringify(JSON.parse(await ctl(['get', 'gateway-members', 'gw1', '-o', 'json'])));
    return member.includes(`"advertise_url":"${gw.url}"`);
  }, 30000, 'the advertised https URL');
});

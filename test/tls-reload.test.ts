/**
 * Certificate renewal without a restart: the controller and the gateway poll their certificate and key files
 * (FUSTOR_TLS_RELOAD_SEC) and serve a renewed pair to new connections; a renewal caught half-written, or a
 * broken file, is a warning and the running certificate stays. Real processes, real TLS handshakes.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runControllerExpectingFailure, startController } from './helpers/controller.ts';
import { demoConfig, eventually, startGateway } from './helpers/gateway.ts';
import { fingerprintOf, issueServerCert, makeCa, servedFingerprint } from './helpers/tls.ts';

const work = mkdtempSync(join(tmpdir(), 'fustor-tls-reload-'));
after(() => rmSync(work, { recursive: true, force: true }));
const certs = join(work, 'certs');
const CA = makeCa(certs);
const first = issueServerCert(certs, 'first', 1);
const renewed = issueServerCert(certs, 'renewed', 2);
const RELOAD = { FUSTOR_TLS_RELOAD_SEC: '0.2' };

/** The files the listener is pointed at, starting as copies of `first`. */
function liveFiles(name: string): { cert: string; key: string } {
  const live = { cert: join(certs, `${name}.pem`), key: join(certs, `${name}.key`) };
  copyFileSync(first.cert, live.cert);
  copyFileSync(first.key, live.key);
  return live;
}

type Logs = () => Record<string, unknown>[];
/** The first record from index `from` on whose message includes `text`. */
const loggedSince = (logs: Logs, from: number, text: string) => logs().slice(from).find((r) => typeof r.msg === 'string' && r.msg.includes(text)) ?? null;

/** Renew `live` in place the way a careless script does (certificate first, then key), then break it. */
async function renewAndBreak(url: string, live: { cert: string; key: string }, logs: Logs): Promise<void> {
  assert.equal(await servedFingerprint(url), fingerprintOf(first.cert));
  let from = logs().length;
  copyFileSync(renewed.cert, live.cert);
  // The certificate alone does not match the old key: not taken, the first certificate stays. (A poll may also
  // catch the copy half-written: another warning, same outcome.)
  await eventually(async () => loggedSince(logs, from, 'does not match the certificate'), 20000, 'the half-written renewal is reported');
  assert.equal(await servedFingerprint(url), fingerprintOf(first.cert));
  copyFileSync(renewed.key, live.key);
  await eventually(async () => (await servedFingerprint(url)) === fingerprintOf(renewed.cert), 20000, 'new connections get the renewed certificate');
  const rec = await eventually(async () => loggedSince(logs, from, 'TLS certificate reloaded: new connections use it'), 20000, 'the reload is logged');
  assert.match(String(rec.subject), /O=renewed/);

  // A broken file: a warning, the renewed certificate stays in service.
  from = logs().length;
  writeFileSync(live.cert, 'not a certificate');
  const warn = await eventually(async () => loggedSince(logs, from, 'TLS files changed but not reloaded'), 20000, 'the broken file is reported');
  assert.match(String(warn.msg), /the running certificate stays: .* not a PEM certificate/);
  assert.equal(await servedFingerprint(url), fingerprintOf(renewed.cert));
}

test('controller: a renewed certificate is served without a restart; a half-written or broken one keeps the running certificate', async () => {
  const live = liveFiles('controller');
  const c = await startController({ args: ['--tls-cert', live.cert, '--tls-key', live.key], env: RELOAD });
  try {
    await renewAndBreak(c.url, live, () => c.logs());
    const health = await c.ctl(['get', 'agents'], { env: { FUSTOR_CA_FILE: CA } });
    assert.equal(health.code, 0, `the controller still answers over https: ${health.stderr}`);
  } finally {
    await c.stop();
  }
});

test('gateway: every listener (main and receiver) takes the renewed certificate', async () => {
  const live = liveFiles('gateway');
  const config = demoConfig({ top: { tls: { cert_file: live.cert, key_file: live.key } } });
  (config.receivers as Record<string, unknown>).side = { driver: 'http', port: 0, api_keys: [] };
  const gw = await startGateway(config, { env: RELOAD });
  try {
    const side = await eventually(async () => /^fusion ingest listening on (https:\/\/\S+) \(receivers: side\)$/m.exec(gw.stdout())?.[1] ?? null, 20000, 'the receiver listener');
    await renewAndBreak(gw.url, live, gw.logs);
    assert.equal(await servedFingerprint(side), fingerprintOf(renewed.cert), 'the receiver listener too');
  } finally {
    await gw.stop();
  }
});

test('a bad FUSTOR_TLS_RELOAD_SEC stops the start with one line naming it', async () => {
  const live = liveFiles('bad-env');
  const r = await runControllerExpectingFailure(['--data-dir', join(work, 'never-created'), '--port', '0', '--tls-cert', live.cert, '--tls-key', live.key], { FUSTOR_TLS_RELOAD_SEC: 'hourly' });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /FUSTOR_TLS_RELOAD_SEC must be a number of seconds \(0 = never reload\), not "hourly"/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});

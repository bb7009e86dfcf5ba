/**
 * Member identity against a REAL controller process: enrollment with enrollment tokens (one use, expiry,
 * kind), credentials verifiable with /api/v1/jwks, renewal by proof of possession, revocation.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type CryptoKey, type JWK } from 'jose';
import { startController, type RunningController } from './helpers/controller.ts';

type Json = Record<string, unknown>;
let c: RunningController;

before(async () => { c = await startController(); });
after(async () => { await c.stop(); });

export async function memberKey(): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey, jwk: await exportJWK(publicKey) };
}

const enrollmentToken = async (kind: string, extra: Json = {}) => {
  const res = await c.json('/api/v1/tokens/enrollment', 'POST', { body: { kind, ...extra } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.token as string;
};

const proof = (key: CryptoKey, sub: string, opts: { jti?: string; lifetime?: number } = {}) => new SignJWT({})
  .setProtectedHeader({ alg: 'ES256' }).setSubject(sub).setAudience('fustor-renew').setIssuedAt()
  .setExpirationTime(Math.floor(Date.now() / 1000) + (opts.lifetime ?? 60)).setJti(opts.jti ?? crypto.randomUUID()).sign(key);

test('enroll: credential verifies against /api/v1/jwks with sub, kind, cnf.jkt; signing key is 0600', async () => {
  const token = await enrollmentToken('agent', { labels: { site: 'a' } });
  const k = await memberKey();
  const res = await c.json('/api/v1/enroll', 'POST', { token: null, body: { token, kind: 'agent', name: 'host-1', public_key: k.jwk } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal(res.body.name, 'host-1');
  assert.deepEqual(res.body.labels, { site: 'a' });
  const jwks = await c.json('/api/v1/jwks', 'GET', { token: null });
  assert.equal(jwks.status, 200);
  const { payload } = await jwtVerify(res.body.credential as string, createLocalJWKSet(jwks.body as { keys: JWK[] }));
  assert.equal(payload.sub, res.body.member_id);
  assert.equal(payload.kind, 'agent');
  assert.equal(typeof (payload.cnf as Json).jkt, 'string');
  assert.ok((payload.exp as number) - (payload.iat as number) <= 24 * 3600);
  assert.equal(statSync(join(c.dataDir, 'signing-key.json')).mode & 0o777, 0o600);
  const agents = await c.json('/api/v1/agents', 'GET');
  assert.ok((agents.body.items as Json[]).some((a) => a.name === 'host-1'));
});

test('enroll: reused token, expired token, wrong kind, bad key, taken name → refused with clear messages', async () => {
  const token = await enrollmentToken('agent');
  const ok = await c.json('/api/v1/enroll', 'POST', { token: null, body: { token, kind: 'agent', public_key: (await memberKey()).jwk } });
  assert.equal(ok.status, 201);
  assert.match(ok.body.name as string, /^agent-/);
  const again = await c.json('/api/v1/enroll', 'POST', { token: null, body: { token, kind: 'agent', public_key: (await memberKey()).jwk } });
  assert.equal(again.status, 401);
  assert.match(again.body.message as string, /no uses left/);

  const gwTok = await enrollmentToken('gateway');
  const wrong = await c.json('/api/v1/enroll', 'POST', { token: null, body: { token: gwTok, kind: 'agent', public_key: (await memberKey()).jwk } });
  assert.equal(wrong.status, 403);
  assert.match(wrong.body.message as string, /enrolls gateways, not agents/);

  const expTok = await enrollmentToken('agent');
  const db = new Database(join(c.dataDir, 'controller.db'));
  db.pragma('busy_timeout = 5000');
  db.prepare('UPDATE enrollment_tokens SET expires_at = ? WHERE id = ?').run(new Date(Date.now() - 1000).toISOString(), expTok.split('_')[1]);
  db.close();
  const expired = await c.json('/api/v1/enroll', 'POST', { token: null, body: { token: expTok, kind: 'agent', public_key: (await memberKey()).jwk } });
  assert.equal(expired.status, 401);
  assert.match(expired.body.message as string, /expired/);

  const bogus = await c.json('/api/v1/enroll', 'POST', { token: null, body: { token: 'fen_0123456789abcdef_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', kind: 'agent', public_key: (await memberKey()).jwk } });
  assert.equal(bogus.status, 401);

  const badKey = await c.json('/api/v1/enroll', 'POST', { token: null, body: { token: await enrollmentToken('agent'), kind: 'agent', public_key: { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: 'A'.repeat(43) } } });
  assert.equal(badKey.status, 422, JSON.stringify(badKey.body));

  const two = await enrollmentToken('agent', { uses: 2 });
  assert.equal((await c.json('/api/v1/enroll', 'POST', { token: null, body: { token: two, kind: 'agent', name: 'dup', public_key: (await memberKey()).jwk } })).status, 201);
  const dup = await c.json('/api/v1/enroll', 'POST', { token: null, body: { token: two, kind: 'agent', name: 'dup', public_key: (await memberKey()).jwk } });
  assert.equal(dup.status, 409);
  // the refused enrollment did not consume the second use
  assert.equal((await c.json('/api/v1/enroll', 'POST', { token: null, body: { token: two, kind: 'agent', name: 'dup2', public_key: (await memberKey()).jwk } })).status, 201);
});

test('renew: with proof of possession works; without, with another key, or replayed → refused; revoke → refused', async () => {
  const token = await enrollmentToken('agent');
  const k = await memberKey();
  const e = await c.json('/api/v1/enroll', 'POST', { token: null, body: { token, kind: 'agent', name: 'renewer', public_key: k.jwk } });
  const sub = e.body.member_id as string;
  const credential = e.body.credential as string;
  const p = await proof(k.privateKey, sub);
  const r = await c.json('/api/v1/credentials/renew', 'POST', { token: null, body: { credential, proof: p } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.notEqual(r.body.credential, credential);
  const replay = await c.json('/api/v1/credentials/renew', 'POST', { token: null, body: { credential, proof: p } });
  assert.equal(replay.status, 401);
  assert.match(replay.body.message as string, /already used/);

  const noProof = await c.json('/api/v1/credentials/renew', 'POST', { token: null, body: { credential } });
  assert.equal(noProof.status, 422);
  const other = await memberKey();
  const wrongKey = await c.json('/api/v1/credentials/renew', 'POST', { token: null, body: { credential, proof: await proof(other.privateKey, sub) } });
  assert.equal(wrongKey.status, 401);
  assert.match(wrongKey.body.message as string, /proof of possession/);
  const tooLong = await c.json('/api/v1/credentials/renew', 'POST', { token: null, body: { credential, proof: await proof(k.privateKey, sub, { lifetime: 3600 }) } });
  assert.equal(tooLong.status, 401);

  const viewer = (await c.json('/api/v1/tokens/operator', 'POST', { body: { name: 'v1', role: 'viewer' } })).body.token as string;
  assert.equal((await c.json('/api/v1/members/agent/renewer/revoke', 'POST', { token: viewer })).status, 403);
  const rev = await c.json('/api/v1/members/agent/renewer/revoke', 'POST');
  assert.equal(rev.status, 200, JSON.stringify(rev.body));
  assert.equal(rev.body.state, 'revoked');
  const audit = (await c.json('/api/v1/history?limit=5', 'GET')).body.items as { action: string; kind: string; name: string; actor: string }[];
  assert.ok(audit.some((e) => e.action === 'member.revoked' && e.kind === 'Agent' && e.name === 'renewer' && e.actor === 'admin'), 'who revoked whom is in the audit log');
  const after = await c.json('/api/v1/credentials/renew', 'POST', { token: null, body: { credential: r.body.credential, proof: await proof(k.privateKey, sub) } });
  assert.equal(after.status, 403);
  assert.match(after.body.message as string, /revoked/);
  assert.equal((await c.json('/api/v1/members/agent/nobody/revoke', 'POST')).status, 404);
});

test('fustor ctl revoke agent NAME — prints the revocation, renewals are then refused; bad kind and unknown name fail with one line', async () => {
  const token = await enrollmentToken('agent');
  const k = await memberKey();
  const e = await c.json('/api/v1/enroll', 'POST', { token: null, body: { token, kind: 'agent', name: 'ctl-revoked', public_key: k.jwk } });
  assert.equal(e.status, 201);
  const ok = await c.ctl(['revoke', 'agent', 'ctl-revoked']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'agent/ctl-revoked revoked\n');
  const renew = await c.json('/api/v1/credentials/renew', 'POST', { token: null, body: { credential: e.body.credential, proof: await proof(k.privateKey, e.body.member_id as string) } });
  assert.equal(renew.status, 403);
  const badKind = await c.ctl(['revoke', 'view', 'x']);
  assert.notEqual(badKind.code, 0);
  assert.match(badKind.stderr, /use agent or gateway/);
  const unknown = await c.ctl(['revoke', 'agent', 'nobody-here']);
  assert.notEqual(unknown.code, 0);
  assert.equal(unknown.stderr.trim().split('\n').length, 1, unknown.stderr);
});

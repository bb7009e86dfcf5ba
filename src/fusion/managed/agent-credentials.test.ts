import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { FustorError } from '../../kernel/errors.ts';
import { silentLogger } from '../../kernel/logger.ts';
import { CREDENTIAL_AUDIENCE, CREDENTIAL_ISSUER } from '../../protocol/index.ts';
import { AgentCredentials } from './agent-credentials.ts';

async function signingKey(): Promise<{ privateKey: CryptoKey; jwk: JWK; kid: string }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { privateKey, jwk: { ...jwk, kid, alg: 'ES256', use: 'sig' }, kid };
}

function credential(key: { privateKey: CryptoKey; kid: string }, claims: { sub?: string; kind?: string; aud?: string; exp?: number; kid?: string | null } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const header = claims.kid === null ? { alg: 'ES256' } : { alg: 'ES256', kid: claims.kid ?? key.kid };
  return new SignJWT({ kind: claims.kind ?? 'agent' }).setProtectedHeader(header).setIssuer(CREDENTIAL_ISSUER)
    .setAudience(claims.aud ?? CREDENTIAL_AUDIENCE).setSubject(claims.sub ?? 'member-1').setIssuedAt(now).setExpirationTime(claims.exp ?? now + 3600).sign(key.privateKey);
}

async function rejection(p: Promise<unknown>): Promise<FustorError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof FustorError, String(e));
    return e;
  }
  assert.fail('the credential was accepted');
}

test('agent credentials — verified against the controller key set, which is cached (0600) for restarts without the controller', async () => {
  const controller = await signingKey();
  let fetches = 0;
  const server = createServer((_req, res) => {
    fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [controller.jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/jwks`;
  const dir = mkdtempSync(join(tmpdir(), 'fustor-creds-'));
  const cacheFile = join(dir, 'jwks.json');
  const creds = new AgentCredentials({ cacheFile, log: silentLogger(), refetchIntervalMs: 3_600_000 });
  try {
    const good = await credential(controller);
    assert.match((await rejection(creds.verify(good))).message, /no manifest from its controller yet/);

    creds.setTrust({ issuer: CREDENTIAL_ISSUER, jwksUrl });
    assert.deepEqual(await creds.verify(good), { memberId: 'member-1' });
    assert.deepEqual(await creds.verify(good), { memberId: 'member-1' }, 'cached verification');
    assert.equal(statSync(cacheFile).mode & 0o777, 0o600);
    assert.equal(fetches, 1);

    const other = await signingKey();
    const forged = await rejection(creds.verify(await credential(other, { kid: controller.kid })));
    assert.equal(forged.code, 'AUTH_INVALID');
    assert.match(forged.message, /signature does not verify/);
    // An unknown key id asks the controller again (it may have rotated its key), once per interval.
    assert.match((await rejection(creds.verify(await credential(other)))).message, /key the controller did not publish/);
    assert.equal(fetches, 2);
    await rejection(creds.verify(await credential(other, { sub: 'member-2' })));
    assert.equal(fetches, 2, 'forged tokens do not make the gateway hammer the controller');

    assert.match((await rejection(creds.verify(await credential(controller, { kind: 'gateway' })))).message, /identifies a gateway, not an agent/);
    assert.match((await rejection(creds.verify(await credential(controller, { aud: 'fustor-renew' })))).message, /claim 'aud'/);
    assert.match((await rejection(creds.verify(await credential(controller, { exp: Math.floor(Date.now() / 1000) - 3600 })))).message, /expired/);
    assert.match((await rejection(creds.verify('not.a.jwt'))).message, /not a JWT/);
  } finally {
    creds.dispose();
    await new Promise<void>((r) => server.close(() => r()));
  }

  // The controller is gone: a new process verifies with the cached key set.
  const restarted = new AgentCredentials({ cacheFile, log: silentLogger() });
  try {
    restarted.setTrust({ issuer: CREDENTIAL_ISSUER, jwksUrl });
    assert.deepEqual(await restarted.verify(await credential(controller, { sub: 'member-3' })), { memberId: 'member-3' });
  } finally {
    restarted.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

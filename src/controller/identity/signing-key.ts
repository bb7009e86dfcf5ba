/**
 * The controller's credential-signing key pair (ES256): `DIR/signing-key.json` (0600, private JWK), created
 * on first start. Its public half is served at `GET /api/v1/jwks` (kid = RFC 7638 thumbprint), so gateways
 * verify member credentials offline.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';

export interface SigningKey { kid: string; privateKey: CryptoKey; publicJwk: JWK }

export async function loadOrCreateSigningKey(file: string): Promise<SigningKey> {
  let jwk: JWK | undefined;
  try {
    jwk = JSON.parse(readFileSync(file, 'utf8')) as JWK;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the signing key ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (jwk === undefined) {
    const pair = await generateKeyPair('ES256', { extractable: true });
    jwk = await exportJWK(pair.privateKey);
    writeFileSync(file, `${JSON.stringify(jwk)}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
  }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') throw new Error(`${file} is not an EC P-256 private key: restore it from a backup of the data dir`);
  const publicJwk: JWK = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateKey = await importJWK(jwk, 'ES256') as CryptoKey;
  return { kid, privateKey, publicJwk: { ...publicJwk, kid, alg: 'ES256', use: 'sig' } };
}

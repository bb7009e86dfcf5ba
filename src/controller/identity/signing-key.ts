/**
 * The controller's credential-signing key pair (ES256). Its public half is served at `GET /api/v1/jwks`
 * (kid = RFC 7638 thumbprint), so gateways verify member credentials offline.
 *
 * Where it lives: with SQLite, `DIR/signing-key.json` (0600, private JWK), created on first start. With
 * PostgreSQL replicas every replica must sign with the SAME key (a gateway trusts one JWKS, whichever
 * replica it asks), so the key lives in the database (`meta.signing_key`), sealed with the secret box
 * (AES-256-GCM under the secret key, which never enters the database; AAD names the key). The first replica
 * to start creates it; the insert-if-absent makes replicas starting together agree on one key.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { SecretKeyError } from '../crypto/secret-box.ts';
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
  return fromJwk(jwk, `${file} is not an EC P-256 private key: restore it from a backup of the data dir`);
}

export const SIGNING_KEY_META = 'signing_key';
/** AAD of the sealed key: a sealed Secret copied into this row does not open as a signing key. */
export const SIGNING_KEY_AAD = 'controller/signing-key';

export interface SealingBox { seal(plaintext: string, aad: string): string; open(sealed: string, aad: string): string }
export interface MetaStore { getMeta(key: string): Promise<string | undefined>; claimMeta(key: string, value: string): Promise<string> }

/** The replicas' shared key, from the database (see the header); created by the first replica. */
export async function loadOrCreateSharedSigningKey(meta: MetaStore, box: SealingBox): Promise<SigningKey> {
  let sealed = await meta.getMeta(SIGNING_KEY_META);
  if (sealed === undefined) {
    const pair = await generateKeyPair('ES256', { extractable: true });
    sealed = await meta.claimMeta(SIGNING_KEY_META, box.seal(JSON.stringify(await exportJWK(pair.privateKey)), SIGNING_KEY_AAD));
  }
  let jwk: JWK;
  try {
    jwk = JSON.parse(box.open(sealed, SIGNING_KEY_AAD)) as JWK;
  } catch {
    throw new SecretKeyError('the credential-signing key stored in the database does not open with this secret key: start every replica with the same secret key file');
  }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') throw new SecretKeyError('the credential-signing key stored in the database is not an EC P-256 private key: restore the database from a backup');
  return fromJwk(jwk, '');
}

async function fromJwk(jwk: JWK, invalid: string): Promise<SigningKey> {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') throw new Error(invalid);
  const publicJwk: JWK = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateKey = await importJWK(jwk, 'ES256') as CryptoKey;
  return { kid, privateKey, publicJwk: { ...publicJwk, kid, alg: 'ES256', use: 'sig' } };
}

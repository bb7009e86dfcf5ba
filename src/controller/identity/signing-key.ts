/**
 * The controller's credential-signing keys (ES256). Their public halves are served at `GET /api/v1/jwks`
 * (kid = RFC 7638 thumbprint), so gateways verify member credentials offline. Usually one key; two or more
 * while a rotation is under way (signing-keyring.ts).
 *
 * Where it lives: with SQLite, `DIR/signing-key.json` (0600, private JWK), created on first start. With
 * PostgreSQL replicas every replica must sign with the SAME key (a gateway trusts one JWKS, whichever
 * replica it asks), so the key lives in the database (`meta.signing_key`), sealed with the secret box
 * (AES-256-GCM under the secret key, which never enters the database; AAD names the key). The first replica
 * to start creates it; the insert-if-absent makes replicas starting together agree on one key. A rotation
 * rewrites the file (atomically) or the row.
 */
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { SecretKeyError } from '../crypto/secret-box.ts';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';

export interface SigningKey { kid: string; privateKey: CryptoKey; publicJwk: JWK }

/** One key of the ring as stored (times in ms; see signing-keyring.ts). */
export interface StoredEntry { jwk: JWK; created_at: number; active_from: number; retired_at: number | null }

export interface KeyringStorage {
  /** The stored entries, oldest first (a key stored in the single-key format of earlier versions is one entry). */
  load(): Promise<StoredEntry[]>;
  save(entries: StoredEntry[]): Promise<void>;
}

/** The ring as stored: `{keys: [...]}`; a bare private JWK (the single-key format of earlier versions) is one key. */
function parseRing(text: string, invalid: () => Error): StoredEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw invalid();
  }
  if (typeof v !== 'object' || v === null) throw invalid();
  if (Array.isArray((v as { keys?: unknown }).keys)) {
    const keys = (v as { keys: StoredEntry[] }).keys;
    if (keys.length === 0 || !keys.every((k) => typeof k === 'object' && k !== null && isPrivateEcJwk(k.jwk) && Number.isFinite(k.created_at) && Number.isFinite(k.active_from))) throw invalid();
    return keys.map((k) => ({ jwk: k.jwk, created_at: k.created_at, active_from: k.active_from, retired_at: typeof k.retired_at === 'number' ? k.retired_at : null }));
  }
  if (!isPrivateEcJwk(v as JWK)) throw invalid();
  return [{ jwk: v as JWK, created_at: 0, active_from: 0, retired_at: null }];
}

const isPrivateEcJwk = (j: JWK | undefined): boolean => j !== undefined && j.kty === 'EC' && j.crv === 'P-256' && typeof j.d === 'string' && typeof j.x === 'string' && typeof j.y === 'string';

const ringText = (entries: StoredEntry[]) => `${JSON.stringify({ keys: entries })}\n`;

async function firstKey(): Promise<StoredEntry[]> {
  const pair = await generateKeyPair('ES256', { extractable: true });
  return [{ jwk: await exportJWK(pair.privateKey), created_at: Date.now(), active_from: 0, retired_at: null }];
}

/** SQLite: `DIR/signing-key.json` (0600), created on first start, replaced atomically on rotation. */
export class FileKeyringStorage implements KeyringStorage {
  constructor(private readonly file: string) {}

  async load(): Promise<StoredEntry[]> {
    let text: string | undefined;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the signing key ${this.file}: ${(e as Error).message}`, { cause: e });
    }
    if (text === undefined) {
      const entries = await firstKey();
      writeFileSync(this.file, ringText(entries), { mode: 0o600, flag: 'wx' });
      chmodSync(this.file, 0o600);
      return entries;
    }
    return parseRing(text, () => new Error(`${this.file} is not an EC P-256 private key (or a ring of them): restore it from a backup of the data dir`));
  }

  async save(entries: StoredEntry[]): Promise<void> {
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, ringText(entries), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.file);
  }
}

export const SIGNING_KEY_META = 'signing_key';
/** AAD of the sealed key: a sealed Secret copied into this row does not open as a signing key. */
export const SIGNING_KEY_AAD = 'controller/signing-key';

export interface SealingBox { seal(plaintext: string, aad: string): string; open(sealed: string, aad: string): string }
export interface MetaStore { getMeta(key: string): Promise<string | undefined>; claimMeta(key: string, value: string): Promise<string>; setMeta(key: string, value: string): Promise<void> }

/** PostgreSQL replicas: the ring sealed in `meta.signing_key` (see the header); the first replica creates it. */
export class MetaKeyringStorage implements KeyringStorage {
  /** The row as last opened: replicas reload every second, and the row changes only on a rotation. */
  private last: { sealed: string; entries: StoredEntry[] } | null = null;

  constructor(private readonly meta: MetaStore, private readonly box: SealingBox) {}

  async load(): Promise<StoredEntry[]> {
    let sealed = await this.meta.getMeta(SIGNING_KEY_META);
    if (sealed === undefined) sealed = await this.meta.claimMeta(SIGNING_KEY_META, this.box.seal(ringText(await firstKey()), SIGNING_KEY_AAD));
    if (this.last?.sealed === sealed) return this.last.entries;
    const entries = this.open(sealed);
    this.last = { sealed, entries };
    return entries;
  }

  private open(sealed: string): StoredEntry[] {
    let text: string;
    try {
      text = this.box.open(sealed, SIGNING_KEY_AAD);
    } catch {
      throw new SecretKeyError('the credential-signing key stored in the database does not open with this secret key: start every replica with the same secret key file');
    }
    return parseRing(text, () => new SecretKeyError('the credential-signing key stored in the database is not an EC P-256 private key: restore the database from a backup'));
  }

  async save(entries: StoredEntry[]): Promise<void> {
    await this.meta.setMeta(SIGNING_KEY_META, sealRing(entries, this.box));
  }
}

/** The ring as `meta.signing_key` holds it (also written by `fustor controller migrate`). */
export const sealRing = (entries: StoredEntry[], box: SealingBox): string => box.seal(ringText(entries), SIGNING_KEY_AAD);

export async function keyFromPrivateJwk(jwk: JWK, invalid: string): Promise<SigningKey> {
  if (!isPrivateEcJwk(jwk)) throw new Error(invalid);
  const publicJwk: JWK = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateKey = await importJWK(jwk, 'ES256') as CryptoKey;
  return { kid, privateKey, publicJwk: { ...publicJwk, kid, alg: 'ES256', use: 'sig' } };
}

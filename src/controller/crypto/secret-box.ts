/**
 * Encryption at rest for Secret resources: AES-256-GCM under a 32-byte key kept in `DIR/secret-key`
 * (mode 0600, created on first start). The AAD binds each ciphertext to its resource (`Secret/name`), so a
 * sealed value copied onto another row does not open. A keyed hash (HMAC-SHA256) gives Secrets a content
 * hash for the audit log and "unchanged" detection that cannot be brute-forced offline from the database.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';

const VERSION = 'v1';

export class SecretKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeyError';
  }
}

export class SecretBox {
  /** Public fingerprint of the key, recorded in the database to detect a swapped or lost key file. */
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new SecretKeyError('the secret key must be 32 bytes');
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  /**
   * Read `file`, or create it with a fresh random key when `create` is true and it does not exist. `fix`
   * ends the message of a missing file (what the operator should do).
   */
  static loadOrCreate(file: string, create: boolean, fix = 'restore the file from a backup of the data dir'): SecretBox {
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new SecretKeyError(`cannot read ${file}: ${(e as Error).message}`);
    }
    if (text === undefined) {
      if (!create) throw new SecretKeyError(`${file} is missing but the database was written with it (Secrets are encrypted under it): ${fix}`);
      const key = randomBytes(32);
      try {
        writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
        chmodSync(file, 0o600);
      } catch (e) {
        throw new SecretKeyError(`cannot create the secret key ${file}: ${(e as Error).message}`);
      }
      return new SecretBox(key);
    }
    const key = Buffer.from(text.trim(), 'base64');
    if (key.length !== 32) throw new SecretKeyError(`${file} does not hold a 32-byte base64 key: restore it from a backup of the data dir`);
    return new SecretBox(key);
  }

  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64')}`;
  }

  open(sealed: string, aad: string): string {
    const [version, body] = sealed.split('.', 2);
    if (version !== VERSION || body === undefined) throw new SecretKeyError('sealed value has an unknown format');
    const raw = Buffer.from(body, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }

  mac(text: string): string {
    return createHmac('sha256', this.key).update(text, 'utf8').digest('hex');
  }
}

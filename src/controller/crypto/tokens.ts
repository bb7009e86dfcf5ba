/**
 * Bearer secrets (operator tokens, enrollment tokens, query keys): `<prefix>_<id>_<secret>`. The id is
 * public and indexes the stored row; only sha256 of the whole token is stored, and it is compared in
 * constant time, so neither the database nor timing tells anything about the secret. 32 random bytes of
 * secret make a fast hash safe (no password-style stretching is needed for machine-generated tokens).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type TokenPrefix = 'fop' | 'fen' | 'fqk';

export interface IssuedToken { id: string; token: string; hash: string }

const TOKEN = /^(fop|fen|fqk)_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export function issueToken(prefix: TokenPrefix): IssuedToken {
  const id = randomBytes(8).toString('hex');
  const token = `${prefix}_${id}_${randomBytes(32).toString('base64url')}`;
  return { id, token, hash: hashToken(token) };
}

/** The prefix and id of a well-formed token, or undefined (which callers answer as "token rejected"). */
export function parseToken(token: string): { prefix: TokenPrefix; id: string } | undefined {
  const m = TOKEN.exec(token);
  return m === null ? undefined : { prefix: m[1] as TokenPrefix, id: m[2] };
}

export function hashToken(token: string): string {
  return `sha256:${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

/** Constant-time comparison of a presented token with a stored hash. */
export function tokenMatches(token: string, storedHash: string): boolean {
  const a = Buffer.from(hashToken(token), 'utf8');
  const b = Buffer.from(storedHash, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

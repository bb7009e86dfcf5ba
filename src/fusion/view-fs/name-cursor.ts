/**
 * Name order and name cursors. The tree sorts children by the bytes of their names (UTF-8, with
 * non-UTF-8 bytes carried as surrogate escapes, see src/protocol/paths.ts); cursors must use the same
 * order, so names are compared as bytes here too. A cursor is the base64url of those bytes, which
 * round-trips every name, including names that are not valid UTF-8.
 */
import { badRequest } from '../../kernel/errors.ts';
import { decodeName, encodeName } from '../../protocol/index.ts';

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Byte order of two names (negative, 0, positive). */
export function compareNames(a: string, b: string): number {
  if (isAscii(a) && isAscii(b)) return a < b ? -1 : a > b ? 1 : 0;
  const x = encodeName(a);
  const y = encodeName(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

export function encodeNameCursor(name: string): string {
  return Buffer.from(encodeName(name)).toString('base64url');
}

export function decodeNameCursor(cursor: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(cursor)) throw badRequest('cursor is not a value returned by a previous page');
  const bytes = Buffer.from(cursor, 'base64url');
  return decodeName(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
}

/** Index of the first entry of `sorted` whose name is after `name` (binary search). */
export function firstAfter(sorted: ArrayLike<number>, nameOf: (id: number) => string, name: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareNames(nameOf(sorted[mid]), name) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first entry of `sorted` whose name is not before `name` (binary search). */
export function firstNotBefore(sorted: ArrayLike<number>, nameOf: (id: number) => string, name: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareNames(nameOf(sorted[mid]), name) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

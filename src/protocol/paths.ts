/**
 * Path rules shared by agent, gateway and controller (spec 10).
 *
 * A view path is relative to the source root: it starts with `/`, uses `/` separators, never ends with
 * `/` (the root itself is `/`), and has no empty, `.` or `..` segment and no NUL byte.
 *
 * Names that are not valid UTF-8 must round-trip. We use the "surrogate escape" convention: every byte
 * that is not part of a valid UTF-8 sequence is carried as the lone surrogate U+DC80 + byte (0x80–0xFF).
 * JSON carries lone surrogates as `\udcXX`, so the escaped text survives any JSON hop, and valid UTF-8
 * names are never changed. `encodeName` turns such a string back into the exact original bytes.
 */

export const ROOT_PATH = '/';

/** Why a path is invalid, or null when it is valid. */
export function pathProblem(path: unknown): string | null {
  if (typeof path !== 'string') return 'path must be a string';
  if (path.length === 0) return 'path is empty';
  if (path.length > 4096) return 'path is longer than 4096 characters';
  if (path.charCodeAt(0) !== 47) return "path must start with '/'";
  if (path === '/') return null;
  if (path.includes('\0')) return 'path contains a NUL byte';
  if (path.endsWith('/')) return "path must not end with '/'";
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i];
    if (s === '') return 'path contains an empty segment';
    if (s === '..') return "path contains a '..' segment";
    if (s === '.') return "path contains a '.' segment";
  }
  return null;
}

export function isValidPath(path: unknown): path is string {
  return pathProblem(path) === null;
}

/** Segments of a valid path; `/` has none. */
export function pathSegments(path: string): string[] {
  return path === '/' ? [] : path.slice(1).split('/');
}

export function joinPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function baseName(path: string): string {
  return path === '/' ? '' : path.slice(path.lastIndexOf('/') + 1);
}

/** True when `path` equals `scope` or lies below it. */
export function isWithin(path: string, scope: string): boolean {
  if (scope === '/') return true;
  return path === scope || (path.startsWith(scope) && path.charCodeAt(scope.length) === 47);
}

const SURROGATE_ESCAPE_BASE = 0xdc00;

/** Encode a (possibly surrogate-escaped) name into its original bytes. */
export function encodeName(name: string): Uint8Array {
  // Fast path: plain ASCII.
  let ascii = true;
  for (let i = 0; i < name.length; i++) {
    if (name.charCodeAt(i) > 0x7f) { ascii = false; break; }
  }
  if (ascii) {
    const out = new Uint8Array(name.length);
    for (let i = 0; i < name.length; i++) out[i] = name.charCodeAt(i);
    return out;
  }
  const bytes: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0xdc80 && c <= 0xdcff) {
      bytes.push(c - SURROGATE_ESCAPE_BASE);
      continue;
    }
    let cp = c;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < name.length) {
      const d = name.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (cp < 0x80) bytes.push(cp);
    else if (cp < 0x800) bytes.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
    else if (cp < 0x10000) bytes.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    else bytes.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  }
  return Uint8Array.from(bytes);
}

/** Decode bytes into a name; bytes that are not valid UTF-8 become surrogate escapes. */
export function decodeName(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let out = '';
  let i = start;
  while (i < end) {
    const b = bytes[i];
    if (b < 0x80) { out += String.fromCharCode(b); i++; continue; }
    let need = 0;
    let cp = 0;
    let min = 0;
    if (b >= 0xc2 && b <= 0xdf) { need = 1; cp = b & 0x1f; min = 0x80; }
    else if (b >= 0xe0 && b <= 0xef) { need = 2; cp = b & 0x0f; min = 0x800; }
    else if (b >= 0xf0 && b <= 0xf4) { need = 3; cp = b & 0x07; min = 0x10000; }
    let ok = need > 0 && i + need < end;
    for (let k = 1; ok && k <= need; k++) {
      const n = bytes[i + k];
      if ((n & 0xc0) !== 0x80) ok = false;
      else cp = (cp << 6) | (n & 0x3f);
    }
    if (ok && cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff)) {
      out += String.fromCodePoint(cp);
      i += need + 1;
    } else {
      out += String.fromCharCode(SURROGATE_ESCAPE_BASE + b);
      i++;
    }
  }
  return out;
}

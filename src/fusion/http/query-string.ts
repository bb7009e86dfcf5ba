/**
 * The query-string parser of every gateway listener. Same results as Fastify's default parser for
 * ordinary input (`+` is a space, `%XX` escapes, a repeated key gives an array, a `%` that does not
 * start an escape stays as it is), with one difference that makes non-UTF-8 names addressable:
 * percent-decoded bytes that are not valid UTF-8 become surrogate escapes (src/protocol/paths.ts)
 * instead of being left undecoded. A client asks for the name `a\udcffb` (the bytes 61 FF 62) with
 * `?path=/a%FFb`, i.e. by percent-encoding the name's original bytes (`encodeName`).
 */
import { decodeName, encodeName } from '../../protocol/index.ts';

export type ParsedQuery = Record<string, string | string[]>;

export function parseQueryString(text: string): ParsedQuery {
  const out: ParsedQuery = Object.create(null) as ParsedQuery;
  if (text.length === 0) return out;
  for (const part of text.split('&')) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    const key = decodeComponent(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : decodeComponent(part.slice(eq + 1));
    const prev = out[key];
    if (prev === undefined) out[key] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[key] = [prev, value];
  }
  return out;
}

const isHex = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);

export function decodeComponent(raw: string): string {
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  const text = raw.includes('+') ? raw.replace(/\+/g, ' ') : raw;
  try {
    return decodeURIComponent(text);
  } catch {
    // Bytes that are not UTF-8, or a stray '%': decode byte by byte below.
  }
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 37 && i + 2 < text.length && isHex(text.charCodeAt(i + 1)) && isHex(text.charCodeAt(i + 2))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      let j = i + 1;
      while (j < text.length && text.charCodeAt(j) >= 0x80) j++;
      for (const b of encodeName(text.slice(i, j))) bytes.push(b);
      i = j - 1;
    }
  }
  return decodeName(Uint8Array.from(bytes));
}

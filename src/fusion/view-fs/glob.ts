/**
 * Glob matchers for `/search` that cannot be made to backtrack catastrophically.
 *
 * picomatch compiles a glob into a backtracking regular expression: `*a*a*a*a*c` tested against a
 * 255-character name of `a`s takes seconds, and every extra `*` multiplies that — one query could stall
 * the gateway's event loop (ingest, heartbeats, /healthz) for hours. So:
 *
 * - the glob language of spec 30 — literals, `?`, `*`, `**` segments, simple classes `[abc]`, `[a-z]`,
 *   `[^..]`, and `\` escapes — is matched here in O(pattern × subject) per segment, with the classic
 *   wildcard algorithm (backtrack only to the last star; per path segment, and per `**` over segments);
 * - anything else (braces, extglobs, negation, `|`, `+`, POSIX classes, unusual classes) goes to picomatch, and
 *   such a pattern may hold at most MAX_COMPLEX_WILDCARDS of `*` runs, `{` and `(` (400 otherwise),
 *   which keeps its worst case small.
 *
 * Semantics are picomatch's with `{dot: true}` (checked by a differential property test): `?` is one
 * UTF-16 unit other than `/`, `*` any run without `/`, a segment that is exactly `**` any number of
 * whole segments (so `/a/` + `**` matches `/a`), `**` inside a segment is `*`. Where picomatch is
 * inconsistent this follows the rule: a `**` segment spans zero segments at the root as elsewhere, a
 * final `**` segment after a `*` segment matches as after a literal one, and the `.` after an escaped
 * character or after `***` is a literal dot (picomatch leaves that `.` a regex wildcard).
 */
import picomatch from 'picomatch';
import { badRequest } from '../../kernel/errors.ts';

export type Matcher = (subject: string) => boolean;

export const MAX_COMPLEX_WILDCARDS = 3;

const LIT = 0;
const ANY = 1;
const CLASS = 2;
const STAR = 3;

interface Token { kind: number; code: number; negated: boolean; ranges: number[] }
/** A pattern segment: its tokens, or null for a `**` segment. */
type Segment = Token[] | null;

const lit = (code: number): Token => ({ kind: LIT, code, negated: false, ranges: [] });

/** Tokens of one segment, or undefined when it uses a construct left to picomatch. */
function tokenize(seg: string): Token[] | undefined {
  const out: Token[] = [];
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i);
    if (c === 42 /* * */) {
      if (out.length === 0 || out[out.length - 1].kind !== STAR) out.push({ kind: STAR, code: 0, negated: false, ranges: [] });
    } else if (c === 63 /* ? */) {
      out.push({ kind: ANY, code: 0, negated: false, ranges: [] });
    } else if (c === 92 /* \ */) {
      if (i + 1 >= seg.length) return undefined;
      out.push(lit(seg.charCodeAt(++i)));
    } else if (c === 91 /* [ */) {
      const end = seg.indexOf(']', i + 1);
      if (end < 0) return undefined;
      let body = seg.slice(i + 1, end);
      const negated = body.startsWith('^');
      if (negated) body = body.slice(1);
      // Simple classes only: literal characters and ranges; no `!`, `[`, `\`, `-` at the ends.
      if (body.length === 0 || /[!^[\\]/.test(body) || body.startsWith('-') || body.endsWith('-')) return undefined;
      const ranges: number[] = [];
      for (let k = 0; k < body.length; k++) {
        const lo = body.charCodeAt(k);
        if (body.charCodeAt(k + 1) === 45 /* - */ && k + 2 < body.length) {
          const hi = body.charCodeAt(k + 2);
          if (hi < lo || hi === 45) return undefined;
          ranges.push(lo, hi);
          k += 2;
        } else {
          ranges.push(lo, lo);
        }
      }
      out.push({ kind: CLASS, code: 0, negated, ranges });
      i = end;
    } else if (c === 93 || c === 123 || c === 125 || c === 40 || c === 41 || c === 124 || c === 43 /* ] { } ( ) | + */) {
      // `|` and `+` too: picomatch lets them through as regex alternation / quantifier (`*.txt|*.log`,
      // `[0-9]+`); such patterns keep that behaviour.
      return undefined;
    } else {
      out.push(lit(c));
    }
  }
  return out;
}

function one(t: Token, c: number): boolean {
  if (t.kind === LIT) return t.code === c;
  if (t.kind === ANY) return true;
  let inside = false;
  for (let k = 0; k < t.ranges.length; k += 2) {
    if (c >= t.ranges[k] && c <= t.ranges[k + 1]) { inside = true; break; }
  }
  return inside !== t.negated;
}

/** One segment (no `/` in `s`): classic wildcard matching, backtracking only to the last star. */
function matchSegment(p: Token[], s: string): boolean {
  let pi = 0;
  let si = 0;
  let star = -1;
  let mark = 0;
  while (si < s.length) {
    if (pi < p.length && p[pi].kind === STAR) {
      star = pi++;
      mark = si;
    } else if (pi < p.length && one(p[pi], s.charCodeAt(si))) {
      pi++;
      si++;
    } else if (star >= 0) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi].kind === STAR) pi++;
  return pi === p.length;
}

/** Segments of a path against pattern segments; `**` (null) spans any number of whole segments. */
function matchSegments(p: Segment[], s: string[]): boolean {
  let pi = 0;
  let si = 0;
  let star = -1;
  let mark = 0;
  while (si < s.length) {
    if (pi < p.length && p[pi] === null) {
      star = pi++;
      mark = si;
    } else if (pi < p.length && matchSegment(p[pi] as Token[], s[si]) && (s[si].length > 0 || (p[pi] as Token[]).length === 0)) {
      pi++;
      si++;
    } else if (star >= 0) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === null) pi++;
  return pi === p.length;
}

/** The linear matcher for `pattern`, or undefined when it needs picomatch. */
export function simpleMatcher(pattern: string): Matcher | undefined {
  if (pattern.length === 0 || pattern.startsWith('!')) return undefined;
  if (!pattern.includes('/')) {
    if (pattern === '**') return (s) => s.length > 0;
    const tokens = tokenize(pattern);
    if (tokens === undefined) return undefined;
    return (s) => s.length > 0 && !s.includes('/') && matchSegment(tokens, s);
  }
  const raw = pattern.split('/');
  const segments: Segment[] = [];
  for (let i = 0; i < raw.length; i++) {
    const seg = raw[i];
    // Empty segments (other than before a leading '/'), '.', '..' and '***' are picomatch's business.
    if ((seg === '' && i > 0) || seg === '.' || seg === '..' || /^\*{3,}$/.test(seg) || seg.endsWith('\\')) return undefined;
    if (seg === '**') {
      if (segments[segments.length - 1] !== null) segments.push(null);
      continue;
    }
    const tokens = tokenize(seg);
    if (tokens === undefined) return undefined;
    segments.push(tokens);
  }
  return (s) => s.length > 0 && matchSegments(segments, s.split('/'));
}

/** Unescaped `*` runs, `{` and `(` of a pattern: what makes a picomatch regular expression backtrack. */
export function wildcardCount(pattern: string): number {
  let n = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') i++;
    else if (c === '*') {
      n++;
      while (pattern[i + 1] === '*') i++;
    } else if (c === '{' || c === '(') n++;
  }
  return n;
}

export function compileGlob(pattern: string): Matcher {
  const simple = simpleMatcher(pattern);
  if (simple !== undefined) return simple;
  if (wildcardCount(pattern) > MAX_COMPLEX_WILDCARDS) {
    throw badRequest(`pattern too complex: with braces, extglobs, '!', '|', '+' or unusual classes it may use '*', '{' and '(' at most ${MAX_COMPLEX_WILDCARDS} times in all (plain '*', '?', '**' and [a-z] classes have no limit)`);
  }
  try {
    return picomatch(pattern, { dot: true });
  } catch (e) {
    throw badRequest(`invalid pattern: ${(e as Error).message}`);
  }
}

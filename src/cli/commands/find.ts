/**
 * `fustor find` — `find` over a view: prints the matching view-relative paths, one per line, paging through
 * `/search` with `next_cursor` until done or `--limit`.
 *
 * find-style single-dash options (`-name`, `-path`, `-type`, `-size`, `-newer`, `-print0`) are accepted next
 * to their `--long` forms: commander only knows `--long` options, so the find command rewrites those tokens
 * before parsing (see `rewriteFindStyleArgs`). The gateway filters by pattern, type, size and mtime; the
 * client checks every returned node again with find's own rules, so the printed set is what find would print
 * even where the gateway's glob dialect differs (find's `*` in `-path` also matches `/`).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { statSync } from 'node:fs';
import { isWithin, pathProblem, type FsNode } from '../../protocol/index.ts';
import { addQueryOptions, clientFor, exitQuietlyOnClosedPipe, parseNonNegative, parsePositiveInt, type QueryFlags } from '../query-client.ts';

/** find-style options that get a `--` form; all take a value except `print0`. */
const FIND_STYLE = new Set(['name', 'path', 'type', 'size', 'newer', 'print0']);
const TAKES_VALUE = new Set(['--name', '--path', '--type', '--size', '--newer', '--newer-than', '--limit', '--view', '--server', '--key', '--wait']);

/**
 * `-name x` → `--name x` (and the other find-style options); `-print` is dropped (printing is the default).
 * Tokens in value position (`--name -type` looks for a file called "-type") and after `--` stay as they are.
 */
export function rewriteFindStyleArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  let isValue = false;
  for (let i = 0; i < args.length; i++) {
    let a = args[i];
    if (a === '--' && !isValue) {
      out.push(...args.slice(i));
      break;
    }
    if (!isValue && a.length > 2 && a[0] === '-' && a[1] !== '-') {
      const name = a.slice(1);
      if (name === 'print') continue;
      if (FIND_STYLE.has(name)) a = `--${name}`;
    }
    isValue = !isValue && TAKES_VALUE.has(a);
    out.push(a);
  }
  return out;
}

/** A find glob (fnmatch without FNM_PATHNAME): `*` and `?` also match `/`, `[...]`/`[!...]` classes, `\` escapes. */
export function findGlob(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '\\' && i + 1 < glob.length) re += escapeRe(glob[++i]);
    else if (c === '[') {
      const end = classEnd(glob, i);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      let negate = false;
      if (body[0] === '!' || body[0] === '^') {
        negate = true;
        body = body.slice(1);
      }
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`, 's');
}

const escapeRe = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * The gateway's glob dialect (picomatch) also knows braces, extglobs and a leading `!`; find does not. Braces,
 * parentheses, a leading `!` and an unclosed `[` are escaped so that the gateway treats them literally, as find
 * would (the gateway must return a superset of what find would print: the client filters again).
 */
export function toGatewayGlob(glob: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '\\' && i + 1 < glob.length) {
      out += c + glob[++i];
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      if (classEnd(glob, i) < 0) {
        out += '\\[';
        continue;
      }
      inClass = true;
      out += c;
      if (glob[i + 1] === '!' || glob[i + 1] === '^') {
        out += '^'; // picomatch negates a class with '^' only
        i++;
      }
      if (glob[i + 1] === ']') out += glob[++i];
      continue;
    }
    // Without '(' no extglob can form; a leading '!' would negate the whole pattern.
    out += '{}()'.includes(c) || (c === '!' && i === 0) ? `\\${c}` : c;
  }
  return out;
}

/** Index of the `]` closing the class opened at `start`, or -1 (a `]` right after `[` or `[!` is literal). */
function classEnd(glob: string, start: number): number {
  let j = start + 1;
  if (glob[j] === '!' || glob[j] === '^') j++;
  if (glob[j] === ']') j++;
  for (; j < glob.length; j++) if (glob[j] === ']') return j;
  return -1;
}

const UNITS: Record<string, number> = { '': 1, c: 1, k: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

export interface SizeTest {
  sign: '+' | '-' | '';
  count: number;
  unit: number;
}

/**
 * `-size [+-]N[ckMGT]` with find's rounding: the size is counted in whole units, rounded up, then compared
 * with N (`-size -1M` therefore matches only empty files, as with find). No suffix means bytes — unlike
 * find, whose default unit is the 512-byte block.
 */
export function parseSize(value: string): SizeTest {
  const m = /^([+-]?)(\d+)([ckMGT]?)$/.exec(value);
  if (m === null) throw new InvalidArgumentError('expected [+-]N with an optional unit c, k, M, G or T (for example +10M).');
  return { sign: m[1] as SizeTest['sign'], count: Number(m[2]), unit: UNITS[m[3]] };
}

export function sizeMatches(t: SizeTest, size: number): boolean {
  const units = Math.ceil(size / t.unit);
  return t.sign === '+' ? units > t.count : t.sign === '-' ? units < t.count : units === t.count;
}

/** A superset range in bytes for the gateway's min_size/max_size (whether it treats them as inclusive or not). */
function sizeRange(t: SizeTest): { min?: number; max?: number } | null {
  if (t.sign === '+') return { min: t.count * t.unit };
  if (t.sign === '-') return t.count === 0 ? null : { max: (t.count - 1) * t.unit + 1 };
  return { min: Math.max(0, (t.count - 1) * t.unit), max: t.count * t.unit + 1 };
}

interface FindFlags extends QueryFlags {
  name?: string;
  path?: string;
  type?: 'f' | 'd';
  size?: SizeTest;
  newer?: string;
  newerThan?: number;
  limit?: number;
  json?: boolean;
  print0?: boolean;
}

/** find's filters, applied to each node the gateway returns. */
function nodeFilter(scope: string, f: FindFlags, newerThan: number | undefined): (n: FsNode) => boolean {
  const name = f.name !== undefined ? findGlob(f.name) : null;
  const path = f.path !== undefined ? findGlob(f.path) : null;
  const type = f.type === 'f' ? 'file' : f.type === 'd' ? 'directory' : null;
  return (n) =>
    isWithin(n.path, scope) &&
    (type === null || n.content_type === type) &&
    (name === null || name.test(n.name)) &&
    (path === null || path.test(n.path)) &&
    (f.size === undefined || sizeMatches(f.size, n.size ?? 0)) &&
    (newerThan === undefined || (n.modified_time ?? -Infinity) > newerThan);
}

async function runFind(scope: string, f: FindFlags): Promise<void> {
  const problem = pathProblem(scope);
  if (problem !== null) throw new Error(`PATH '${scope}' is not a view path (${problem}): use a path like /upload/submit`);
  let newerThan = f.newerThan;
  if (f.newer !== undefined) {
    try {
      newerThan = statSync(f.newer).mtimeMs / 1000;
    } catch (e) {
      throw new Error(`-newer ${f.newer}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (the reference file is read on this machine)`, { cause: e });
    }
  }
  const range = f.size !== undefined ? sizeRange(f.size) : {};
  if (range === null) return; // -size -0: nothing is smaller than zero units
  const client = clientFor(f);
  const keep = nodeFilter(scope, f, newerThan);
  exitQuietlyOnClosedPipe();
  const sep = f.print0 ? '\0' : '\n';
  const format = (n: FsNode) => (f.json ? JSON.stringify(n) : n.path) + sep;
  let printed = 0;
  // Like find, the starting point itself is printed first when it matches (the view root never is).
  if (scope !== '/') {
    const start = await client.get<FsNode>('metadata', { path: scope });
    if (keep(start)) {
      process.stdout.write(format(start));
      if (++printed === f.limit) return;
    }
  }
  let cursor: string | undefined;
  do {
    const pageSize = Math.min(1000, f.limit !== undefined ? f.limit - printed : 1000);
    const page = await client.get<{ items: FsNode[]; next_cursor?: string }>('search', {
      pattern: f.name !== undefined ? toGatewayGlob(f.name) : '*',
      path: scope === '/' ? undefined : scope,
      type: f.type === 'f' ? 'file' : f.type === 'd' ? 'directory' : 'any',
      min_size: range.min,
      max_size: range.max,
      modified_after: newerThan,
      only_path: f.json || f.size !== undefined || newerThan !== undefined ? undefined : true,
      limit: pageSize,
      cursor,
    });
    let chunk = '';
    for (const n of page.items) {
      if (n.path === scope || !keep(n)) continue;
      chunk += format(n);
      if (++printed === f.limit) break;
    }
    if (chunk !== '') process.stdout.write(chunk);
    cursor = page.next_cursor;
  } while (cursor !== undefined && printed !== f.limit);
}

/** A command whose option parsing accepts find-style single-dash options. */
class FindCommand extends Command {
  override parseOptions(args: string[]): { operands: string[]; unknown: string[] } {
    return super.parseOptions(rewriteFindStyleArgs(args));
  }
}

export function registerFind(program: Command): void {
  const cmd = new FindCommand('find');
  cmd.copyInheritedSettings(program);
  addQueryOptions(cmd)
    .description('print the paths of a view that match, like find(1); find-style -name/-path/-type/-size/-newer work too')
    .argument('[path]', 'view-relative directory to search under', '/')
    .option('--name <glob>', 'base name matches the glob (*, ?, [..])')
    .option('--path <glob>', "whole path matches the glob (as with find, '*' also matches '/')")
    .addOption(new Option('--type <t>', 'f = files, d = directories').choices(['f', 'd']))
    .option('--size <[+-]N[ckMGT]>', 'size more than (+), less than (-) or exactly N units, rounded up as find does; no unit = bytes', parseSize)
    .option('--newer <file>', 'modified after the mtime of this local file')
    .option('--newer-than <epoch>', 'modified after this time (epoch seconds)', parseNonNegative)
    .option('--limit <n>', 'stop after n paths', parsePositiveInt)
    .option('--json', 'print one JSON node per line instead of the path')
    .option('--print0', 'end each path with NUL instead of newline (for xargs -0)')
    .action(async (scope: string, flags: FindFlags) => runFind(scope, flags));
  program.addCommand(cmd);
}

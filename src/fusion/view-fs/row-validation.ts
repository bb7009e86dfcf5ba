/**
 * Per-row validation of ingest rows (spec 10): one malformed row is rejected and counted, the rest of
 * the batch applies. Rows are checked with compiled TypeBox validators from `src/protocol/events.ts`
 * plus the path rules of `src/protocol/paths.ts`.
 *
 * Predecessor aliases are accepted: `file_path` for `path`, `is_dir` for `is_directory` (such rows are
 * copied once with the canonical names; canonical rows are returned as they are, without a copy).
 */
import { Compile } from 'typebox/compile';
import { FsDeleteRow, FsUpsertRow, pathProblem } from '../../protocol/index.ts';

const upsertValidator = Compile(FsUpsertRow);
const deleteValidator = Compile(FsDeleteRow);

/** A delete row: only the path matters; `modified_time`, when an agent sends it, is evidence time. */
export interface DeleteRow { path: string; modified_time?: number }

/**
 * True when a quick character scan proves the path valid. False means "not proven": `pathProblem`
 * (the protocol's rule, which names the problem) then decides. The scan allocates nothing.
 */
function plainPath(p: string): boolean {
  const n = p.length;
  if (n === 0 || n > 4096 || p.charCodeAt(0) !== 47) return false;
  if (n === 1) return true;
  let segStart = 1;
  for (let i = 1; i <= n; i++) {
    const c = i === n ? 47 : p.charCodeAt(i);
    if (c === 0) return false;
    if (c !== 47) continue;
    const len = i - segStart;
    if (len === 0) return false;
    if (len <= 2 && p.charCodeAt(segStart) === 46 && (len === 1 || p.charCodeAt(segStart + 1) === 46)) return false;
    segStart = i + 1;
  }
  return true;
}

/** Why `path` is not a valid view path, or null. Same verdict as `pathProblem`, faster on valid paths. */
export function checkPath(path: unknown): string | null {
  if (typeof path === 'string' && plainPath(path)) return null;
  return pathProblem(path);
}

function describe(path: unknown): string {
  if (typeof path !== 'string') return '';
  return path.length > 80 ? ` (${JSON.stringify(path.slice(0, 80))}…)` : ` (${JSON.stringify(path)})`;
}

function firstError(v: { Errors(value: unknown): { instancePath: string; message: string }[] }, row: unknown): string {
  const e = v.Errors(row)[0];
  if (e === undefined) return 'row is invalid';
  return `${e.instancePath === '' ? 'row' : e.instancePath.slice(1)} ${e.message}`;
}

function asObject(raw: unknown): Record<string, unknown> | null {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? raw as Record<string, unknown> : null;
}

function withAliases(row: Record<string, unknown>): Record<string, unknown> {
  const out = { ...row };
  if (out.path === undefined && out.file_path !== undefined) out.path = out.file_path;
  if (out.is_directory === undefined && out.is_dir !== undefined) out.is_directory = out.is_dir;
  return out;
}

/** The row as an upsert, or the reason it is rejected. */
export function validateUpsert(raw: unknown): FsUpsertRow | string {
  let row = asObject(raw);
  if (row === null) return 'row is not an object';
  if ((row.path === undefined && row.file_path !== undefined) || (row.is_directory === undefined && row.is_dir !== undefined)) {
    row = withAliases(row);
  }
  if (!upsertValidator.Check(row)) return firstError(upsertValidator, row);
  const problem = checkPath(row.path);
  if (problem !== null) return problem + describe(row.path);
  if (row.path === '/' && row.is_directory !== true) return 'the root / is a directory';
  return row as FsUpsertRow;
}

/** The row as a delete, or the reason it is rejected. */
export function validateDelete(raw: unknown): DeleteRow | string {
  let row = asObject(raw);
  if (row === null) return 'row is not an object';
  if (row.path === undefined && row.file_path !== undefined) row = withAliases(row);
  if (!deleteValidator.Check(row)) return firstError(deleteValidator, row);
  const problem = checkPath(row.path);
  if (problem !== null) return problem + describe(row.path);
  const mtime = (row as Record<string, unknown>).modified_time;
  if (mtime !== undefined && (typeof mtime !== 'number' || !Number.isFinite(mtime))) return 'modified_time must be a finite number';
  return row as unknown as DeleteRow;
}

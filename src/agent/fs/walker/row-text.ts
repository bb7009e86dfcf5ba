/**
 * The wire text of walk rows, written by the worker threads for encoded walks (`WalkOptions.encode`).
 *
 * Each row's text is exactly `JSON.stringify(row)` of the row object the walker builds otherwise (same
 * keys in the same order, same number and string forms), so a batch can go to the gateway without the
 * consumer's thread ever building, parsing or serialising a row. Strings go through JSON.stringify, which
 * writes lone surrogates (the `decodeName` escapes of non-UTF-8 bytes) as `\udcXX`. A file's path text
 * is its directory's text + '/' + its name's text: JSON escaping works character by character, and the
 * '/' between them keeps a surrogate of one from pairing with one of the other.
 */
import { baseName } from '../../../protocol/paths.ts';
import { F_NO_PARENT, F_SELF, F_SKIPPED } from './messages.ts';

/** Keys of every row, in order (WalkRow). */
export const ROW_KEYS = ['path', 'file_name', 'size', 'modified_time', 'created_time', 'is_directory'] as const;

/** The JSON text of a number, as JSON.stringify writes it. */
export function numText(x: number): string {
  return Number.isFinite(x) ? `${x}` : 'null';
}

/** The JSON text of the `fields` (key list) of a row with these flags. */
export function fieldsText(audit: boolean, flags: number): string {
  if (!audit) return FIELDS_PLAIN;
  if ((flags & F_SELF) !== 0) return FIELDS_AUDIT_DIR;
  return (flags & F_NO_PARENT) !== 0 ? FIELDS_PLAIN : FIELDS_AUDIT_FILE;
}

const FIELDS_PLAIN = JSON.stringify(ROW_KEYS);
const FIELDS_AUDIT_DIR = JSON.stringify([...ROW_KEYS, 'audit_skipped']);
const FIELDS_AUDIT_FILE = JSON.stringify([...ROW_KEYS, 'parent_path', 'parent_mtime']);

/** The columns of a chunk of rows (messages.ts ChunkMessage, before it is posted). */
export interface RowColumns {
  n: number;
  /** Per row; '' for F_SELF rows. */
  names: readonly string[];
  seg: Uint32Array;
  segDirs: readonly string[];
  segMtimes: readonly number[] | Float64Array;
  size: Float64Array;
  mtime: Float64Array;
  ctime: Float64Array;
  flags: Uint8Array;
}

/** The rows of a chunk as JSON texts joined by commas. */
export function encodeColumns(c: RowColumns, audit: boolean): string {
  const out = new Array<string>(c.n);
  let segAt = -1;
  let dirText = '';
  let childPrefix = '';
  let parentTail = '';
  for (let i = 0; i < c.n; i++) {
    const s = c.seg[i];
    if (s !== segAt) {
      segAt = s;
      const dir = c.segDirs[s];
      dirText = JSON.stringify(dir);
      // `"/dir/` : the path text of a child without its name's text (whose opening quote is cut).
      childPrefix = dir === '/' ? '"/' : `${dirText.slice(0, -1)}/`;
      parentTail = `,"parent_path":${dirText},"parent_mtime":${numText(c.segMtimes[s])}}`;
    }
    const f = c.flags[i];
    const nums = `"size":${numText(c.size[i])},"modified_time":${numText(c.mtime[i])},"created_time":${numText(c.ctime[i])}`;
    if ((f & F_SELF) !== 0) {
      const tail = audit ? `,"is_directory":true,"audit_skipped":${(f & F_SKIPPED) !== 0}}` : ',"is_directory":true}';
      out[i] = `{"path":${dirText},"file_name":${JSON.stringify(baseName(c.segDirs[s]))},${nums}${tail}`;
    } else {
      const nameText = JSON.stringify(c.names[i]);
      const tail = audit && (f & F_NO_PARENT) === 0 ? `,"is_directory":false${parentTail}` : ',"is_directory":false}';
      out[i] = `{"path":${childPrefix}${nameText.slice(1)},"file_name":${nameText},${nums}${tail}`;
    }
  }
  return out.join(',');
}

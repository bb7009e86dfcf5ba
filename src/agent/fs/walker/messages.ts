/**
 * What the walker's main thread and its worker threads say to each other. Internal to this folder.
 *
 * Rows travel in columns (one string of names, typed arrays for the numbers) so that a chunk of a
 * thousand rows costs the main thread one string split and a loop, not a thousand structured-clone
 * objects. The main thread turns them into row objects.
 */

export type WalkMode = 'snapshot' | 'audit' | 'scan';

/** Slots of the shared Int32Array every walk gives its workers. */
export const CTL_OUTSTANDING = 0; // rows posted by workers and not yet consumed or dropped by the main thread
export const CTL_LIMIT = 1; // workers pause while CTL_OUTSTANDING is at or above this
export const CTL_ABORT = 2; // 1: stop at the next check
export const CTL_HUNGRY = 3; // 1: some worker is idle and the queue is empty; post subdirectories early
export const CTL_SLOTS = 4;

/** Row flags (one byte per row). */
export const F_DIR = 1;
/** The row is the segment's directory itself (its path is the segment path). */
export const F_SELF = 2;
/** Audit: `audit_skipped: true`. */
export const F_SKIPPED = 4;
/** Audit: remember the directory's mtime in the cache once the row is consumed. */
export const F_CACHE_SET = 8;
/** Audit: forget the directory in the cache (its listing was incomplete). */
export const F_CACHE_DELETE = 16;
/** A second row for a directory already sent (a correction after an incomplete listing). */
export const F_REPEAT = 32;
/** A file row whose parent mtime is unknown: no `parent_path`/`parent_mtime`. */
export const F_NO_PARENT = 64;

/** Main → worker: a new walk starts; replaces any earlier walk state in a pooled worker. */
export interface BeginMessage {
  t: 'begin';
  /** Absolute root directory (no trailing slash unless it is `/`). */
  root: string;
  mode: WalkMode;
  chunkRows: number;
  /** Encoded walk: chunks carry the rows' wire text (`json`) and no names. */
  encode: boolean;
  ctl: SharedArrayBuffer;
}

/** Main → worker: directories to list (view-relative), with their cached mtimes (NaN = none). */
export interface WorkMessage {
  t: 'work';
  rel: string[];
  cached: Float64Array;
  /** The single item is where the walk starts: it may be a file, and the root itself is stat'ed, not lstat'ed. */
  start: boolean;
}

export type ToWorker = BeginMessage | WorkMessage;

/**
 * Worker → main: rows and discoveries. Row `i` lies in segment `seg[i]`: a file row's path is
 * `segDirs[seg] + '/' + name`, an F_SELF row's path is `segDirs[seg]` itself.
 */
export interface ChunkMessage {
  t: 'chunk';
  /** True on the last chunk of a work message: the worker has finished it. */
  final: boolean;
  n: number;
  /** `n` names joined by '/' (a name never contains '/'); F_SELF rows have ''. Empty in encoded walks. */
  names: string;
  /** Encoded walks: the `n` rows' JSON texts joined by commas (row-text.ts). */
  json?: string;
  seg: Uint32Array;
  segDirs: string[];
  /** The mtime of each segment's directory (parent_mtime of its files); NaN when unknown. */
  segMtimes: Float64Array;
  size: Float64Array;
  mtime: Float64Array;
  ctime: Float64Array;
  flags: Uint8Array;
  /** Subdirectories found, to be queued. */
  subdirs: string[];
  /** Work items handed back unprocessed (another worker is idle). */
  returned: string[];
  /** Work items finished (listed, skipped or failed). */
  done: number;
  /** Pairs: path, errno code. */
  errors: string[];
}

export type FromWorker = ChunkMessage;

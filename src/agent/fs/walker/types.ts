/** Public types of the walker. */
import type { FsUpsertRow } from '../../../protocol/events.ts';
import type { DirMtimeCache } from './dir-mtime-cache.ts';
import type { WalkMode } from './messages.ts';

export type { WalkMode } from './messages.ts';

/**
 * One upsert row of the fs schema (spec 10). `path` is view-relative (leading `/`, the root is `/`),
 * names that are not valid UTF-8 carry surrogate escapes (`decodeName`). Times are float seconds with
 * sub-second precision (`mtimeMs / 1000`). Audit file rows carry `parent_path`/`parent_mtime` (the
 * directory's mtime when it was listed); audit directory rows carry `audit_skipped`.
 */
export interface WalkRow extends FsUpsertRow {
  file_name: string;
  created_time: number;
}

export interface WalkProgress {
  /** Directory rows emitted (listed, silent or unreadable). */
  dirs: number;
  /** Non-directory rows emitted (files, symlinks, fifos, …). */
  files: number;
  /** Audit: directories found silent (`audit_skipped: true`, files not listed). */
  skippedDirs: number;
  /** Distinct paths that could not be read (each reported once through `onError`). */
  errors: number;
  /** Sum of the sizes of the file rows. */
  bytes: number;
  /** Directories found and not listed yet (queued or being listed). */
  queuedDirs: number;
  /** Rows listed by the workers and not yet handed to the consumer (bounded, see WalkOptions.maxBufferedBatches). */
  bufferedRows: number;
  elapsedMs: number;
  filesPerSec: number;
  bytesPerSec: number;
}

export interface WalkBatch {
  /** The rows. In an encoded walk they are parsed from `encoded` on first access (tests, fallbacks). */
  rows: WalkRow[];
  progress: WalkProgress;
  /** Encoded walks only (`WalkOptions.encode`): the rows' wire text, written by the worker threads. */
  encoded?: EncodedWalkRows;
}

/**
 * The rows of a batch as JSON text: `texts[i]` holds `counts[i]` rows joined by commas, each exactly
 * `JSON.stringify` of the row object (see row-text.ts). Structurally a sender `PreEncodedRows`.
 */
export interface EncodedWalkRows {
  texts: string[];
  counts: number[];
  /** Rows in the batch (sum of `counts`). */
  rows: number;
  /** JSON text of the first row's keys (an event's `fields`). */
  fields: string;
  /**
   * Pairs (directory path, seconds): for each directory the batch has rows of or in, the greatest
   * `modified_time` among them — its own row's, or its files'. What a consumer needs from the rows to
   * rank directories by recency without parsing them.
   */
  dirRecency: (string | number)[];
}

export interface WalkOptions {
  mode: WalkMode;
  /** View-relative directory (or file) to start from; default `/`. Row paths stay relative to the root. */
  subPath?: string;
  /** Worker threads; default min(4, available parallelism). */
  workers?: number;
  /** Rows per batch; default 1000. */
  batchRows?: number;
  /**
   * Backpressure: workers pause while this many batches' worth of rows wait unconsumed (default 4).
   * At most (maxBufferedBatches + workers) × batchRows rows are ever held between the workers and the
   * consumer, whatever the size of the tree.
   */
  maxBufferedBatches?: number;
  /** A partial batch is handed out when no full one has formed for this long (default 1000 ms). */
  maxBatchDelayMs?: number;
  /**
   * Audit: directories whose mtime equals the cached one are silent. The cache is updated with the mtime
   * of every directory listed — only once the consumer has asked for the batch after the one carrying its
   * row, so that a batch the consumer failed to deliver never makes its directory look silent later.
   */
  dirMtimeCache?: DirMtimeCache;
  /**
   * Audit: a directory whose mtime is not before this time (float seconds, the mtime scale) is listed but
   * not recorded in `dirMtimeCache` (its entry is dropped), so the next audit lists it again. A listing of
   * a directory that changed around the start of the audit may be discounted by the gateway as stale
   * evidence (spec 20: children touched after the audit start are not deleted); caching it would make the
   * directory silent, and such a child would stay in the view until a full audit. Default: no limit.
   */
  settledBefore?: number;
  /**
   * The worker threads write each batch's wire text (`WalkBatch.encoded`), so the consumer's thread
   * never builds row objects; `rows` is then parsed on demand. Not combinable with `exclude`.
   */
  encode?: boolean;
  /** Drops rows (and, for directories, their whole subtree). Not applied to the starting path. */
  exclude?: (relPath: string, isDirectory: boolean) => boolean;
  /** Called once per path that could not be read (EACCES, ENOENT when it vanished mid-walk, …). */
  onError?: (relPath: string, code: string) => void;
  /** Aborting stops the workers at once; the iteration then throws the signal's reason. */
  signal?: AbortSignal;
}

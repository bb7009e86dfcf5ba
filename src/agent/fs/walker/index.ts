/** Public surface of the walker (see README.md). */
export { Walker, walk, DEFAULT_BATCH_ROWS, DEFAULT_MAX_BUFFERED_BATCHES, DEFAULT_MAX_BATCH_DELAY_MS, type WalkerOptions } from './walker.ts';
export { DirMtimeCache, DEFAULT_DIR_MTIME_CACHE_ENTRIES } from './dir-mtime-cache.ts';
export type { EncodedWalkRows, WalkBatch, WalkMode, WalkOptions, WalkProgress, WalkRow } from './types.ts';

/** Public surface of the fs source (see README.md). */
export { FsSource, DEGRADED, MAX_QUEUED_ACTIONS, AUDIT_SETTLE_SECONDS } from './fs-source.ts';
export { WatchSet, type WatchEntry } from './watch-set.ts';
export { estimateDrift, percentile99, sampleRecursiveMtimes, type DriftSample } from './drift.ts';
export type { Row, SourceOutput, SourceSignal, CompensatingSource, FsSourceOptions, FsSourceStatus, WalkPhase, SentinelUpdate } from './types.ts';

/** Public types of the fs source (see README.md). */
import type { Logger } from '../../../kernel/logger.ts';
import type { FsDeleteRow, FsUpsertRow } from '../../../protocol/events.ts';
import type { EncodedWalkRows } from '../walker/index.ts';

export type { SentinelUpdate } from '../../../protocol/ingest.ts';

/** An upsert row (spec 10 fs schema) or a delete row (`{path}` only). Paths are view-relative. */
export type Row = FsUpsertRow | FsDeleteRow;

export type CompensatingSource = 'snapshot' | 'audit' | 'on_demand_job';

export type SourceSignal =
  | { type: 'snapshot_end' }
  | { type: 'audit_start' }
  | { type: 'audit_end' }
  | { type: 'job_complete'; jobId: string; scanPath: string };

/**
 * Where the source puts what it produces. The source never blocks on `realtime`; it awaits the other two
 * (backpressure). The event `index` of every row is `FsSource.clock()` — give that clock to the sender.
 */
export interface SourceOutput {
  /**
   * Realtime rows: upserts (with `is_atomic_write`) or delete rows. Must answer at once. `false` = the
   * buffer is full: the rows are lost, the source marks itself degraded (`buffer full`) and schedules an audit.
   */
  realtime(rows: Row[], kind: 'upsert' | 'delete'): boolean;
  /** Snapshot / audit / on-demand rows; the promise resolves when there is room again. */
  compensating(rows: Row[], source: CompensatingSource): Promise<void>;
  /**
   * Optional: walk rows already serialised by the walker's threads (the same wire text as the row
   * objects). When present, walks without a file pattern use it instead of `compensating`.
   */
  compensatingEncoded?(rows: EncodedWalkRows, source: CompensatingSource): Promise<void>;
  signal(sig: SourceSignal): Promise<void>;
}

export interface FsSourceOptions {
  /** Absolute path of the source root (followed if it is a symlink; nothing inside is followed). */
  root: string;
  pipeId: string;
  /** At most this many directories are watched (lowered automatically on ENOSPC). */
  watchLimit: number;
  /** modify/attrib upserts: at most one per path per this many seconds. */
  throttleIntervalSec: number;
  /** Walker threads for snapshot and audit; on-demand scans use half (min 1). */
  maxScanWorkers: number;
  /** Glob on the file name (picomatch, dotfiles included); directories are never filtered. Default: all. */
  filePattern?: string;
  log: Logger;
  /**
   * Who runs the audits the source asks for (overflow, full buffer, helper restart, huge directory moved
   * in). Default: the source runs them itself (`audit()`), ~`auditDelayMs` after the request. When set, the
   * source only calls this; the owner (e.g. a pipe that is a follower) decides, and calls `audit()`.
   */
  onAuditNeeded?: (reason: string, subPath: string) => void;
  /** Delay that coalesces bursts of audit requests; default 250 ms. */
  auditDelayMs?: number;
  /** Helper binary / spawn prefix for the inotify reader (tests). */
  helperPath?: string;
  spawnPrefix?: readonly string[];
  /** MovePairer window; default 50 ms. */
  pairWindowMs?: number;
  /** Drift pre-scan bound; default 2,000 directories and 50,000 lstat calls. */
  driftSample?: { maxDirs?: number; maxEntries?: number };
  /** A directory created/moved in is crawled for realtime rows up to this many entries, then audited; default 20,000. */
  realtimeCrawlMax?: number;
  /** Helper restart backoff; default 500 ms … 60 s, full jitter. */
  restartBackoff?: { initialMs?: number; maxMs?: number };
}

export type WalkPhase = 'idle' | 'drift' | 'watch' | 'snapshot' | 'audit' | 'scan';

export interface FsSourceStatus {
  /** Directories with an active watch. */
  watchCount: number;
  /** Effective limit (the configured one, or lower after ENOSPC). */
  watchLimit: number;
  /** Why the source is degraded; empty when healthy. */
  degraded: string[];
  /** The most recently started walk that is still running (or the last one, `phase: 'idle'` once done). */
  walk: { phase: WalkPhase; dirs: number; files: number; rate: number };
  /** inotify events received per second (5 s average). */
  eventsPerSec: number;
  overflowCount: number;
  lastError: string | null;
}

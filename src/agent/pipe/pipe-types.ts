/**
 * Contracts between a pipe and the rest of the agent: the fs source as the pipe uses it (structural, so a
 * test double can stand in), the pipe's status (reported to the shell every second), and the messages
 * between the shell and a pipe worker.
 */
import type { ResolvedPipe } from '../config/load-config.ts';
import type { FsSourceOptions, FsSourceStatus, SentinelUpdate, SourceOutput } from '../fs/source/types.ts';

/** The fs source as a pipe drives it (see src/agent/fs/source). */
export interface PipeSource {
  startWatching(): Promise<void>;
  snapshot(): Promise<void>;
  audit(): Promise<void>;
  resetAuditCache(): void;
  scan(path: string, recursive: boolean, jobId: string): Promise<void>;
  sentinel(paths: string[]): Promise<SentinelUpdate[]>;
  status(): FsSourceStatus;
  close(): Promise<void>;
  /** Event index clock (ms, agent time + drift), when the source has one. */
  clock?(): number;
}

export type SourceFactory = (opts: FsSourceOptions, output: SourceOutput) => PipeSource | Promise<PipeSource>;

export type LeaderWork = 'idle' | 'snapshot' | 'audit' | 'sentinel';

export interface PipeStatus {
  pipeId: string;
  /** starting → running; `stopping` during close. */
  state: 'starting' | 'running' | 'stopping';
  role: 'leader' | 'follower' | null;
  sessionId: string | null;
  sessionState: string;
  leaderWork: LeaderWork;
  snapshots: number;
  audits: number;
  scans: number;
  eventsPerSec: number;
  rowsSent: number;
  bufferDepth: number;
  /** Seconds the oldest unacknowledged realtime row has waited (spec 50 "freshness lag"). */
  freshnessLagSec: number;
  walk: FsSourceStatus['walk'] | null;
  watchCount: number;
  watchLimit: number;
  degraded: string[];
  lastError: string | null;
  at: number;
}

/** parent → worker */
export type ToPipeWorker = { type: 'stop' } | { type: 'rescan'; id: string };
/** worker → parent */
export type FromPipeWorker =
  | { type: 'heartbeat' }
  | { type: 'status'; status: PipeStatus }
  | { type: 'stopped' }
  | { type: 'fatal'; error: string }
  /** The answer to `rescan` (a targeted command of the controller), with what the pipe started. */
  | { type: 'rescan_done'; id: string; ok: boolean; message: string };

export type PipeWorkerData = ResolvedPipe;

/**
 * The contract between the gateway (sessions, pipes, HTTP) and a view engine (`fs` or `forest-fs`).
 * Engines are plain synchronous code: no HTTP, no timers of their own (the gateway calls `tick`),
 * no I/O. Query methods throw FustorError (NOT_FOUND, BAD_REQUEST, TOO_MANY_ITEMS) for expected failures.
 */
import type { Event, MessageSource, SentinelUpdate, TreeQuery, SearchQuery, StatsQuery, ChangesQuery, ChangesResult, FsNode } from '../../protocol/index.ts';

/** Who carried an event: the pipe (forest routing), the agent and its source (node lineage). */
export interface Lineage { pipeId: string; agentId: string; sourceUri: string }

export interface ApplyResult { applied: number; rejected: number; errors: string[] /* first few reasons, for logs */ }

export interface FsViewSettings {
  hotFileThreshold: number;       // seconds
  tombstoneTtlSeconds: number;
  maxTreeItems: number;           // 0 = unlimited; compared with the size of the response
  maxNodes: number;               // 0 = unlimited
  auditIntervalSec: number;       // abandoned-window close after 2 × this
  journalSize: number;            // entries kept for /changes
}

/** Wall clock in epoch seconds; injectable so engine tests control time. */
export interface Clock { now(): number }
export const systemClock: Clock = { now: () => Date.now() / 1000 };

export interface ViewDriver {
  readonly viewId: string;
  readonly kind: 'fs' | 'forest-fs';

  /** Election scope for a session of this pipe: the view id for `fs`, `${viewId}:${pipeId}` for forest. */
  electionKey(pipeId: string): string;

  // ---- ingest (called from the pipe's processing loop, in batch order) ----
  /** Apply one event. `source` comes from event.message_source (or the batch source_type). Rows are validated here one by one. */
  applyEvent(event: Event, source: MessageSource, lineage: Lineage): ApplyResult;
  auditStart(pipeId: string): void;
  auditEnd(pipeId: string): void;
  /** A new session started for this pipe: clears blind spots and any open audit window (per sub-tree for forest). */
  sessionStart(pipeId: string): void;
  /** The pipe's last session ended in live mode, or DELETE /reset: empty the view (forest: the member, or all when pipeId undefined). */
  reset(pipeId?: string): void;
  /** Periodic housekeeping (≤ every 0.5 s): suspect sweep, abandoned audit windows. */
  tick(): void;
  /** Paths to re-check; `pipeId` scopes a forest view to that pipe's member. */
  sentinelTasks(pipeId?: string): string[];
  sentinelFeedback(updates: SentinelUpdate[], pipeId?: string): number;
  /** PUT /suspect-list: stability evidence {path, mtime}. Returns the number applied. */
  suspectEvidence(updates: { path: string; mtime: number }[]): number;

  // ---- queries ----
  /** JSON text of the /tree response, produced in one synchronous pass as chunks (streamed by the caller). */
  tree(q: TreeQuery): string[];
  /** The same answer as one UTF-8 body (may come from a cache); used by GET /tree when present. */
  treeBody?(q: TreeQuery): Buffer;
  search(q: SearchQuery): { items: FsNode[]; next_cursor?: string };
  stats(q: StatsQuery): Record<string, unknown>;
  metadata(path: string): FsNode;
  changes(q: ChangesQuery): ChangesResult;
  blindSpots(q: { limit?: number; cursor?: string }): { additions_count: number; additions: FsNode[]; deletion_count: number; deletions: string[]; next_cursor?: string };
  suspectList(): { path: string; suspect_until: number; recorded_mtime: number }[];
  /** True if the path exists (on_demand_scan decides between 404 and a pending job). */
  has(path: string): boolean;
  itemCount(): number;
  /** Apply new settings on reload (a changed view is rebuilt by the gateway; this is for unchanged-tree tweaks). */
  readonly settings: FsViewSettings;
}

/**
 * Test support for the fs source: a recording SourceOutput, a temporary root, and polling waits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../kernel/logger.ts';
import type { FsUpsertRow } from '../../../protocol/events.ts';
import { FsSource } from './fs-source.ts';
import type { CompensatingSource, FsSourceOptions, FsSourceStatus, Row, SourceOutput, SourceSignal } from './types.ts';

export interface RealtimeRecord { row: Row; kind: 'upsert' | 'delete'; at: number }
export interface CompensatingRecord { row: Row; source: CompensatingSource }
export interface SignalRecord { sig: SourceSignal; status: FsSourceStatus | null }

/** Every call in order; `refuseRealtime` makes the next N realtime() calls answer false. */
export class RecordingOutput implements SourceOutput {
  readonly realtimeRows: RealtimeRecord[] = [];
  readonly compensatingRows: CompensatingRecord[] = [];
  readonly signals: SignalRecord[] = [];
  /** Interleaved trace: 'rt:upsert:/p', 'rt:delete:/p', 'c:audit:/p', 'sig:audit_start', … */
  readonly trace: string[] = [];
  refuseRealtime = 0;
  refused = 0;
  /** Set to capture the source status at each signal. */
  source: FsSource | null = null;

  realtime(rows: Row[], kind: 'upsert' | 'delete'): boolean {
    if (this.refuseRealtime > 0) {
      this.refuseRealtime--;
      this.refused += rows.length;
      return false;
    }
    const at = Date.now();
    for (const row of rows) {
      this.realtimeRows.push({ row, kind, at });
      this.trace.push(`rt:${kind}:${row.path}`);
    }
    return true;
  }

  async compensating(rows: Row[], source: CompensatingSource): Promise<void> {
    for (const row of rows) {
      this.compensatingRows.push({ row, source });
      this.trace.push(`c:${source}:${row.path}`);
    }
    await Promise.resolve();
  }

  async signal(sig: SourceSignal): Promise<void> {
    this.signals.push({ sig, status: this.source?.status() ?? null });
    this.trace.push(`sig:${sig.type}`);
    await Promise.resolve();
  }

  /** Realtime upsert rows of `path`. */
  upserts(path: string): FsUpsertRow[] {
    return this.realtimeRows.filter((r) => r.kind === 'upsert' && r.row.path === path).map((r) => r.row as FsUpsertRow);
  }

  deletes(path: string): number {
    return this.realtimeRows.filter((r) => r.kind === 'delete' && r.row.path === path).length;
  }

  compensating_(source: CompensatingSource): FsUpsertRow[] {
    return this.compensatingRows.filter((r) => r.source === source).map((r) => r.row as FsUpsertRow);
  }

  signalTypes(): string[] {
    return this.signals.map((s) => s.sig.type);
  }

  clear(): void {
    this.realtimeRows.length = 0;
    this.compensatingRows.length = 0;
    this.signals.length = 0;
    this.trace.length = 0;
  }
}

export interface SourceHarness {
  root: string;
  out: RecordingOutput;
  src: FsSource;
  close(): Promise<void>;
}

export function tempRoot(prefix = 'fustor-source-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A source on a fresh temporary root (prepared by `prepare`), watching unless `watch: false`. */
export async function openSource(
  opts: Partial<FsSourceOptions> & { prepare?: (root: string) => void; watch?: boolean } = {},
): Promise<SourceHarness> {
  const { dir, cleanup } = tempRoot();
  opts.prepare?.(dir);
  const out = new RecordingOutput();
  const src = new FsSource({
    root: dir,
    pipeId: 'pipe-test',
    watchLimit: 1000,
    throttleIntervalSec: 5,
    maxScanWorkers: 2,
    log: silentLogger(),
    auditDelayMs: 50,
    ...opts,
  }, out);
  out.source = src;
  if (opts.watch !== false) await src.startWatching();
  return {
    root: dir, out, src,
    close: async () => {
      await src.close();
      cleanup();
    },
  };
}

/** Polls `condition` every 10 ms; rejects with `what` (and `detail()`) after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 20_000, detail?: () => unknown): Promise<void> {
  const t0 = Date.now();
  while (!condition()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `: ${JSON.stringify(detail())}` : ''}`);
    await sleep(10);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

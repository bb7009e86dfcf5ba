/**
 * FsSource: the fs source of one pipe (spec 40). It produces rows — realtime from inotify, compensating
 * from walks — and hands them to a SourceOutput; it knows nothing about HTTP or sessions.
 *
 * Realtime path (all synchronous decisions are taken in event order, in `onPaired`):
 *   InotifyReader ─▶ MovePairer ─▶ onPaired: path resolution, throttle, watch bookkeeping (renames,
 *   removals), coalescing ─▶ bounded action queue ─▶ drain (async, in order): lstat / crawl ─▶ output.realtime
 * The queue is bounded (MAX_QUEUED_ACTIONS); repeated upserts of one path waiting in it are merged. Beyond
 * the bound the queue is dropped, the source is degraded and an audit is scheduled (like a kernel overflow).
 *
 * Walks (snapshot, audit, scan) run on the walker's threads; their rows also feed the hot watch set.
 * Every row's event index comes from `clock()` (one time base, spec 40 "Drift").
 */
import type { Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import picomatch from 'picomatch';
import type { Disposable } from '../../../kernel/disposable.ts';
import type { Logger } from '../../../kernel/logger.ts';
import type { FsDeleteRow, FsUpsertRow } from '../../../protocol/events.ts';
import { baseName, isWithin, joinPath, parentPath, pathProblem } from '../../../protocol/paths.ts';
import { InotifyHelperError, InotifyReader, InotifyWatchError, MovePairer, type MoveEvent, type PairedEvent } from '../inotify/index.ts';
import { DirMtimeCache, Walker, type WalkOptions, type WalkRow } from '../walker/index.ts';
import { estimateDrift } from './drift.ts';
import { RootPaths, errnoCode, fsPath, listDir, rowFromStats } from './fs-util.ts';
import type { CompensatingSource, FsSourceOptions, FsSourceStatus, Row, SentinelUpdate, SourceOutput, WalkPhase } from './types.ts';
import { WatchSet, type WatchEntry } from './watch-set.ts';

/** Actions waiting for the async part of the realtime path; beyond this the queue is dropped (degraded). */
export const MAX_QUEUED_ACTIONS = 100_000;
/** Consecutive upserts (or deletes) emitted as one `realtime()` call at most. */
const REALTIME_CHUNK = 512;
/** Throttle entries kept at most; expired ones are pruned first, then the map is cleared (a few extra rows). */
const MAX_THROTTLE_ENTRIES = 100_000;
/** Concurrent directories in the source's own async crawls. */
const CRAWL_CONCURRENCY = 8;
/** Unreadable paths remembered so each is logged once. */
const MAX_LOGGED_PATHS = 10_000;
/** Rows per walk batch when the walker writes the wire text (each batch is one sender call). */
const ENCODED_WALK_BATCH_ROWS = 8192;
/** Sub-tree audits queued at most before they collapse into a root audit. */
const MAX_PENDING_AUDITS = 16;
/**
 * An audit does not record in its dir-mtime cache a directory whose mtime is less than this many seconds
 * before the audit started: the next audit lists it again. The gateway spares a child the audit did not
 * see when the child changed after the audit start on its logical clock (wall clock − clock skew, in whole
 * seconds) or when realtime touched it after the audit start (spec 20, stale-evidence protection); had the
 * directory been cached, no later audit would list it again, and a file removed where no watch saw it
 * would stay in the view until a full audit. The margin covers the skew and the realtime latency.
 */
export const AUDIT_SETTLE_SECONDS = 5;

export const DEGRADED = {
  overflow: 'inotify overflow',
  queueOverflow: 'realtime queue overflow',
  bufferFull: 'buffer full',
  helperExited: 'inotify helper exited',
  helperUnavailable: 'inotify unavailable',
  enospc: 'watch limit reached (ENOSPC)',
} as const;

type Action =
  | { t: 'upsert'; path: string; atomic: boolean; /** non-directory create: emit only when not a regular file */ createOnly: boolean }
  | { t: 'delete'; path: string }
  | { t: 'dir'; path: string }
  | { t: 'move'; from: string; to: string };

type UpsertAction = Extract<Action, { t: 'upsert' }>;

interface DegradedEntry {
  /** Cleared by the first audit whose sequence number is greater; null = not cleared by audits. */
  clearAfterAudit: number | null;
}

/** Events per second over a 5 s sliding window (1 s buckets). */
class RateMeter {
  private readonly buckets = new Float64Array(5);
  private second = 0;

  add(n: number, nowMs = Date.now()): void {
    this.roll(nowMs);
    this.buckets[this.second % 5] += n;
  }

  rate(nowMs = Date.now()): number {
    this.roll(nowMs);
    let sum = 0;
    for (let i = 0; i < 5; i++) if (i !== this.second % 5) sum += this.buckets[i];
    return sum / 4;
  }

  private roll(nowMs: number): void {
    const s = Math.floor(nowMs / 1000);
    if (s === this.second) return;
    const gap = Math.min(5, s - this.second);
    for (let k = 1; k <= gap; k++) this.buckets[(this.second + k) % 5] = 0;
    this.second = s;
  }
}

export class FsSource implements Disposable {
  readonly pipeId: string;
  private readonly paths: RootPaths;
  private readonly log: Logger;
  private readonly reader: InotifyReader;
  private readonly pairer: MovePairer;
  private readonly walker = new Walker();
  private readonly watches: WatchSet;
  private readonly auditCache = new DirMtimeCache();
  private readonly abort = new AbortController();
  private readonly matchFile: ((name: string) => boolean) | null;
  private readonly throttleMs: number;

  private closed = false;
  private drift = 0;
  private driftDone: Promise<void> | null = null;
  private watching = false;

  // realtime
  private queue: Action[] = [];
  private head = 0;
  private draining = false;
  private readonly pendingUpserts = new Map<string, UpsertAction>();
  private readonly throttle = new Map<string, number>();
  /** Watch ids of directories whose paired move we handled: their IN_MOVE_SELF is expected. */
  private readonly expectedMoveSelf = new Set<number>();
  private readonly rate = new RateMeter();
  private overflowCount = 0;

  // degraded / audits
  private readonly degradedReasons = new Map<string, DegradedEntry>();
  private auditSeq = 0;
  private auditChain: Promise<void> = Promise.resolve();
  private readonly pendingAudits = new Set<string>();
  private auditTimer: NodeJS.Timeout | null = null;
  private auditRetries = 0;

  // helper restarts
  private restartTimer: NodeJS.Timeout | null = null;
  private restartAttempts = 0;
  private savedWatches: WatchEntry[] = [];

  // status
  private lastError: string | null = null;
  private readonly loggedPaths = new Set<string>();
  private walkSeq = 0;
  private walkStatus: { seq: number; phase: WalkPhase; dirs: number; files: number; rate: number } = { seq: 0, phase: 'idle', dirs: 0, files: 0, rate: 0 };

  constructor(private readonly opts: FsSourceOptions, private readonly output: SourceOutput) {
    if (typeof opts.root !== 'string' || !isAbsolute(opts.root)) throw new TypeError(`fs source root must be an absolute path, got ${String(opts.root)}`);
    if (!Number.isInteger(opts.maxScanWorkers) || opts.maxScanWorkers < 1) throw new RangeError(`maxScanWorkers must be a positive integer, got ${opts.maxScanWorkers}`);
    if (!(opts.throttleIntervalSec >= 0)) throw new RangeError(`throttleIntervalSec must be ≥ 0, got ${opts.throttleIntervalSec}`);
    this.pipeId = opts.pipeId;
    this.paths = new RootPaths(resolve(opts.root));
    this.log = opts.log;
    this.watches = new WatchSet(opts.watchLimit);
    this.throttleMs = opts.throttleIntervalSec * 1000;
    const pattern = opts.filePattern;
    this.matchFile = pattern === undefined || pattern === '' || pattern === '*' ? null : picomatch(pattern, { dot: true });
    this.pairer = new MovePairer({ windowMs: opts.pairWindowMs ?? 50, onEvents: (events) => this.onPaired(events) });
    this.reader = new InotifyReader({
      helperPath: opts.helperPath,
      spawnPrefix: opts.spawnPrefix,
      onEvents: (events) => {
        this.rate.add(events.length);
        this.pairer.push(events);
      },
      onError: (error) => this.onReaderError(error),
    });
  }

  // ───────────────────────────── clock ─────────────────────────────

  /** The one event-index clock: `(now + drift) × 1000` (ms on the filesystem's time base). */
  clock(): number {
    return Math.floor(Date.now() + this.drift * 1000);
  }

  /** Seconds added to the local clock (P99 of the sampled recursive dir mtimes − now). */
  get driftSeconds(): number {
    return this.drift;
  }

  /** Estimates the drift once (bounded pre-scan, see drift.ts); later calls return the same promise. */
  ensureDrift(): Promise<void> {
    this.driftDone ??= (async () => {
      const seq = this.beginWalk('drift');
      try {
        const { drift, sampled } = await estimateDrift(this.paths.root, (rel) => this.paths.toAbs(rel), this.opts.driftSample);
        this.drift = drift;
        this.log.info({ pipe: this.pipeId, drift, sampled }, 'fs source: drift estimated');
      } catch (error) {
        this.noteError('drift estimation failed', error);
      } finally {
        this.endWalk(seq);
      }
    })();
    return this.driftDone;
  }

  // ──────────────────────────── realtime ────────────────────────────

  /**
   * Starts the realtime watch: drift first, then the reader, then a top-down crawl of the directories that
   * adds watches (each directory is watched before it is listed, so nothing created after its listing is
   * missed). With more directories than the limit, the most recent ones (by mtime) are kept. Call before
   * `snapshot()`. Never rejects for inotify trouble: the source is degraded and retries with backoff.
   */
  async startWatching(): Promise<void> {
    if (this.watching || this.closed) return;
    this.watching = true;
    // The snapshot usually follows the watch crawl: let the walker's threads boot meanwhile.
    this.walker.prewarm(this.opts.maxScanWorkers);
    await this.ensureDrift();
    try {
      await this.reader.start();
    } catch (error) {
      this.degrade(DEGRADED.helperUnavailable, null);
      this.noteError('inotify reader cannot start', error);
      this.scheduleRestart();
      return;
    }
    await this.watchTree();
  }

  /** Crawls the tree adding watches (recency = the directory's own mtime). */
  private async watchTree(): Promise<void> {
    const seq = this.beginWalk('watch');
    try {
      let rootMtime = 0;
      try {
        rootMtime = (await lstat(fsPath(this.paths.root))).mtimeMs / 1000;
      } catch (error) {
        this.noteUnreadable('/', errnoCode(error));
        return;
      }
      await this.crawl('/', rootMtime, { watch: true });
    } finally {
      this.endWalk(seq);
    }
  }

  private onPaired(events: PairedEvent[]): void {
    if (this.closed) return;
    const nowMs = Date.now();
    for (const e of events) {
      if (e.kind === 'move') {
        this.onMove(e);
        continue;
      }
      switch (e.kind) {
        case 'overflow':
          this.onOverflow();
          continue;
        case 'ignored':
        case 'delete_self':
        case 'unmount': {
          const entry = this.watches.getById(e.watchId);
          if (entry) this.watches.remove(entry);
          this.expectedMoveSelf.delete(e.watchId);
          continue;
        }
        case 'move_self': {
          if (this.expectedMoveSelf.delete(e.watchId)) continue;
          // Moved by a rename we did not see (its parent is not watched): its path and those of the watches
          // below it are stale. Drop them; the audit finds the directory at its new place.
          const entry = this.watches.getById(e.watchId);
          if (entry) this.unwatchUnder(entry.path);
          continue;
        }
        default:
          break;
      }
      const dirRel = this.watchRel(e.watchId, e.dirPath);
      if (dirRel === null) continue;
      this.touch(dirRel, nowMs);
      if (e.name === '') continue; // about the watched directory itself (attrib, …)
      const path = joinPath(dirRel, e.name);
      switch (e.kind) {
        case 'close_write':
          if (e.isDir) break;
          this.throttle.delete(path);
          this.enqueueUpsert(path, true, false);
          break;
        case 'modify':
        case 'attrib':
          if (e.isDir) break; // a sub-directory's own attributes: its row is refreshed by audits
          if (this.throttled(path, nowMs)) break;
          this.enqueueUpsert(path, false, false);
          break;
        case 'create':
          if (e.isDir) this.enqueue({ t: 'dir', path });
          else if (e.fromMove === true) this.enqueueUpsert(path, true, false); // moved in: complete file
          else this.enqueueUpsert(path, true, true); // regular files wait for close_write; links, fifos… do not get one
          break;
        case 'delete':
          this.throttle.delete(path);
          // Watches below a directory that moved out point outside the view now; a deleted one is gone.
          if (e.isDir) this.unwatchUnder(path);
          this.enqueue({ t: 'delete', path });
          break;
        default:
          break;
      }
    }
  }

  private onMove(e: MoveEvent): void {
    const fromDir = this.watchRel(e.from.watchId, e.from.dirPath);
    const toDir = this.watchRel(e.to.watchId, e.to.dirPath);
    if (fromDir === null || toDir === null) return;
    const from = joinPath(fromDir, e.from.name);
    const to = joinPath(toDir, e.to.name);
    const nowMs = Date.now();
    this.touch(fromDir, nowMs);
    this.touch(toDir, nowMs);
    this.throttle.delete(from);
    if (!e.isDir) {
      this.enqueue({ t: 'delete', path: from });
      this.enqueueUpsert(to, true, false);
      return;
    }
    // Kernel watches follow the inodes: re-point them now, so later events resolve to the new paths.
    const moved = this.watches.get(from);
    if (moved && moved.id !== 0) {
      if (this.expectedMoveSelf.size > 10_000) this.expectedMoveSelf.clear();
      this.expectedMoveSelf.add(moved.id);
    }
    this.reader.renameWatches(this.paths.toAbs(from), this.paths.toAbs(to));
    this.watches.renamePrefix(from, to);
    this.enqueue({ t: 'move', from, to });
  }

  private onOverflow(): void {
    this.overflowCount++;
    this.log.warn({ pipe: this.pipeId }, 'fs source: inotify queue overflow, events were lost: auditing');
    this.degrade(DEGRADED.overflow, this.auditSeq);
    this.requestAudit(DEGRADED.overflow, '/');
  }

  /** View-relative path of a watch (its current path, after renames), or null when outside the root. */
  private watchRel(watchId: number, dirPath: string): string | null {
    return this.paths.toRel(this.reader.watchPath(watchId) ?? dirPath);
  }

  /** Activity in `dir`: raise its recency (and its watched ancestors') to now on the fs time base. */
  private touch(dir: string, nowMs: number): void {
    this.raise(dir, (nowMs + this.drift * 1000) / 1000, false);
  }

  /**
   * Raise the recency of `dir` and its watched ancestors to `recency` (stops at a watched ancestor that is
   * already at least as recent). With `offer`, an unwatched `dir` is proposed to the set.
   */
  private raise(dir: string, recency: number, offer: boolean): void {
    let p = dir;
    for (;;) {
      const e = this.watches.get(p);
      if (e) {
        if (e.recency >= recency) return;
        this.watches.bump(e, recency);
      } else if (offer && p === dir) {
        void this.offer(p, recency);
      }
      if (p === '/') return;
      p = parentPath(p);
    }
  }

  private throttled(path: string, nowMs: number): boolean {
    const last = this.throttle.get(path);
    if (last !== undefined && nowMs - last < this.throttleMs) return true;
    if (this.throttle.size >= MAX_THROTTLE_ENTRIES) {
      for (const [p, t] of this.throttle) if (nowMs - t >= this.throttleMs) this.throttle.delete(p);
      if (this.throttle.size >= MAX_THROTTLE_ENTRIES) this.throttle.clear();
    }
    this.throttle.delete(path); // re-insert: the map stays in time order
    this.throttle.set(path, nowMs);
    return false;
  }

  private enqueueUpsert(path: string, atomic: boolean, createOnly: boolean): void {
    if (!atomic || !createOnly) {
      const pending = this.pendingUpserts.get(path);
      if (pending) {
        // Not lstat'ed yet: one row will do. The last event says whether a write is still in progress.
        pending.atomic = atomic;
        pending.createOnly = false;
        return;
      }
    }
    const action: UpsertAction = { t: 'upsert', path, atomic, createOnly };
    // Registered before enqueue(): the drain may start (and take the action) synchronously inside it.
    if (!createOnly) this.pendingUpserts.set(path, action);
    this.enqueue(action);
  }

  private enqueue(action: Action): boolean {
    if (this.queue.length - this.head >= MAX_QUEUED_ACTIONS) {
      this.queue = [];
      this.head = 0;
      this.pendingUpserts.clear();
      this.log.warn({ pipe: this.pipeId, max: MAX_QUEUED_ACTIONS }, 'fs source: realtime queue full, events dropped: auditing');
      this.degrade(DEGRADED.queueOverflow, this.auditSeq);
      this.requestAudit(DEGRADED.queueOverflow, '/');
      return false;
    }
    if (action.t === 'delete') this.pendingUpserts.delete(action.path);
    else if (action.t === 'move') {
      this.pendingUpserts.delete(action.from);
      this.pendingUpserts.delete(action.to);
    } else if (action.t === 'dir') this.pendingUpserts.delete(action.path);
    this.queue.push(action);
    if (!this.draining) void this.drain();
    return true;
  }

  /** Runs the queued actions in order. Consecutive upserts (or deletes) go out as one realtime() call. */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.head < this.queue.length && !this.closed) {
        const first = this.queue[this.head];
        if (first.t === 'upsert') {
          const run: UpsertAction[] = [];
          while (this.head < this.queue.length && run.length < REALTIME_CHUNK) {
            const a = this.queue[this.head];
            if (a.t !== 'upsert') break;
            this.head++;
            if (this.pendingUpserts.get(a.path) === a) this.pendingUpserts.delete(a.path);
            run.push(a);
          }
          this.compact();
          await this.emitUpserts(run);
        } else if (first.t === 'delete') {
          const rows: FsDeleteRow[] = [];
          while (this.head < this.queue.length && rows.length < REALTIME_CHUNK) {
            const a = this.queue[this.head];
            if (a.t !== 'delete') break;
            this.head++;
            rows.push({ path: a.path });
          }
          this.compact();
          this.emit(rows, 'delete');
        } else {
          this.head++;
          this.compact();
          try {
            if (first.t === 'dir') await this.realtimeDir(first.path);
            else await this.realtimeMove(first.from, first.to);
          } catch (error) {
            this.noteError(`realtime ${first.t} failed`, error);
          }
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private async emitUpserts(run: UpsertAction[]): Promise<void> {
    const stats = await Promise.all(run.map((a) => this.lstatRel(a.path)));
    const rows: FsUpsertRow[] = [];
    for (let i = 0; i < run.length; i++) {
      const st = stats[i];
      const a = run[i];
      if (st === null) continue; // vanished since the event: its delete follows
      if (a.createOnly && st.isFile()) continue; // waits for close_write
      if (st.isDirectory()) {
        rows.push(rowFromStats(a.path, st, { is_atomic_write: true }));
        continue;
      }
      if (!this.fileWanted(a.path)) continue;
      rows.push(rowFromStats(a.path, st, { is_atomic_write: a.atomic }));
    }
    this.emit(rows, 'upsert');
  }

  /** A directory appeared (created or moved in): its row, a watch, and rows for what is already inside. */
  private async realtimeDir(path: string): Promise<void> {
    const st = await this.lstatRel(path);
    if (st === null) return;
    if (!st.isDirectory()) {
      if (this.fileWanted(path)) this.emit([rowFromStats(path, st, { is_atomic_write: true })], 'upsert');
      return;
    }
    this.emit([rowFromStats(path, st, { is_atomic_write: true })], 'upsert');
    await this.crawlRealtime(path, null);
  }

  /** A paired directory move: delete(old) + upsert(new) for the directory and every descendant. */
  private async realtimeMove(from: string, to: string): Promise<void> {
    const st = await this.lstatRel(to);
    this.emit([{ path: from }], 'delete');
    if (st === null) return;
    this.emit([rowFromStats(to, st, { is_atomic_write: true })], 'upsert');
    if (st.isDirectory()) await this.crawlRealtime(to, from);
  }

  /**
   * Crawls a new directory for realtime rows, watching each sub-directory before listing it. With `oldBase`
   * (a move) each row is preceded by a delete of its old path. Beyond `realtimeCrawlMax` entries the rest is
   * left to an audit of the directory.
   */
  private async crawlRealtime(path: string, oldBase: string | null): Promise<void> {
    const recency = this.clock() / 1000;
    const complete = await this.crawl(path, recency, {
      watch: true,
      max: this.opts.realtimeCrawlMax ?? 20_000,
      emit: (rows) => {
        if (oldBase !== null) this.emit(rows.map((r) => ({ path: oldBase + r.path.slice(path.length) })), 'delete');
        this.emit(rows.map((r) => ({ ...r, is_atomic_write: true })), 'upsert');
      },
    });
    if (!complete) this.requestAudit('large directory appeared', path);
  }

  /** Hands realtime rows to the output; a refusal degrades the source and schedules an audit. */
  private emit(rows: Row[], kind: 'upsert' | 'delete'): void {
    if (rows.length === 0 || this.closed) return;
    let ok: boolean;
    try {
      ok = this.output.realtime(rows, kind);
    } catch (error) {
      this.noteError('realtime output threw', error);
      ok = false;
    }
    if (ok) return;
    if (!this.degradedReasons.has(DEGRADED.bufferFull)) this.log.warn({ pipe: this.pipeId }, 'fs source: output buffer full, realtime rows lost: auditing');
    this.degrade(DEGRADED.bufferFull, this.auditSeq);
    this.requestAudit(DEGRADED.bufferFull, '/');
  }

  // ─────────────────────────── watch set ───────────────────────────

  /** Proposes `dir` for a watch with `recency`; adds it (async) when the set admits it. */
  private offer(dir: string, recency: number): Promise<void> {
    return this.ensureWatched(dir, recency, true);
  }

  private async ensureWatched(dir: string, recency: number, retryOnEnospc: boolean): Promise<void> {
    if (!this.reader.running || this.closed) return;
    const admitted = this.watches.admit(dir, recency);
    if (admitted === null) return; // already watched (recency raised) or less recent than everything watched
    for (const ev of admitted.evicted) if (ev.id !== 0) void this.reader.removeWatch(ev.id);
    const entry = admitted.entry;
    let id: number;
    try {
      id = await this.reader.addWatch(this.paths.toAbs(dir));
    } catch (error) {
      this.watches.remove(entry);
      if (error instanceof InotifyWatchError) {
        if (error.isWatchLimit) {
          this.onEnospc();
          if (retryOnEnospc) await this.ensureWatched(dir, recency, false);
        } else if (error.code === 'EACCES') {
          this.noteUnreadable(dir, error.code);
        }
        // ENOENT/ENOTDIR (gone or replaced), EEXIST (same inode watched elsewhere): nothing to do
      } else if (!(error instanceof InotifyHelperError)) {
        this.noteError(`cannot watch ${dir}`, error);
      }
      return;
    }
    if (entry.removed) {
      void this.reader.removeWatch(id); // evicted while the add was pending
      return;
    }
    this.watches.setId(entry, id);
  }

  /** ENOSPC: the kernel limit is below ours. Lower the effective limit to what we hold now. */
  private onEnospc(): void {
    const held = this.watches.size;
    const limit = Math.max(1, held);
    if (limit < this.watches.limit) {
      this.log.warn({ pipe: this.pipeId, limit, configured: this.opts.watchLimit }, 'fs source: inotify watch limit reached (ENOSPC): watch limit lowered');
      for (const ev of this.watches.shrinkTo(limit)) if (ev.id !== 0) void this.reader.removeWatch(ev.id);
    }
    this.degrade(DEGRADED.enospc, null);
  }

  private unwatchUnder(path: string): void {
    for (const e of this.watches.under(path)) {
      this.watches.remove(e);
      if (e.id !== 0) void this.reader.removeWatch(e.id);
    }
  }

  /** The same from an encoded batch's (directory, greatest mtime) pairs. */
  private feedWatchSetRecency(pairs: readonly (string | number)[]): void {
    if (!this.reader.running) return;
    for (let i = 0; i < pairs.length; i += 2) this.raise(pairs[i] as string, pairs[i + 1] as number, true);
  }

  /** Feeds walk rows to the watch set: directories are offered with their mtime, file mtimes raise their parents. */
  private feedWatchSet(rows: readonly WalkRow[]): void {
    if (!this.reader.running) return;
    for (const r of rows) {
      if (r.is_directory) this.raise(r.path, r.modified_time, true);
      else this.raise(parentPath(r.path), r.modified_time, true);
    }
  }

  /**
   * The source's own async crawl (watch set, new directories): directories are visited up to
   * CRAWL_CONCURRENCY at a time; with `watch`, each is watched before it is listed. `emit` receives the rows
   * of each listed directory's entries (lstat'ed). Returns false when stopped at `max` entries.
   */
  private async crawl(start: string, startRecency: number, o: { watch: boolean; max?: number; emit?: (rows: FsUpsertRow[]) => void }): Promise<boolean> {
    const stack: { path: string; recency: number; leaf?: boolean }[] = [{ path: start, recency: startRecency }];
    const max = o.max ?? Infinity;
    let seen = 0;
    let stopped = false;
    const visit = async (dir: { path: string; recency: number; leaf?: boolean }): Promise<void> => {
      if (o.watch) await this.ensureWatched(dir.path, dir.recency, true);
      // A watch-only crawl lists a directory only to find its subdirectories. One whose link count is 2
      // has none (POSIX file systems count `..` of each subdirectory; those that don't report 1): checked
      // again after the watch is in place, so a subdirectory created meanwhile is either counted or seen
      // by the watch. Spares reading the names of every file (the bulk of a big tree).
      if (dir.leaf === true && o.watch && o.emit === undefined) {
        const again = await this.lstatRel(dir.path);
        if (again === null || (again.isDirectory() && again.nlink === 2)) return;
      }
      let list;
      try {
        list = await listDir(this.paths.toAbs(dir.path));
      } catch (error) {
        const code = errnoCode(error);
        if (code !== 'ENOENT' && code !== 'ENOTDIR') this.noteUnreadable(dir.path, code);
        return;
      }
      const rows: FsUpsertRow[] = [];
      for (const ent of list) {
        if (stopped || this.closed) return;
        if (++seen > max) {
          stopped = true;
          break;
        }
        const child = joinPath(dir.path, ent.name);
        if (!ent.isDir && !o.emit) continue;
        if (!ent.isDir && !this.fileWanted(child)) continue;
        const st = await this.lstatRel(child);
        if (st === null) continue;
        if (o.emit) rows.push(rowFromStats(child, st));
        if (st.isDirectory()) stack.push({ path: child, recency: o.emit ? dir.recency : st.mtimeMs / 1000, leaf: st.nlink === 2 });
      }
      if (rows.length > 0) o.emit?.(rows);
    };
    await new Promise<void>((done) => {
      let active = 0;
      const pump = (): void => {
        while (active < CRAWL_CONCURRENCY && stack.length > 0 && !stopped && !this.closed) {
          const d = stack.pop()!;
          active++;
          visit(d).catch((error: unknown) => this.noteError(`crawl of ${d.path} failed`, error)).finally(() => {
            active--;
            pump();
          });
        }
        if (active === 0) done();
      };
      pump();
    });
    return !stopped;
  }

  // ───────────────────────────── walks ─────────────────────────────

  /** Full walk (a directory's row before its contents), rows as `snapshot`, then `snapshot_end`. */
  async snapshot(): Promise<void> {
    await this.ensureDrift();
    await this.walk('snapshot', { mode: 'snapshot', workers: this.opts.maxScanWorkers }, 'snapshot');
    await this.output.signal({ type: 'snapshot_end' });
  }

  /**
   * Audit of the whole root: `audit_start`, rows (silent directories as `audit_skipped: true` without their
   * files, file rows with `parent_path`/`parent_mtime`), `audit_end` (always, in a `finally`). Audits run
   * one at a time; a call during an audit runs after it. A successful audit clears the degraded reasons
   * (overflow, full buffer, restarted helper) recorded before it started.
   */
  audit(): Promise<void> {
    return this.runAudit('/');
  }

  /** Forgets the dir-mtime cache: the next audit lists everything (new session, promotion). */
  resetAuditCache(): void {
    this.auditCache.clear();
  }

  private runAudit(subPath: string): Promise<void> {
    const run = this.auditChain.then(() => this.doAudit(subPath));
    this.auditChain = run.catch(() => undefined);
    return run;
  }

  private async doAudit(subPath: string): Promise<void> {
    if (this.closed) return;
    await this.ensureDrift();
    const seq = ++this.auditSeq;
    const settledBefore = Date.now() / 1000 - AUDIT_SETTLE_SECONDS; // taken before the gateway's audit start
    await this.output.signal({ type: 'audit_start' });
    try {
      await this.walk('audit', { mode: 'audit', subPath, workers: this.opts.maxScanWorkers, dirMtimeCache: this.auditCache, settledBefore }, 'audit');
    } finally {
      await this.output.signal({ type: 'audit_end' });
    }
    for (const [reason, d] of this.degradedReasons) {
      if (d.clearAfterAudit !== null && d.clearAfterAudit < seq) {
        this.degradedReasons.delete(reason);
        this.log.info({ pipe: this.pipeId, reason }, 'fs source: degraded reason cleared by audit');
      }
    }
  }

  /**
   * On-demand scan of `path` (view-relative): a file → its row; a directory → its row, and with `recursive`
   * everything below (half the scan workers). Rows as `on_demand_job`; always ends with `job_complete`
   * (also for a missing path).
   */
  async scan(path: string, recursive: boolean, jobId: string): Promise<void> {
    let failed = false;
    try {
      await this.ensureDrift();
      const problem = pathProblem(path);
      if (problem !== null) {
        this.log.warn({ pipe: this.pipeId, path, problem }, 'fs source: scan of an invalid path');
        return;
      }
      const st = await this.lstatRel(path);
      if (st === null) return;
      if (st.isDirectory() && recursive) {
        await this.walk('scan', { mode: 'scan', subPath: path, workers: Math.max(1, Math.floor(this.opts.maxScanWorkers / 2)) }, 'on_demand_job');
      } else if (st.isDirectory() || path === '/' || this.fileWanted(path)) {
        await this.output.compensating([rowFromStats(path, st)], 'on_demand_job');
      }
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      const done = this.output.signal({ type: 'job_complete', jobId, scanPath: path });
      if (failed) await done.catch(() => undefined);
      else await done;
    }
  }

  private async walk(phase: WalkPhase, options: WalkOptions, source: CompensatingSource): Promise<void> {
    const seq = this.beginWalk(phase);
    try {
      const matcher = this.matchFile;
      const output = this.output;
      // Without a file pattern the walker's threads can write the wire text themselves.
      const encode = matcher === null && output.compensatingEncoded !== undefined;
      const it = this.walker.walk(this.paths.root, {
        ...options,
        encode,
        batchRows: encode ? ENCODED_WALK_BATCH_ROWS : options.batchRows,
        signal: this.abort.signal,
        exclude: matcher === null ? undefined : (rel, isDir) => !isDir && !matcher(baseName(rel)),
        onError: (rel, code) => this.noteUnreadable(rel, code),
      });
      for await (const batch of it) {
        if (seq === this.walkStatus.seq) {
          this.walkStatus.dirs = batch.progress.dirs;
          this.walkStatus.files = batch.progress.files;
          this.walkStatus.rate = batch.progress.filesPerSec;
        }
        const enc = batch.encoded;
        if (enc !== undefined && output.compensatingEncoded !== undefined) {
          this.feedWatchSetRecency(enc.dirRecency);
          await output.compensatingEncoded(enc, source);
        } else {
          this.feedWatchSet(batch.rows);
          await output.compensating(batch.rows, source);
        }
      }
    } finally {
      this.endWalk(seq);
    }
  }

  private beginWalk(phase: WalkPhase): number {
    const seq = ++this.walkSeq;
    this.walkStatus = { seq, phase, dirs: 0, files: 0, rate: 0 };
    return seq;
  }

  private endWalk(seq: number): void {
    if (this.walkStatus.seq === seq) this.walkStatus.phase = 'idle';
  }

  // ──────────────────────────── sentinel ────────────────────────────

  /** Stats each view-relative path: `exists` with mtime/size, or `missing`. Unreadable or invalid paths are left out. */
  async sentinel(paths: string[]): Promise<SentinelUpdate[]> {
    const out: (SentinelUpdate | null)[] = new Array<SentinelUpdate | null>(paths.length).fill(null);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < paths.length) {
        const i = next++;
        const path = paths[i];
        if (pathProblem(path) !== null) continue;
        try {
          const st = await lstat(fsPath(this.paths.toAbs(path)));
          out[i] = { path, status: 'exists', mtime: st.mtimeMs / 1000, size: st.size };
        } catch (error) {
          const code = errnoCode(error);
          if (code === 'ENOENT' || code === 'ENOTDIR') out[i] = { path, status: 'missing' };
          else this.noteUnreadable(path, code);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, paths.length) }, worker));
    return out.filter((u): u is SentinelUpdate => u !== null);
  }

  // ───────────────────────── degraded, audits ─────────────────────────

  private degrade(reason: string, clearAfterAudit: number | null): void {
    this.degradedReasons.set(reason, { clearAfterAudit });
  }

  /** Asks for an audit of `subPath`: the owner's hook, or our own (coalesced, after auditDelayMs). */
  private requestAudit(reason: string, subPath: string): void {
    if (this.closed) return;
    if (this.opts.onAuditNeeded) {
      try {
        this.opts.onAuditNeeded(reason, subPath);
      } catch (error) {
        this.noteError('onAuditNeeded threw', error);
      }
      return;
    }
    if (this.pendingAudits.size >= MAX_PENDING_AUDITS) {
      this.pendingAudits.clear();
      subPath = '/';
    }
    this.pendingAudits.add(subPath);
    this.armAuditTimer(this.opts.auditDelayMs ?? 250);
  }

  private armAuditTimer(delayMs: number): void {
    if (this.auditTimer !== null || this.closed) return;
    this.auditTimer = setTimeout(() => {
      this.auditTimer = null;
      void this.runPendingAudits();
    }, delayMs);
  }

  private async runPendingAudits(): Promise<void> {
    let subs = [...this.pendingAudits];
    this.pendingAudits.clear();
    if (subs.includes('/')) subs = ['/'];
    // Keep only the outermost sub-trees.
    subs = subs.filter((s) => !subs.some((o) => o !== s && isWithin(s, o)));
    try {
      for (const s of subs) await this.runAudit(s);
      this.auditRetries = 0;
    } catch (error) {
      if (this.closed) return;
      this.noteError('scheduled audit failed', error);
      for (const s of subs) this.pendingAudits.add(s);
      this.auditRetries++;
      this.armAuditTimer(Math.min(60_000, 1000 * 2 ** Math.min(6, this.auditRetries)));
    }
  }

  // ─────────────────────────── helper restarts ───────────────────────────

  private onReaderError(error: Error): void {
    if (this.closed) return;
    if (error instanceof InotifyHelperError && error.reason === 'exited') {
      this.noteError('inotify helper exited', error);
      this.degrade(DEGRADED.helperExited, null);
      this.pairer.flush();
      this.throttle.clear();
      this.expectedMoveSelf.clear();
      const held = this.watches.drain();
      if (held.length > 0) this.savedWatches = held;
      this.scheduleRestart();
      return;
    }
    this.noteError('inotify reader', error);
  }

  private scheduleRestart(): void {
    if (this.closed || this.restartTimer !== null) return;
    const initial = this.opts.restartBackoff?.initialMs ?? 500;
    const maxMs = this.opts.restartBackoff?.maxMs ?? 60_000;
    const ceiling = Math.min(maxMs, initial * 2 ** Math.min(20, this.restartAttempts));
    const delay = this.restartAttempts === 0 ? initial : Math.random() * ceiling; // full jitter after the first
    this.restartAttempts++;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      void this.restart();
    }, delay);
    this.restartTimer.unref?.();
  }

  private async restart(): Promise<void> {
    if (this.closed) return;
    try {
      await this.reader.start();
    } catch (error) {
      this.noteError('inotify reader restart failed', error);
      this.scheduleRestart();
      return;
    }
    this.log.info({ pipe: this.pipeId, watches: this.savedWatches.length }, 'fs source: inotify reader restarted: re-adding watches');
    this.restartAttempts = 0;
    const saved = this.savedWatches;
    this.savedWatches = [];
    // Most recent first, so the limit keeps the same directories; then a crawl for directories created meanwhile.
    for (let i = 0; i < saved.length; i += 256) {
      await Promise.all(saved.slice(i, i + 256).map((e) => this.ensureWatched(e.path, e.recency, true)));
    }
    await this.watchTree();
    // Events were lost while there was no reader: the next audit repairs that, then the reasons clear.
    for (const reason of [DEGRADED.helperUnavailable, DEGRADED.helperExited]) {
      if (this.degradedReasons.has(reason)) this.degrade(reason, this.auditSeq);
    }
    this.requestAudit('inotify helper restarted', '/');
  }

  // ───────────────────────────── misc ─────────────────────────────

  private fileWanted(path: string): boolean {
    return this.matchFile === null || this.matchFile(baseName(path));
  }

  private async lstatRel(path: string): Promise<Stats | null> {
    try {
      return await lstat(fsPath(this.paths.toAbs(path)));
    } catch (error) {
      const code = errnoCode(error);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') this.noteUnreadable(path, code);
      return null;
    }
  }

  /** Logs an unreadable path once (per source, up to MAX_LOGGED_PATHS paths). */
  private noteUnreadable(path: string, code: string): void {
    if (code === 'ENOENT') return; // vanished during a walk: not an error worth a line
    if (this.loggedPaths.has(path)) return;
    if (this.loggedPaths.size < MAX_LOGGED_PATHS) {
      this.loggedPaths.add(path);
      this.log.warn({ pipe: this.pipeId, path, code }, 'fs source: path skipped (unreadable)');
    } else {
      this.log.debug({ pipe: this.pipeId, path, code }, 'fs source: path skipped (unreadable)');
    }
  }

  private noteError(what: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.lastError = `${what}: ${message}`;
    this.log.warn({ pipe: this.pipeId, err: message }, `fs source: ${what}`);
  }

  status(): FsSourceStatus {
    const w = this.walkStatus;
    return {
      watchCount: this.watches.activeCount,
      watchLimit: this.watches.limit,
      degraded: [...this.degradedReasons.keys()],
      walk: { phase: w.phase, dirs: w.dirs, files: w.files, rate: w.rate },
      eventsPerSec: this.rate.rate(),
      overflowCount: this.overflowCount,
      lastError: this.lastError,
    };
  }

  /** Process id of the inotify helper (diagnostics, tests). */
  get helperPid(): number | undefined {
    return this.reader.pid;
  }

  /** Paths currently watched (diagnostics, tests). */
  watchedPaths(): string[] {
    return [...this.watches.entries()].filter((e) => e.id !== 0).map((e) => e.path);
  }

  /** Handles an overflow as if the kernel had reported one (tests, diagnostics). */
  simulateOverflow(): void {
    this.onOverflow();
  }

  /** Stops everything: walks are aborted, the helper ends, queued realtime actions are dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort(new Error('fs source closed'));
    if (this.auditTimer !== null) clearTimeout(this.auditTimer);
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    this.auditTimer = null;
    this.restartTimer = null;
    this.pairer.dispose();
    this.queue = [];
    this.head = 0;
    this.pendingUpserts.clear();
    await this.reader.close();
    await this.auditChain;
    await this.walker.close();
  }

  dispose(): Promise<void> {
    return this.close();
  }
}

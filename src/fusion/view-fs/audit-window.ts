/**
 * The audit window (spec 20): which nodes the current audit has seen, for missing-item detection.
 *
 * Seen marks are an epoch column indexed by node id (no path strings: an audit of 10 M files must not
 * build a 10 M-entry Set). A node created while the window is open is stamped in `born`, and a reused
 * id loses its old seen mark at creation, so marks never leak from a freed node to a new one.
 *
 * Times: `startedAt` is the gateway wall clock at the start (stale-evidence protection compares
 * `last_updated_at` with it); `startWatermark` is the logical clock at the start (a node whose mtime is
 * newer changed after the scan began).
 */
import { grown, nextCapacity } from '../tree/grow.ts';

/** A start this soon after the window opened keeps what it has seen ("late start"). */
export const LATE_START_SECONDS = 5;

export class AuditWindow {
  isOpen = false;
  startedAt = 0;
  startWatermark = 0;
  cycleCount = 0;
  lastFinishedAt = 0;
  abandonedCount = 0;

  private epoch = 0;
  private seen = new Uint32Array(0);
  private born = new Uint32Array(0);
  private dirs: number[] = [];
  private rows = 0;

  /** Rows seen in the current window. */
  get rowCount(): number { return this.rows; }

  /**
   * Open a window (explicit `audit/start` or the first audit row). A start within LATE_START_SECONDS of
   * the opening of a window keeps that window, its seen rows and its (earlier) start time.
   * Returns true when a new window was opened.
   */
  start(now: number, watermark: number): boolean {
    if (this.isOpen && now - this.startedAt <= LATE_START_SECONDS) return false;
    this.epoch = (this.epoch + 1) >>> 0;
    if (this.epoch === 0) { // wrapped: old marks could collide
      this.seen.fill(0);
      this.born.fill(0);
      this.epoch = 1;
    }
    this.isOpen = true;
    this.startedAt = now;
    this.startWatermark = watermark;
    this.dirs = [];
    this.rows = 0;
    return true;
  }

  /** Close the window; `completed` counts a cycle (audit end), otherwise nothing is counted. */
  close(now: number, completed: boolean): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.dirs = [];
    this.rows = 0;
    this.epoch = (this.epoch + 1) >>> 0; // invalidate every mark at once
    if (completed) {
      this.cycleCount++;
      this.lastFinishedAt = now;
    }
  }

  abandon(now: number): void {
    if (!this.isOpen) return;
    this.close(now, false);
    this.abandonedCount++;
  }

  /** Called for every audit row that names an existing (or just created) node. */
  markSeen(id: number, isDirectory: boolean): void {
    this.rows++;
    if (id >= this.seen.length) this.growTo(id + 1);
    if (this.seen[id] === this.epoch) return;
    this.seen[id] = this.epoch;
    if (isDirectory) this.dirs.push(id);
  }

  /** Called for every node the tree creates (any source). */
  nodeCreated(id: number): void {
    if (id >= this.seen.length) {
      if (!this.isOpen) return; // a column that does not reach `id` holds no mark for it
      this.growTo(id + 1);
    }
    this.seen[id] = 0;
    this.born[id] = this.isOpen ? this.epoch : 0;
  }

  isSeen(id: number): boolean { return id < this.seen.length && this.seen[id] === this.epoch && this.isOpen; }
  bornInWindow(id: number): boolean { return id < this.born.length && this.born[id] === this.epoch && this.isOpen; }

  /** Directories seen in this window (may include ids freed since: check `isSeen`). */
  seenDirectories(): readonly number[] { return this.dirs; }

  reset(): void {
    this.isOpen = false;
    this.dirs = [];
    this.rows = 0;
    this.seen = new Uint32Array(0);
    this.born = new Uint32Array(0);
    this.epoch = 0;
    this.cycleCount = 0;
    this.lastFinishedAt = 0;
    this.abandonedCount = 0;
  }

  private growTo(n: number): void {
    const cap = nextCapacity(this.seen.length, n);
    this.seen = grown(this.seen, cap);
    this.born = grown(this.born, cap);
  }
}

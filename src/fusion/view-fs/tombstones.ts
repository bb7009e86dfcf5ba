/**
 * Tombstones (spec 20, rules 1 and 7): `path → {logicalTs, physicalTs}`, written by realtime deletes
 * only. `logicalTs` is the watermark at the delete (storage time domain) and gates resurrection: an
 * upsert at that path is accepted only when its mtime is newer. `physicalTs` is the gateway wall clock
 * and drives the TTL purge, which runs at audit end.
 *
 * Beyond the spec's exact-path gate, a tombstoned *directory* also blocks compensating rows below it
 * whose mtime is not newer than its logical ts: a stale audit row for `/d/f` arriving after a realtime
 * `rm -rf /d` or `mv /d` out of the watch would otherwise resurrect `/d` as a placeholder directory.
 * This check runs only while directory tombstones exist.
 */
import { parentPath } from '../../protocol/index.ts';

/** Float tolerance of the gate (the predecessor's 1e-5: mtimes travel as JSON floats). */
export const TOMBSTONE_EPSILON = 1e-5;

export interface Tombstone { logicalTs: number; physicalTs: number; isDirectory: boolean }

export class Tombstones {
  private readonly map = new Map<string, Tombstone>();
  private dirCount = 0;

  get size(): number { return this.map.size; }
  get directoryCount(): number { return this.dirCount; }

  get(path: string): Tombstone | undefined { return this.map.get(path); }
  has(path: string): boolean { return this.map.has(path); }

  add(path: string, logicalTs: number, physicalTs: number, isDirectory: boolean): void {
    const old = this.map.get(path);
    if (old?.isDirectory) this.dirCount--;
    this.map.set(path, { logicalTs, physicalTs, isDirectory });
    if (isDirectory) this.dirCount++;
  }

  delete(path: string): boolean {
    const old = this.map.get(path);
    if (old === undefined) return false;
    if (old.isDirectory) this.dirCount--;
    return this.map.delete(path);
  }

  /**
   * Rule 1 for an upsert of `path` with `mtime`: 'pass' (no tombstone), 'recreated' (the own tombstone
   * was older: it is dropped, the row applies) or 'blocked' (drop the row). `ancestors` adds the
   * directory-tombstone check described at the top.
   */
  gate(path: string, mtime: number, ancestors: boolean): 'pass' | 'recreated' | 'blocked' {
    if (this.map.size === 0) return 'pass';
    const own = this.map.get(path);
    if (own !== undefined) {
      if (mtime > own.logicalTs + TOMBSTONE_EPSILON) {
        this.delete(path);
        return 'recreated';
      }
      return 'blocked';
    }
    if (ancestors && this.dirCount > 0) {
      for (let p = parentPath(path); p !== '/'; p = parentPath(p)) {
        const t = this.map.get(p);
        if (t !== undefined && t.isDirectory && mtime <= t.logicalTs + TOMBSTONE_EPSILON) return 'blocked';
      }
    }
    return 'pass';
  }

  /** A node now exists at `path`: directory tombstones of its ancestors no longer describe the disk. */
  dropAncestors(path: string): void {
    if (this.dirCount === 0) return;
    for (let p = parentPath(path); p !== '/'; p = parentPath(p)) {
      const t = this.map.get(p);
      if (t !== undefined && t.isDirectory) this.delete(p);
    }
  }

  /** Drop tombstones whose physical ts is older than `before`. Returns how many. */
  purge(before: number): number {
    let n = 0;
    for (const [path, t] of this.map) {
      if (t.physicalTs < before) {
        this.delete(path);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    this.map.clear();
    this.dirCount = 0;
  }
}

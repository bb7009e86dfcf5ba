/**
 * The audit's memory of directory mtimes (spec 40, "Audit"): view-relative directory path → mtime in
 * float seconds, as the walker last listed it. A directory whose mtime still equals the cached one is
 * "silent" and its files are not listed again.
 *
 * Bound: at most `maxEntries` directories (default 1,000,000). Every `set` moves the path to the young
 * end; when full, the entry set longest ago goes. An audit sets every directory it visits, so what
 * falls out first is what the walk no longer sees (deleted or renamed directories). Losing an entry is
 * always safe: that directory is listed in full at the next audit. Cost: roughly 100–150 bytes per
 * entry (a Map slot, the path string, a heap number), so the default bound is ~150 MB at worst; a
 * typical tree has one directory per 50–500 files.
 *
 * Persistence (optional; the spec keeps the cache in memory and clears it on a new session or a
 * promotion): `save(file)` writes JSON lines `["/path",mtime]` in age order through a temporary file
 * and a rename; `load(file)` reads them back. JSON keeps the surrogate escapes of non-UTF-8 names
 * (`\udcXX`) and every double exactly.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises';

export const DEFAULT_DIR_MTIME_CACHE_ENTRIES = 1_000_000;

export class DirMtimeCache {
  readonly maxEntries: number;
  private readonly map = new Map<string, number>();

  constructor(opts: { maxEntries?: number } = {}) {
    const max = opts.maxEntries ?? DEFAULT_DIR_MTIME_CACHE_ENTRIES;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxEntries must be a positive integer, got ${max}`);
    this.maxEntries = max;
  }

  get size(): number {
    return this.map.size;
  }

  get(path: string): number | undefined {
    return this.map.get(path);
  }

  has(path: string): boolean {
    return this.map.has(path);
  }

  /** Records `mtime` for `path` and makes it the youngest entry; evicts the oldest beyond the bound. */
  set(path: string, mtime: number): this {
    const map = this.map;
    if (map.has(path)) map.delete(path);
    map.set(path, mtime);
    if (map.size > this.maxEntries) {
      const oldest = map.keys().next();
      if (oldest.done !== true) map.delete(oldest.value);
    }
    return this;
  }

  delete(path: string): boolean {
    return this.map.delete(path);
  }

  clear(): void {
    this.map.clear();
  }

  /** Entries oldest first. */
  entries(): IterableIterator<[string, number]> {
    return this.map.entries();
  }

  [Symbol.iterator](): IterableIterator<[string, number]> {
    return this.map.entries();
  }

  /** Writes the cache as JSON lines (mode 0600), atomically: a reader sees the old file or the new one. */
  async save(file: string): Promise<void> {
    const tmp = `${file}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      let buf = '';
      for (const [path, mtime] of this.map) {
        buf += `${JSON.stringify([path, mtime])}\n`;
        if (buf.length >= 1 << 20) {
          await fh.write(buf);
          buf = '';
        }
      }
      if (buf.length > 0) await fh.write(buf);
      await fh.sync();
    } catch (e) {
      await fh.close();
      await rm(tmp, { force: true });
      throw e;
    }
    await fh.close();
    await rename(tmp, file);
  }

  /**
   * Replaces the contents with those saved in `file`; returns the number of entries kept. A missing
   * file leaves the cache empty (returns 0); malformed lines are skipped. The bound still applies: from
   * a larger file the youngest entries stay.
   */
  async load(file: string): Promise<number> {
    this.map.clear();
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw e;
    }
    try {
      for await (const line of fh.readLines({ encoding: 'utf8' })) {
        if (line === '') continue;
        let entry: unknown;
        try {
          entry = JSON.parse(line);
        } catch {
          continue;
        }
        if (Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string' && typeof entry[1] === 'number') {
          this.set(entry[0], entry[1]);
        }
      }
    } finally {
      await fh.close();
    }
    return this.map.size;
  }
}

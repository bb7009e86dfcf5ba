/**
 * The walker's worker thread: lists the directories it is handed with synchronous `readdirSync` +
 * `lstatSync` (the fastest way Node has to read metadata, reference §B.2) and posts the rows back in
 * columnar chunks (messages.ts). It never follows symbolic links: a link is a file row of its own lstat.
 *
 * Names: directories are read as UTF-8 strings first. Node replaces every byte sequence that is not
 * valid UTF-8 with U+FFFD, so a listing without U+FFFD is exact; a listing with one is read again as
 * Buffers, and names that are not valid UTF-8 are decoded with `decodeName` (surrogate escapes, spec 10).
 * A path holding such a name is turned back into bytes with `encodeName` for every fs call.
 *
 * Pace: before each directory and after each full chunk the worker checks the walk's shared counter of
 * unconsumed rows and sleeps (Atomics.wait) while it is at the limit, so the consumer sets the pace.
 *
 * Loaded by worker-pool.ts through tsx; the main thread never imports this file.
 */
import { isUtf8 } from 'node:buffer';
import { lstatSync, readdirSync, statSync, type Dirent, type Stats } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { decodeName, encodeName, parentPath } from '../../../protocol/paths.ts';
import {
  CTL_ABORT, CTL_HUNGRY, CTL_LIMIT, CTL_OUTSTANDING,
  F_CACHE_DELETE, F_CACHE_SET, F_DIR, F_NO_PARENT, F_REPEAT, F_SELF, F_SKIPPED,
  type ChunkMessage, type ToWorker, type WalkMode, type WorkMessage,
} from './messages.ts';
import { encodeColumns } from './row-text.ts';

const NO_THROW = { throwIfNoEntry: false } as const;
const WITH_TYPES = { withFileTypes: true } as const;
const WITH_TYPES_BUFFER = { withFileTypes: true, encoding: 'buffer' } as const;
const SLASH = Buffer.from('/');
/** Any UTF-16 surrogate: the path may hold an escaped byte and must go through encodeName. */
const SURROGATE = /[\ud800-\udfff]/;

/** A listing entry: typed (Dirent) or a plain name (string or bytes). */
type Entry = Dirent | Dirent<Buffer> | string | Buffer;

function errnoCode(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

/** Growable column buffers for one chunk of rows. */
class Chunk {
  n = 0;
  names: string[] = [];
  seg: Uint32Array;
  size: Float64Array;
  mtime: Float64Array;
  ctime: Float64Array;
  flags: Uint8Array;
  segDirs: string[] = [];
  segMtimes: number[] = [];
  subdirs: string[] = [];
  errors: string[] = [];
  done = 0;
  /** Bumped on every reset, so a row index can be checked for still being in this chunk. */
  generation = 0;

  constructor(readonly cap: number, private readonly encode: boolean, private readonly audit: boolean) {
    this.seg = new Uint32Array(cap);
    this.size = new Float64Array(cap);
    this.mtime = new Float64Array(cap);
    this.ctime = new Float64Array(cap);
    this.flags = new Uint8Array(cap);
  }

  get empty(): boolean {
    return this.n === 0 && this.subdirs.length === 0 && this.errors.length === 0 && this.done === 0;
  }

  openSegment(dir: string, mtime: number): void {
    this.segDirs.push(dir);
    this.segMtimes.push(mtime);
  }

  add(name: string, st: Stats, flags: number): number {
    const i = this.n++;
    this.names.push(name);
    this.seg[i] = this.segDirs.length - 1;
    this.size[i] = st.size;
    this.mtime[i] = st.mtimeMs / 1000;
    this.ctime[i] = st.ctimeMs / 1000;
    this.flags[i] = flags;
    return i;
  }

  /** The message for the rows so far, then an empty chunk (same open segment, if any). */
  take(final: boolean, returned: string[]): { msg: ChunkMessage; transfer: ArrayBuffer[] } {
    const n = this.n;
    const big = n * 4 >= this.cap;
    // A full chunk gives its arrays away; a small one sends copies and keeps them.
    const cut = <T extends Uint32Array | Float64Array | Uint8Array>(a: T): T => (big ? a : (a.slice(0, n) as T));
    const json = this.encode && n > 0 ? encodeColumns(this, this.audit) : undefined;
    const msg: ChunkMessage = {
      t: 'chunk', final, n, names: this.encode ? '' : this.names.join('/'), json,
      seg: cut(this.seg), segDirs: this.segDirs, segMtimes: Float64Array.from(this.segMtimes),
      size: cut(this.size), mtime: cut(this.mtime), ctime: cut(this.ctime), flags: cut(this.flags),
      subdirs: this.subdirs, returned, done: this.done, errors: this.errors,
    };
    const transfer: ArrayBuffer[] = [msg.segMtimes.buffer as ArrayBuffer];
    if (big) {
      transfer.push(msg.seg.buffer as ArrayBuffer, msg.size.buffer as ArrayBuffer, msg.mtime.buffer as ArrayBuffer, msg.ctime.buffer as ArrayBuffer, msg.flags.buffer as ArrayBuffer);
      this.seg = new Uint32Array(this.cap);
      this.size = new Float64Array(this.cap);
      this.mtime = new Float64Array(this.cap);
      this.ctime = new Float64Array(this.cap);
      this.flags = new Uint8Array(this.cap);
    }
    const openDir = this.segDirs.length > 0 ? this.segDirs[this.segDirs.length - 1] : null;
    const openMtime = this.segMtimes.length > 0 ? this.segMtimes[this.segMtimes.length - 1] : NaN;
    this.n = 0;
    this.names = [];
    this.segDirs = [];
    this.segMtimes = [];
    this.subdirs = [];
    this.errors = [];
    this.done = 0;
    this.generation++;
    if (openDir !== null) this.openSegment(openDir, openMtime);
    return { msg, transfer };
  }
}

class WalkState {
  readonly rootDir: string;
  readonly rootPrefix: string;
  readonly rootPrefixBytes: Buffer;
  readonly audit: boolean;
  readonly ctl: Int32Array;
  readonly chunk: Chunk;

  constructor(root: string, mode: WalkMode, chunkRows: number, encode: boolean, ctl: SharedArrayBuffer, private readonly post: (m: ChunkMessage, t: ArrayBuffer[]) => void) {
    this.rootDir = root;
    this.rootPrefix = root === '/' ? '' : root;
    this.rootPrefixBytes = Buffer.from(this.rootPrefix);
    this.audit = mode === 'audit';
    this.ctl = new Int32Array(ctl);
    this.chunk = new Chunk(Math.max(1, chunkRows), encode, this.audit);
  }

  get aborted(): boolean {
    return Atomics.load(this.ctl, CTL_ABORT) !== 0;
  }

  /** Sleeps while the consumer is behind. False when the walk was aborted. */
  private waitForRoom(): boolean {
    const ctl = this.ctl;
    for (;;) {
      if (Atomics.load(ctl, CTL_ABORT) !== 0) return false;
      const cur = Atomics.load(ctl, CTL_OUTSTANDING);
      if (cur < Atomics.load(ctl, CTL_LIMIT)) return true;
      Atomics.wait(ctl, CTL_OUTSTANDING, cur, 250);
    }
  }

  flush(final: boolean, returned: string[] = []): void {
    const { msg, transfer } = this.chunk.take(final, returned);
    if (msg.n > 0) Atomics.add(this.ctl, CTL_OUTSTANDING, msg.n);
    this.post(msg, transfer);
  }

  /** Room for one more row: a full chunk is posted first (and the worker may pause there). False: aborted. */
  private room(): boolean {
    if (this.chunk.n < this.chunk.cap) return true;
    this.flush(false);
    return this.waitForRoom();
  }

  private fail(path: string, code: string): void {
    this.chunk.errors.push(path, code);
  }

  private absPath(rel: string): string | Buffer {
    if (!SURROGATE.test(rel)) return rel === '/' ? this.rootDir : this.rootPrefix + rel;
    return Buffer.concat([this.rootPrefixBytes, encodeName(rel)]);
  }

  run(msg: WorkMessage): void {
    const items = msg.rel;
    let i = 0;
    for (; i < items.length; i++) {
      if (!this.waitForRoom()) break;
      this.listDirectory(items[i], msg.cached[i], msg.start);
      this.chunk.done++;
      // Another worker is idle: hand over what we found (and half of what we still hold) now.
      if (Atomics.load(this.ctl, CTL_HUNGRY) !== 0 && (this.chunk.subdirs.length > 0 || items.length - i > 2)) {
        const left = items.length - i - 1;
        const give = left >= 2 ? Math.floor(left / 2) : 0;
        const returned = give > 0 ? items.splice(items.length - give, give) : [];
        this.flush(false, returned);
      }
    }
    // Aborted: the rest is neither listed nor returned; the main thread is tearing the walk down.
    this.chunk.done += items.length - i;
    this.flush(true);
  }

  /** A row for a path that is not a directory: the start of a scan, or a directory replaced meanwhile. */
  private lone(rel: string, st: Stats): void {
    if (!this.room()) return;
    this.chunk.openSegment(parentPath(rel), NaN);
    const name = rel === '/' ? '' : rel.slice(rel.lastIndexOf('/') + 1);
    this.chunk.add(name, st, this.audit ? F_NO_PARENT : 0);
  }

  /**
   * The listing of `rel`'s parent missed `rel` (an lstat failure other than ENOENT): in an audit, send
   * the parent again with `audit_skipped: true` so that the gateway does not take `rel` for deleted.
   */
  private correctParent(rel: string): void {
    if (!this.audit || rel === '/') return;
    const parent = parentPath(rel);
    let st: Stats | undefined;
    try {
      st = lstatSync(this.absPath(parent), NO_THROW);
    } catch {
      return;
    }
    if (st === undefined || !st.isDirectory()) return;
    if (!this.room()) return;
    const mtime = st.mtimeMs / 1000;
    this.chunk.openSegment(parent, mtime);
    this.chunk.add('', st, F_DIR | F_SELF | F_SKIPPED | F_CACHE_DELETE | F_REPEAT);
  }

  private listDirectory(rel: string, cached: number, start: boolean): void {
    const abs = this.absPath(rel);
    let st: Stats | undefined;
    try {
      // The configured root may itself be a symlink (e.g. a mount alias): follow that one only.
      st = start && rel === '/' ? statSync(abs, NO_THROW) : lstatSync(abs, NO_THROW);
    } catch (e) {
      const code = errnoCode(e);
      this.fail(rel, code);
      if (!start && code !== 'ENOENT' && code !== 'ENOTDIR') this.correctParent(rel);
      return;
    }
    if (st === undefined) {
      this.fail(rel, 'ENOENT');
      return;
    }
    if (!st.isDirectory()) {
      this.lone(rel, st);
      return;
    }

    const mtime = st.mtimeMs / 1000;
    const listing = this.read(rel, abs);
    if (listing === null) return; // gone: no row
    if (listing === 'unreadable') {
      // The directory exists; in an audit its children must not be judged missing.
      if (!this.room()) return;
      this.chunk.openSegment(rel, mtime);
      this.chunk.add('', st, F_DIR | F_SELF | (this.audit ? F_SKIPPED | F_CACHE_DELETE : 0));
      return;
    }

    const silent = this.audit && mtime === cached;
    const chunk = this.chunk;
    if (!this.room()) return;
    chunk.openSegment(rel, mtime);
    const selfGen = chunk.generation;
    const selfIdx = chunk.add('', st, F_DIR | F_SELF | (this.audit ? (silent ? F_SKIPPED | F_CACHE_SET : F_CACHE_SET) : 0));
    const relPrefix = rel === '/' ? '/' : `${rel}/`;
    // String paths while the directory path and all names are plain strings; byte paths otherwise
    // (`bytes`: the entries are Buffers).
    const absPrefix = typeof abs === 'string' && !listing.bytes ? (abs === '/' ? '/' : `${abs}/`) : null;
    const absBytes = absPrefix === null ? (typeof abs === 'string' ? Buffer.from(abs) : abs) : SLASH; // SLASH: unused
    const entries = listing.entries;
    let incomplete = false;

    for (let k = 0; k < entries.length; k++) {
      const e = entries[k];
      let typed: Dirent | Dirent<Buffer> | null = null;
      let raw: string | Buffer;
      if (typeof e === 'string' || Buffer.isBuffer(e)) raw = e;
      else {
        typed = e;
        raw = e.name;
      }
      let name: string;
      let child: string | Buffer;
      if (typeof raw === 'string') {
        name = raw;
        child = absPrefix !== null ? absPrefix + raw : Buffer.concat([absBytes, SLASH, Buffer.from(raw)]);
      } else {
        name = isUtf8(raw) ? raw.toString('utf8') : decodeName(raw);
        child = Buffer.concat([absBytes, SLASH, raw]);
      }
      const childRel = relPrefix + name;
      if (typed !== null) {
        if (typed.isDirectory()) {
          chunk.subdirs.push(childRel);
          continue;
        }
        if (silent) continue; // a silent directory's files are not listed
      }
      let cst: Stats | undefined;
      try {
        cst = lstatSync(child, NO_THROW);
      } catch (err) {
        this.fail(childRel, errnoCode(err));
        incomplete = true;
        continue;
      }
      if (cst === undefined) {
        this.fail(childRel, 'ENOENT'); // vanished since the listing: it is gone, not missed
        continue;
      }
      if (cst.isDirectory()) {
        chunk.subdirs.push(childRel); // type unknown at listing time, or replaced by a directory
        continue;
      }
      if (silent) continue;
      if (!this.room()) return;
      chunk.add(name, cst, 0);
    }

    if (incomplete && this.audit) {
      // Some child could not be stat'ed: the listing is not complete evidence of what is missing.
      if (chunk.generation === selfGen) {
        chunk.flags[selfIdx] = (chunk.flags[selfIdx] & ~F_CACHE_SET) | F_SKIPPED | F_CACHE_DELETE;
      } else {
        if (!this.room()) return;
        chunk.openSegment(rel, mtime);
        chunk.add('', st, F_DIR | F_SELF | F_SKIPPED | F_CACHE_DELETE | F_REPEAT);
      }
    }
  }

  /**
   * Lists a directory: entries with types when possible (UTF-8 strings, or Buffers when a name is not
   * valid UTF-8), plain names when typed listing failed on an entry that vanished. Null when the
   * directory is gone; 'unreadable' when it exists but cannot be listed. Errors are recorded.
   */
  private read(rel: string, abs: string | Buffer): { entries: Entry[]; bytes: boolean } | 'unreadable' | null {
    let code: string;
    try {
      const entries = readdirSync(abs, WITH_TYPES);
      for (let k = 0; k < entries.length; k++) {
        if (entries[k].name.includes('\ufffd')) return { entries: readdirSync(abs, WITH_TYPES_BUFFER), bytes: true };
      }
      return { entries, bytes: false };
    } catch (e) {
      code = errnoCode(e);
    }
    if (code === 'ENOENT') {
      // With file types, Node lstat's entries of unknown type itself and throws when one has vanished;
      // a plain listing tells that apart from the directory itself having gone.
      try {
        return { entries: readdirSync(abs, 'buffer'), bytes: true };
      } catch (e) {
        code = errnoCode(e);
      }
    }
    this.fail(rel, code);
    return code === 'ENOENT' || code === 'ENOTDIR' ? null : 'unreadable';
  }
}

function main(): void {
  const port = parentPort;
  if (port === null) throw new Error('walk-worker.ts must run in a worker thread');
  let state: WalkState | null = null;
  const post = (m: ChunkMessage, transfer: ArrayBuffer[]): void => port.postMessage(m, transfer);
  port.on('message', (msg: ToWorker) => {
    if (msg.t === 'begin') {
      state = new WalkState(msg.root, msg.mode, msg.chunkRows, msg.encode, msg.ctl, post);
      return;
    }
    if (state === null) throw new Error('walk-worker: work before begin');
    state.run(msg);
  });
}

main();

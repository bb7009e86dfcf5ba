/**
 * Parallel directory walker for snapshots, audits and on-demand scans (spec 40, "Walk" and "Audit").
 *
 * The main thread keeps the queue of directories still to list — a stack, so the walk goes depth-first
 * and the queue stays proportional to depth × fan-out rather than to the size of the tree — and hands
 * them out in small groups to worker threads (walk-worker.ts) that list them synchronously. Workers send
 * back rows and the subdirectories they found; the main thread turns rows into objects, re-batches them
 * and serves them to the consumer's `for await`. A directory is handed out only after the rows of its
 * parent have been queued, so a parent's row always comes before its children's rows.
 *
 * Bounded memory: workers pause while `maxBufferedBatches × batchRows` rows wait unconsumed (a counter
 * shared with the workers), so the consumer sets the pace and a 10 M-file tree is never held whole.
 */
import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { badRequest } from '../../../kernel/errors.ts';
import type { Disposable } from '../../../kernel/disposable.ts';
import { baseName, pathProblem } from '../../../protocol/paths.ts';
import type { DirMtimeCache } from './dir-mtime-cache.ts';
import {
  CTL_ABORT, CTL_HUNGRY, CTL_LIMIT, CTL_OUTSTANDING, CTL_SLOTS,
  F_CACHE_DELETE, F_CACHE_SET, F_NO_PARENT, F_REPEAT, F_SELF, F_SKIPPED,
  type ChunkMessage, type WalkMode,
} from './messages.ts';
import { fieldsText } from './row-text.ts';
import { WorkerPool, type PooledWorker, type WorkerOwner } from './worker-pool.ts';
import type { EncodedWalkRows, WalkBatch, WalkOptions, WalkProgress, WalkRow } from './types.ts';

export const DEFAULT_BATCH_ROWS = 1000;
export const DEFAULT_MAX_BUFFERED_BATCHES = 4;
export const DEFAULT_MAX_BATCH_DELAY_MS = 1000;
/** Work messages a worker may have queued, so it never waits for the main thread between two. */
const MAX_INFLIGHT = 4;
/** Directories per work message at most (fewer when the queue is short, to spread them). */
const MAX_ITEMS = 64;
/** Rows per worker message at most (batches are re-cut on the main thread; this only sizes buffers). */
const MAX_CHUNK_ROWS = 4096;

export interface WalkerOptions {
  /** Worker threads stay this long after a walk for the next one (default 15 s; 0: end them at once). */
  idleTimeoutMs?: number;
}

/** A batch of an encoded walk: the wire text, and row objects only if someone asks for them. */
class EncodedBatch implements WalkBatch {
  private parsed: WalkRow[] | null = null;

  constructor(readonly encoded: EncodedWalkRows, public progress: WalkProgress) {}

  get rows(): WalkRow[] {
    this.parsed ??= JSON.parse(`[${this.encoded.texts.join(',')}]`) as WalkRow[];
    return this.parsed;
  }
}

interface Sealed {
  batch: WalkBatch;
  /** Raw rows (as counted by the workers) that this batch accounts for. */
  raw: number;
  /** Cache updates to apply once the batch is consumed: path, mtime (NaN = delete). */
  ops: (string | number)[];
}

export class Walker implements Disposable {
  private readonly pool: WorkerPool;
  private readonly runs = new Set<WalkRun>();

  constructor(opts: WalkerOptions = {}) {
    this.pool = new WorkerPool(opts.idleTimeoutMs ?? 15_000);
  }

  /** Worker threads alive: lent to walks, idle in the pool, or still terminating. */
  get workerCount(): number {
    return this.pool.size;
  }

  /**
   * Walks `root` (an absolute directory path) and yields batches of rows. Unreadable or vanished
   * entries are skipped, counted and reported through `onError`; they never end the walk. A missing
   * root or start path yields nothing (after `onError`).
   */
  walk(root: string, opts: WalkOptions): AsyncGenerator<WalkBatch, void, undefined> {
    return this.iterate(root, opts);
  }

  private async *iterate(root: string, opts: WalkOptions): AsyncGenerator<WalkBatch, void, undefined> {
    const run = new WalkRun(this.pool, checkRoot(root), opts);
    const signal = opts.signal;
    signal?.throwIfAborted();
    const onAbort = (): void => run.fail(signal?.reason ?? new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    this.runs.add(run);
    try {
      run.start();
      for (;;) {
        const sealed = await run.take();
        if (sealed === null) break;
        yield sealed.batch;
        run.commit(sealed); // the consumer asks for more: it is done with this batch
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.runs.delete(run);
      run.close();
    }
  }

  /**
   * Starts `n` worker threads now (they boot in the background, ~100–300 ms each) for a walk expected
   * soon; unused, they end after the idle timeout.
   */
  prewarm(n: number): void {
    this.pool.warm(Math.max(0, Math.min(256, Math.floor(n))));
  }

  /** Ends all worker threads; walks in progress fail. */
  async close(): Promise<void> {
    for (const run of this.runs) run.fail(new Error('walker closed'));
    await this.pool.close();
  }

  dispose(): Promise<void> {
    return this.close();
  }
}

let shared: Walker | null = null;

/** Walks with a process-wide Walker (idle threads are unref'd and do not keep the process alive). */
export function walk(root: string, opts: WalkOptions): AsyncGenerator<WalkBatch, void, undefined> {
  shared ??= new Walker();
  return shared.walk(root, opts);
}

function checkRoot(root: string): string {
  if (typeof root !== 'string' || !isAbsolute(root)) throw badRequest(`walk root must be an absolute path, got ${String(root)}`);
  return resolve(root);
}

function checkInt(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min || v > max) throw badRequest(`${name} must be an integer in [${min}, ${max}], got ${v}`);
  return v;
}

/** One walk: the queue, the workers lent to it, and the batches waiting for the consumer. */
class WalkRun implements WorkerOwner {
  private readonly mode: WalkMode;
  private readonly audit: boolean;
  private readonly encode: boolean;
  private readonly start0: string;
  private readonly batchRows: number;
  private readonly nWorkers: number;
  private readonly maxDelay: number;
  private readonly cache: DirMtimeCache | undefined;
  private readonly settledBefore: number;
  private readonly exclude: WalkOptions['exclude'];
  private readonly onError: WalkOptions['onError'];
  private readonly signal: AbortSignal | undefined;
  private readonly sab = new SharedArrayBuffer(CTL_SLOTS * 4);
  private readonly ctl = new Int32Array(this.sab);

  private workers: PooledWorker[] = [];
  private readonly stack: string[] = [];
  private inflightMsgs = 0;
  private inflightItems = 0;
  private readonly ready: Sealed[] = [];
  private rows: WalkRow[] = [];
  // The batch being formed in an encoded walk (instead of `rows`).
  private texts: string[] = [];
  private counts: number[] = [];
  private encRows = 0;
  private encFields = '';
  private recency: (string | number)[] = [];
  private raw = 0;
  private ops: (string | number)[] = [];
  private finished = false;
  private failure: { err: unknown } | null = null;
  private waiter: (() => void) | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly errorPaths = new Set<string>();
  private t0 = 0;
  private dirs = 0;
  private files = 0;
  private skippedDirs = 0;
  private errors = 0;
  private bytes = 0;

  constructor(private readonly pool: WorkerPool, private readonly root: string, opts: WalkOptions) {
    if (opts.mode !== 'snapshot' && opts.mode !== 'audit' && opts.mode !== 'scan') throw badRequest(`unknown walk mode ${String(opts.mode)}`);
    this.mode = opts.mode;
    this.audit = opts.mode === 'audit';
    const sub = opts.subPath ?? '/';
    const problem = pathProblem(sub);
    if (problem !== null) throw badRequest(`subPath: ${problem}`);
    this.start0 = sub;
    this.batchRows = checkInt('batchRows', opts.batchRows, DEFAULT_BATCH_ROWS, 1, 1_000_000);
    this.nWorkers = checkInt('workers', opts.workers, Math.min(4, availableParallelism()), 1, 256);
    const maxBatches = checkInt('maxBufferedBatches', opts.maxBufferedBatches, DEFAULT_MAX_BUFFERED_BATCHES, 1, 1_000_000);
    this.maxDelay = checkInt('maxBatchDelayMs', opts.maxBatchDelayMs, DEFAULT_MAX_BATCH_DELAY_MS, 0, 3_600_000);
    this.cache = this.audit ? opts.dirMtimeCache : undefined;
    this.settledBefore = opts.settledBefore ?? Infinity;
    this.exclude = opts.exclude;
    this.encode = opts.encode === true;
    if (this.encode && opts.exclude !== undefined) throw badRequest('an encoded walk cannot take exclude');
    this.onError = opts.onError;
    this.signal = opts.signal;
    // A full batch must always be able to form while the workers wait, or nothing would move.
    Atomics.store(this.ctl, CTL_LIMIT, Math.min(2 ** 31 - 1, this.batchRows * Math.max(2, maxBatches)));
  }

  start(): void {
    this.t0 = performance.now();
    this.workers = this.pool.acquire(this.nWorkers, this);
    for (const w of this.workers) w.post({ t: 'begin', root: this.root, mode: this.mode, chunkRows: Math.min(this.batchRows, MAX_CHUNK_ROWS), encode: this.encode, ctl: this.sab });
    const cached = new Float64Array([this.cache?.get(this.start0) ?? NaN]);
    const first = this.workers[0];
    first.post({ t: 'work', rel: [this.start0], cached, start: true }, [cached.buffer]);
    first.inflight++;
    this.inflightMsgs++;
    this.inflightItems++;
    this.dispatch();
  }

  /** The next sealed batch, or null when the walk is complete. Throws the failure or abort reason. */
  async take(): Promise<Sealed | null> {
    for (;;) {
      if (this.failure !== null) throw this.failure.err;
      if (this.signal?.aborted === true) throw this.signal.reason; // even when the walk itself is complete
      const next = this.ready.shift();
      if (next !== undefined) return this.handOut(next);
      if (this.finished) {
        if (this.formingRows === 0) return null;
        this.seal();
        continue;
      }
      await new Promise<void>((resolveWait) => {
        this.waiter = resolveWait;
        this.armFlushTimer();
      });
    }
  }

  /** Applies the cache updates of a batch the consumer is done with. */
  commit(sealed: Sealed): void {
    const cache = this.cache;
    if (cache === undefined) return;
    const ops = sealed.ops;
    for (let i = 0; i < ops.length; i += 2) {
      const path = ops[i] as string;
      const mtime = ops[i + 1] as number;
      if (Number.isNaN(mtime)) cache.delete(path);
      else cache.set(path, mtime);
    }
  }

  /** Stops the walk with an error (abort, worker crash, closed walker). */
  fail(err: unknown): void {
    if (this.failure !== null || this.finished) return;
    this.failure = { err };
    this.stopWorkers();
    this.wake();
  }

  /** The consumer is gone (done, broke out, or threw): free everything. */
  close(): void {
    if (!this.finished) this.stopWorkers();
    this.clearFlushTimer();
    this.ready.length = 0;
    this.rows = [];
    this.texts = [];
    this.counts = [];
    this.encRows = 0;
    this.recency = [];
  }

  /** Rows of the batch being formed. */
  private get formingRows(): number {
    return this.encode ? this.encRows : this.rows.length;
  }

  onFailure(_w: PooledWorker, err: Error): void {
    this.fail(err);
  }

  onMessage(w: PooledWorker, msg: ChunkMessage): void {
    if (this.failure !== null || this.finished) return;
    try {
      this.absorb(msg);
      this.reportErrors(msg.errors);
    } catch (e) {
      this.fail(e); // exclude or onError threw
      return;
    }
    const sub = msg.subdirs;
    const exclude = this.exclude;
    for (let k = sub.length - 1; k >= 0; k--) {
      const p = sub[k];
      if (exclude !== undefined) {
        try {
          if (exclude(p, true)) continue;
        } catch (e) {
          this.fail(e);
          return;
        }
      }
      this.stack.push(p);
    }
    const back = msg.returned;
    for (let k = back.length - 1; k >= 0; k--) this.stack.push(back[k]);
    this.inflightItems -= msg.done + back.length;
    if (msg.final) {
      w.inflight--;
      this.inflightMsgs--;
    }
    this.dispatch();
    if (this.ready.length > 0 || this.finished) this.wake();
    else if (this.waiter !== null) this.armFlushTimer();
  }

  private handOut(sealed: Sealed): Sealed {
    if (sealed.raw > 0) {
      Atomics.sub(this.ctl, CTL_OUTSTANDING, sealed.raw);
      Atomics.notify(this.ctl, CTL_OUTSTANDING);
    }
    sealed.batch.progress = this.progress();
    return sealed;
  }

  private progress(): WalkProgress {
    const elapsedMs = performance.now() - this.t0;
    const s = elapsedMs / 1000;
    return {
      dirs: this.dirs,
      files: this.files,
      skippedDirs: this.skippedDirs,
      errors: this.errors,
      bytes: this.bytes,
      queuedDirs: this.stack.length + this.inflightItems,
      bufferedRows: Atomics.load(this.ctl, CTL_OUTSTANDING),
      elapsedMs,
      filesPerSec: s > 0 ? this.files / s : 0,
      bytesPerSec: s > 0 ? this.bytes / s : 0,
    };
  }

  private dispatch(): void {
    if (this.failure !== null || this.finished) return;
    const stack = this.stack;
    const workers = this.workers;
    for (let round = 1; round <= MAX_INFLIGHT && stack.length > 0; round++) {
      for (const w of workers) {
        if (stack.length === 0) break;
        if (w.inflight >= round) continue;
        const k = Math.max(1, Math.min(MAX_ITEMS, Math.ceil(stack.length / (workers.length * MAX_INFLIGHT))));
        const rel = stack.splice(stack.length - k, k).reverse();
        const cached = new Float64Array(k);
        const cache = this.cache;
        for (let j = 0; j < k; j++) cached[j] = cache?.get(rel[j]) ?? NaN;
        w.post({ t: 'work', rel, cached, start: false }, [cached.buffer]);
        w.inflight++;
        this.inflightMsgs++;
        this.inflightItems += k;
      }
    }
    const hungry = stack.length === 0 && workers.some((w) => w.inflight === 0);
    Atomics.store(this.ctl, CTL_HUNGRY, hungry ? 1 : 0);
    if (stack.length === 0 && this.inflightMsgs === 0) this.finish();
  }

  private finish(): void {
    this.finished = true;
    for (const w of this.workers) this.pool.release(w);
    this.workers = [];
    this.wake();
  }

  private stopWorkers(): void {
    Atomics.store(this.ctl, CTL_ABORT, 1);
    Atomics.notify(this.ctl, CTL_OUTSTANDING);
    for (const w of this.workers) this.pool.discard(w);
    this.workers = [];
  }

  private wake(): void {
    this.clearFlushTimer();
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** While the consumer waits on a partial batch, hand it out after maxBatchDelayMs. */
  private armFlushTimer(): void {
    if (this.flushTimer !== null || this.formingRows === 0) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      if (this.formingRows > 0 && this.waiter !== null) {
        this.seal();
        this.wake();
      }
    }, this.maxDelay);
  }

  private clearFlushTimer(): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
  }

  private seal(): void {
    if (this.encode) {
      const encoded: EncodedWalkRows = { texts: this.texts, counts: this.counts, rows: this.encRows, fields: this.encFields, dirRecency: this.recency };
      this.ready.push({ batch: new EncodedBatch(encoded, this.progress()), raw: this.raw, ops: this.ops });
      this.texts = [];
      this.counts = [];
      this.encRows = 0;
      this.recency = [];
    } else {
      this.ready.push({ batch: { rows: this.rows, progress: this.progress() }, raw: this.raw, ops: this.ops });
    }
    this.rows = [];
    this.raw = 0;
    this.ops = [];
  }

  private reportErrors(errors: string[]): void {
    for (let i = 0; i < errors.length; i += 2) {
      const path = errors[i];
      if (this.errorPaths.has(path)) continue;
      this.errorPaths.add(path);
      this.errors++;
      this.onError?.(path, errors[i + 1]);
    }
  }

  /** An encoded chunk: its text joins the batch as is; the columns only feed counters, cache and recency. */
  private absorbEncoded(msg: ChunkMessage): void {
    const n = msg.n;
    if (n === 0) return;
    const { seg, segDirs, size, mtime, flags } = msg;
    const cache = this.cache;
    const rec = this.recency;
    let segAt = -1;
    let segMax = -Infinity;
    for (let i = 0; i < n; i++) {
      const f = flags[i];
      const s = seg[i];
      const m = mtime[i];
      if (s !== segAt) {
        if (segAt >= 0) rec.push(segDirs[segAt], segMax);
        segAt = s;
        segMax = m;
      } else if (m > segMax) {
        segMax = m;
      }
      if ((f & F_SELF) !== 0) {
        if ((f & F_REPEAT) === 0) {
          this.dirs++;
          if ((f & (F_SKIPPED | F_CACHE_SET)) === (F_SKIPPED | F_CACHE_SET)) this.skippedDirs++;
        }
        if (cache !== undefined) {
          if ((f & F_CACHE_SET) !== 0) this.ops.push(segDirs[s], m < this.settledBefore ? m : NaN);
          else if ((f & F_CACHE_DELETE) !== 0) this.ops.push(segDirs[s], NaN);
        }
      } else {
        this.files++;
        this.bytes += size[i];
      }
    }
    rec.push(segDirs[segAt], segMax);
    if (this.encRows === 0) this.encFields = fieldsText(this.audit, flags[0]);
    this.texts.push(msg.json ?? '');
    this.counts.push(n);
    this.encRows += n;
    this.raw += n;
    if (this.encRows >= this.batchRows) this.seal();
  }

  /** Turns a chunk's columns into row objects and batches. */
  private absorb(msg: ChunkMessage): void {
    if (this.encode) {
      this.absorbEncoded(msg);
      return;
    }
    const n = msg.n;
    if (n === 0) return;
    const names = msg.names.split('/');
    const { seg, segDirs, segMtimes, size, mtime, ctime, flags } = msg;
    const audit = this.audit;
    const exclude = this.exclude;
    const cache = this.cache;
    const batchRows = this.batchRows;
    let dropped = 0;
    for (let i = 0; i < n; i++) {
      const f = flags[i];
      const s = seg[i];
      const dir = segDirs[s];
      let row: WalkRow;
      if ((f & F_SELF) !== 0) {
        row = audit
          ? { path: dir, file_name: baseName(dir), size: size[i], modified_time: mtime[i], created_time: ctime[i], is_directory: true, audit_skipped: (f & F_SKIPPED) !== 0 }
          : { path: dir, file_name: baseName(dir), size: size[i], modified_time: mtime[i], created_time: ctime[i], is_directory: true };
        if ((f & F_REPEAT) === 0) {
          this.dirs++;
          if ((f & (F_SKIPPED | F_CACHE_SET)) === (F_SKIPPED | F_CACHE_SET)) this.skippedDirs++;
        }
        if (cache !== undefined) {
          if ((f & F_CACHE_SET) !== 0) this.ops.push(dir, mtime[i] < this.settledBefore ? mtime[i] : NaN);
          else if ((f & F_CACHE_DELETE) !== 0) this.ops.push(dir, NaN);
        }
      } else {
        const name = names[i];
        const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
        if (exclude !== undefined && path !== this.start0 && exclude(path, false)) {
          dropped++;
          continue;
        }
        row = audit && (f & F_NO_PARENT) === 0
          ? { path, file_name: name, size: size[i], modified_time: mtime[i], created_time: ctime[i], is_directory: false, parent_path: dir, parent_mtime: segMtimes[s] }
          : { path, file_name: name, size: size[i], modified_time: mtime[i], created_time: ctime[i], is_directory: false };
        this.files++;
        this.bytes += size[i];
      }
      this.rows.push(row);
      this.raw++;
      if (this.rows.length >= batchRows) this.seal();
    }
    if (dropped > 0) {
      Atomics.sub(this.ctl, CTL_OUTSTANDING, dropped);
      Atomics.notify(this.ctl, CTL_OUTSTANDING);
    }
  }
}

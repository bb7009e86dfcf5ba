/**
 * Worker threads for the walker. Starting one costs ~100–300 ms (tsx has to be registered inside the
 * thread before walk-worker.ts can load), so threads that finish a walk cleanly wait, unref'd, for the
 * next walk and are ended after `idleTimeoutMs`. A walk that fails or is aborted ends its threads at
 * once (`discard`): they may be in the middle of a directory.
 */
import { Worker } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './messages.ts';

const WORKER_URL = new URL('./walk-worker.ts', import.meta.url).href;

/** Workers don't inherit the tsx loader: register it inside the thread, then load the worker module. */
function bootSource(): string {
  const tsxApi = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL)}); })`;
}

/** Who receives a worker's messages while it is lent out. */
export interface WorkerOwner {
  onMessage(w: PooledWorker, msg: FromWorker): void;
  onFailure(w: PooledWorker, err: Error): void;
}

export class PooledWorker {
  owner: WorkerOwner | null = null;
  /** Work messages sent and not yet finished (owner's bookkeeping). */
  inflight = 0;
  alive = true;
  idleTimer: NodeJS.Timeout | null = null;

  constructor(readonly worker: Worker) {}

  post(msg: ToWorker, transfer?: ArrayBuffer[]): void {
    this.worker.postMessage(msg, transfer);
  }
}

export class WorkerPool {
  private readonly idle: PooledWorker[] = [];
  private readonly all = new Set<PooledWorker>();
  private boot: string | null = null;
  private exits: Promise<void>[] = [];

  constructor(private readonly idleTimeoutMs: number) {}

  /** Threads that have not exited yet (lent out, idle, or terminating). */
  get size(): number {
    return this.all.size;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  /** `n` workers for `owner`: idle ones first, new ones for the rest (they queue messages while booting). */
  acquire(n: number, owner: WorkerOwner): PooledWorker[] {
    const out: PooledWorker[] = [];
    while (out.length < n && this.idle.length > 0) {
      const w = this.idle.pop() as PooledWorker;
      if (w.idleTimer !== null) clearTimeout(w.idleTimer);
      w.idleTimer = null;
      out.push(w);
    }
    while (out.length < n) out.push(this.spawn());
    for (const w of out) {
      w.owner = owner;
      w.inflight = 0;
      w.worker.ref();
    }
    return out;
  }

  /**
   * Starts threads until `n` wait idle, so that a walk expected soon does not pay for their start
   * (they boot in the background and end after `idleTimeoutMs` like any idle thread).
   */
  warm(n: number): void {
    if (this.idleTimeoutMs <= 0) return;
    while (this.idle.length < n) this.release(this.spawn());
  }

  /** A worker that finished its walk cleanly (nothing in flight): keep it for the next walk. */
  release(w: PooledWorker): void {
    w.owner = null;
    if (!w.alive) return;
    if (this.idleTimeoutMs <= 0) {
      this.discard(w);
      return;
    }
    w.worker.unref();
    w.idleTimer = setTimeout(() => this.discard(w), this.idleTimeoutMs);
    w.idleTimer.unref();
    this.idle.push(w);
  }

  /** Ends a worker now (aborted or failed walk, idle timeout, close). */
  discard(w: PooledWorker): void {
    w.owner = null;
    if (w.idleTimer !== null) clearTimeout(w.idleTimer);
    w.idleTimer = null;
    const i = this.idle.indexOf(w);
    if (i >= 0) this.idle.splice(i, 1);
    if (!w.alive) return;
    w.alive = false;
    this.exits.push(w.worker.terminate().then(() => undefined, () => undefined));
  }

  /** Ends every worker, lent out or idle; resolves when all threads have exited. */
  async close(): Promise<void> {
    for (const w of [...this.all]) {
      const owner = w.owner;
      this.discard(w);
      owner?.onFailure(w, new Error('walker closed'));
    }
    const exits = this.exits.splice(0);
    await Promise.all(exits);
  }

  private spawn(): PooledWorker {
    this.boot ??= bootSource();
    const worker = new Worker(this.boot, { eval: true, name: 'fustor-walker' });
    const w = new PooledWorker(worker);
    this.all.add(w);
    worker.on('message', (msg: FromWorker) => w.owner?.onMessage(w, msg));
    worker.on('error', (err: Error) => {
      const owner = w.owner;
      this.discard(w);
      owner?.onFailure(w, err);
    });
    worker.on('exit', (code) => {
      const owner = w.owner;
      const wasAlive = w.alive;
      w.alive = false;
      this.all.delete(w);
      if (this.all.size === 0) this.exits = [];
      const i = this.idle.indexOf(w);
      if (i >= 0) this.idle.splice(i, 1);
      if (w.idleTimer !== null) clearTimeout(w.idleTimer);
      if (wasAlive && owner !== null) owner.onFailure(w, new Error(`walker worker exited with code ${code}`));
    });
    return w;
  }
}

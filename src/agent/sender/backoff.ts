/**
 * Exponential backoff with full jitter: attempt n (1-based) waits a uniform random time in
 * [0, min(cap, base × 2^(n−1))]. Full jitter spreads a fleet of agents that lost the same gateway, so a
 * restarted gateway is not hit by all of them in the same instant.
 */

export interface BackoffOptions {
  /** First step's upper bound; default 500 ms. */
  baseMs?: number;
  /** Upper bound of every step; default 30 s. */
  capMs?: number;
}

export const DEFAULT_BACKOFF = { baseMs: 500, capMs: 30_000 } as const;

/** The ceiling of attempt `n` (before jitter). */
export function backoffCeiling(attempt: number, opts: BackoffOptions = {}): number {
  const base = opts.baseMs ?? DEFAULT_BACKOFF.baseMs;
  const cap = opts.capMs ?? DEFAULT_BACKOFF.capMs;
  const n = Math.max(1, Math.floor(attempt));
  // 2^(n-1) overflows to Infinity for large n; min() then clamps to the cap.
  return Math.min(cap, base * 2 ** Math.min(n - 1, 64));
}

/** Delay before attempt `n` (1-based), full jitter. */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeiling(attempt, opts));
}

/** Counts consecutive failures; `next()` is the delay before the next try, `reset()` after a success. */
export class Backoff {
  private failures = 0;

  constructor(private readonly opts: BackoffOptions = {}, private readonly random: () => number = Math.random) {}

  get attempts(): number {
    return this.failures;
  }

  next(): number {
    this.failures++;
    return backoffDelay(this.failures, this.opts, this.random);
  }

  reset(): void {
    this.failures = 0;
  }
}

/**
 * A sleep that can be cut short: `wait(ms)` resolves after `ms` or at the next `wake()`, whichever comes
 * first. One waiter at a time (the owning loop); `dispose()` wakes it for good.
 */
export class Wakeup {
  private resolve: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private woken = false;
  private disposed = false;

  wait(ms: number): Promise<void> {
    if (this.disposed) return Promise.resolve();
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.resolve = resolve;
      this.timer = setTimeout(() => this.fire(), Math.max(0, ms));
    });
  }

  /** Wake the current waiter, or make the next `wait` return at once. */
  wake(): void {
    if (this.resolve === null) this.woken = true;
    else this.fire();
  }

  /** Forget a pending `wake()` that nobody waited for. */
  clear(): void {
    this.woken = false;
  }

  dispose(): void {
    this.disposed = true;
    this.fire();
  }

  private fire(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const r = this.resolve;
    this.resolve = null;
    r?.();
  }
}

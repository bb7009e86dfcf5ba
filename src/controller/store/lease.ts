/**
 * The reconciler lease (spec 50 "Storage and scale-out"): of several controller replicas on one PostgreSQL
 * database exactly one — the holder — runs the reconcilers (today the GitOps poller). No consensus of our
 * own: a row `leases(name, holder, expires_at)` is taken and renewed by ONE compare-and-set statement that
 * compares against the database clock (`now()`), so replica clocks never matter:
 *
 *   take it when it is free, expired, or already ours; else read who holds it.
 *
 * Timings: TTL (default 5 s, FUSTOR_CONTROLLER_LEASE_TTL_SEC) and an attempt every TTL/5 (1 s), holder or
 * not. The holder believes it holds the lease only until `sent + TTL − TTL/5`, where `sent` is the local
 * monotonic time at which the renewing statement was SENT: the database set `expires_at = now() + TTL` at a
 * later instant, so the holder stops before anyone else can take over (given clocks that tick at the same
 * rate). A renewal that hangs or fails therefore loses the lease locally on time, and a successor takes it
 * within TTL + TTL/5 after the last successful renewal. A clean stop deletes the row: immediate handover.
 * Writes of a reconciler additionally carry the fence (`mutate(..., { fence })`), checked inside the
 * transaction, so a holder that paused past its deadline cannot overwrite its successor's work.
 *
 * With SQLite the single controller always holds the lease (`AlwaysHeldLease`).
 */
import type { Disposable } from '../../kernel/disposable.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { Sql } from './pg-connect.ts';
import type { LeaseFence } from './store.ts';

export const RECONCILER_LEASE = 'reconcilers';
export const DEFAULT_LEASE_TTL_SEC = 5;

export type LeaseListener = (held: boolean) => void;

export interface Lease extends Disposable {
  readonly name: string;
  /** Whether this replica holds the lease now (a local belief, on the safe side: see the header). */
  held(): boolean;
  /** The replica id of the holder as last seen, or null when nobody holds it. */
  holder(): string | null;
  /** Called with the new value whenever `held()` changes; returns the unsubscribe function. */
  onChange(cb: LeaseListener): () => void;
  /** What `mutate` must check to write as the holder; undefined when no fence is needed. */
  fence(): LeaseFence | undefined;
}

/** The embedded store's lease: one controller, always the holder. */
export class AlwaysHeldLease implements Lease {
  constructor(readonly name: string, private readonly replica: string) {}
  held(): boolean { return true; }
  holder(): string | null { return this.replica; }
  onChange(): () => void { return () => undefined; }
  fence(): LeaseFence | undefined { return undefined; }
  dispose(): void { /* nothing held */ }
}

export function leaseTtlFromEnv(): number {
  const v = process.env.FUSTOR_CONTROLLER_LEASE_TTL_SEC;
  if (v === undefined || v === '') return DEFAULT_LEASE_TTL_SEC;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0.5 || n > 3600) throw new Error(`FUSTOR_CONTROLLER_LEASE_TTL_SEC must be a number of seconds from 0.5 to 3600, not ${JSON.stringify(v)}`);
  return n;
}

export class PgLease implements Lease {
  private readonly listeners = new Set<LeaseListener>();
  private readonly ttlMs: number;
  private readonly periodMs: number;
  private isHeld = false;
  private currentHolder: string | null = null;
  /** Local monotonic time (ms) until which the lease is believed held. */
  private deadline = 0;
  private inFlight = false;
  private failing = false;
  private disposed = false;
  private tickTimer: NodeJS.Timeout | undefined;
  private lossTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly sql: Sql, readonly name: string, private readonly replica: string, ttlSec: number, private readonly log: Logger) {
    this.ttlMs = ttlSec * 1000;
    this.periodMs = this.ttlMs / 5;
  }

  /** Makes the first attempt before returning, so a replica starting alone is the holder once started. */
  static async start(sql: Sql, opts: { name: string; replica: string; ttlSec: number; log: Logger }): Promise<PgLease> {
    const lease = new PgLease(sql, opts.name, opts.replica, opts.ttlSec, opts.log);
    await lease.attempt();
    lease.schedule();
    return lease;
  }

  held(): boolean { return this.isHeld; }
  holder(): string | null { return this.isHeld ? this.replica : this.currentHolder; }
  fence(): LeaseFence { return { lease: this.name, holder: this.replica }; }

  onChange(cb: LeaseListener): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    clearTimeout(this.tickTimer);
    clearTimeout(this.lossTimer);
    if (!this.isHeld) return;
    this.set(false, 'released');
    // Hand over at once instead of letting the others wait for the TTL.
    await this.sql`DELETE FROM leases WHERE name = ${this.name} AND holder = ${this.replica}`.catch(() => undefined);
  }

  private schedule(): void {
    if (this.disposed) return;
    this.tickTimer = setTimeout(() => {
      // One statement at a time: a hung one is covered by the loss timer, not by piling up more.
      if (!this.inFlight) void this.attempt();
      this.schedule();
    }, this.periodMs);
    this.tickTimer.unref();
  }

  private async attempt(): Promise<void> {
    this.inFlight = true;
    const sent = performance.now();
    try {
      const [row] = await this.sql<{ claimed: string | null; current: string | null }[]>`
        WITH claim AS (
          INSERT INTO leases AS l (name, holder, expires_at, acquired_at)
          VALUES (${this.name}, ${this.replica}, now() + make_interval(secs => ${this.ttlMs / 1000}), now())
          ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
            acquired_at = CASE WHEN l.holder = excluded.holder THEN l.acquired_at ELSE excluded.acquired_at END
          WHERE l.holder = excluded.holder OR l.expires_at <= now()
          RETURNING holder)
        SELECT (SELECT holder FROM claim) AS claimed,
               (SELECT holder FROM leases WHERE name = ${this.name} AND expires_at > now()) AS current`;
      if (this.disposed) return;
      if (this.failing) this.log.info({ lease: this.name }, 'lease: database reachable again');
      this.failing = false;
      if (row.claimed === this.replica) {
        const deadline = sent + this.ttlMs - this.periodMs;
        if (deadline <= performance.now()) return; // answered too late to count; the loss timer decides
        this.deadline = deadline;
        this.currentHolder = this.replica;
        this.armLossTimer();
        this.set(true, 'acquired');
      } else {
        this.currentHolder = row.current;
        this.set(false, 'taken by another replica');
      }
    } catch (e) {
      if (!this.failing && !this.disposed) this.log.warn({ lease: this.name, err: (e as Error).message }, 'lease: cannot reach the database to renew or take the lease');
      this.failing = true;
      // Held until the deadline; the loss timer drops it then.
    } finally {
      this.inFlight = false;
    }
  }

  private armLossTimer(): void {
    clearTimeout(this.lossTimer);
    this.lossTimer = setTimeout(() => {
      if (performance.now() >= this.deadline) this.set(false, 'not renewed in time');
      else this.armLossTimer();
    }, Math.max(0, this.deadline - performance.now()));
    this.lossTimer.unref();
  }

  private set(held: boolean, why: string): void {
    if (held === this.isHeld) return;
    this.isHeld = held;
    if (held) this.log.info({ lease: this.name, replica: this.replica }, 'lease acquired');
    else {
      clearTimeout(this.lossTimer);
      if (this.currentHolder === this.replica) this.currentHolder = null;
      if (why === 'released') this.log.info({ lease: this.name, replica: this.replica }, 'lease released');
      else this.log.warn({ lease: this.name, replica: this.replica, reason: why }, 'lease lost');
    }
    for (const cb of this.listeners) {
      try {
        cb(held);
      } catch (e) {
        this.log.error({ err: e, lease: this.name }, 'lease: a listener failed');
      }
    }
  }
}

/**
 * MovePairer: joins `moved_from`/`moved_to` events that share a rename cookie into one `move`.
 *
 * - A `moved_from` waits up to `windowMs` (default 50 ms) for its `moved_to`. Paired → `move`.
 *   Unpaired → `delete` with `fromMove: true` (moved out of the watched set: for a directory the whole
 *   subtree left the view, and the watches below it now point outside — remove them).
 * - A `moved_to` with no waiting `moved_from` → `create` with `fromMove: true` (moved in from outside:
 *   for a directory, walk it and watch its sub-directories).
 * - Order is preserved: while a `moved_from` waits, later events wait behind it, so a consumer never sees
 *   "create x" before the "delete x" of an earlier move-out of x. The cost is at most `windowMs` of delay,
 *   and only after a `moved_from` (the kernel queues the pair back to back, so pairs resolve at once).
 */
import type { InotifyEvent, InotifyEventKind } from './inotify-reader.ts';

export interface MoveEnd {
  watchId: number;
  dirPath: string;
  name: string;
}

export interface MoveEvent {
  kind: 'move';
  from: MoveEnd;
  to: MoveEnd;
  isDir: boolean;
  cookie: number;
}

/** Every event except the two halves of a rename, which the pairer consumes. */
export type SingleEvent = Omit<InotifyEvent, 'kind'> & {
  kind: Exclude<InotifyEventKind, 'moved_from' | 'moved_to'>;
  /** Set on the `delete`/`create` that an unpaired half of a rename became. */
  fromMove?: true;
};

export type PairedEvent = SingleEvent | MoveEvent;

export interface MovePairerOptions {
  onEvents: (events: PairedEvent[]) => void;
  /** How long a `moved_from` waits for its `moved_to`; default 50 ms. */
  windowMs?: number;
}

/** A place in the output order: either a ready event or a `moved_from` still waiting (`event` null). */
interface Slot {
  event: PairedEvent | null;
  from: InotifyEvent | null;
  deadline: number;
}

const end = (e: InotifyEvent): MoveEnd => ({ watchId: e.watchId, dirPath: e.dirPath, name: e.name });

export class MovePairer {
  private readonly windowMs: number;
  private queue: Slot[] = [];
  private head = 0;
  private readonly waiting = new Map<number, Slot>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: MovePairerOptions) {
    this.windowMs = options.windowMs ?? 50;
  }

  /** Feed one batch from the reader; ready events are passed on at once, in order, as one batch. */
  push(events: readonly InotifyEvent[]): void {
    const out: PairedEvent[] = [];
    for (const e of events) {
      if (e.kind === 'moved_from') {
        const stale = this.waiting.get(e.cookie);
        if (stale) this.expire(stale); // a reused cookie: the first rename never got its other half
        const slot: Slot = { event: null, from: e, deadline: Date.now() + this.windowMs };
        this.waiting.set(e.cookie, slot);
        this.queue.push(slot);
      } else if (e.kind === 'moved_to') {
        const slot = this.waiting.get(e.cookie);
        if (slot?.from) {
          this.waiting.delete(e.cookie);
          slot.event = { kind: 'move', from: end(slot.from), to: end(e), isDir: e.isDir, cookie: e.cookie };
          slot.from = null;
        } else {
          this.enqueue(out, { ...e, kind: 'create', fromMove: true });
        }
      } else {
        this.enqueue(out, e as SingleEvent);
      }
    }
    this.drain(out);
  }

  /** Moves still waiting for their other half. */
  get pendingCount(): number {
    return this.waiting.size;
  }

  /** Resolve every waiting `moved_from` as a delete now and deliver everything (shutdown, tests). */
  flush(): void {
    for (const slot of this.waiting.values()) this.expire(slot);
    this.drain([]);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.flush();
  }

  /** Ready event: straight to the output when nothing waits ahead of it, else behind the queue. */
  private enqueue(out: PairedEvent[], event: PairedEvent): void {
    if (this.head === this.queue.length) out.push(event);
    else this.queue.push({ event, from: null, deadline: 0 });
  }

  private expire(slot: Slot): void {
    const from = slot.from;
    if (from === null) return;
    this.waiting.delete(from.cookie);
    slot.event = { ...from, kind: 'delete', fromMove: true };
    slot.from = null;
  }

  /** Deliver the ready prefix of the queue after `out`, then arm the timer for the first waiting slot. */
  private drain(out: PairedEvent[]): void {
    while (this.head < this.queue.length) {
      const slot = this.queue[this.head];
      if (slot.event === null) break;
      out.push(slot.event);
      this.head++;
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.arm();
    if (out.length > 0) this.options.onEvents(out);
  }

  private arm(): void {
    if (this.timer !== null || this.head === this.queue.length) return;
    // The head is waiting (drain stops there) and has the earliest deadline: slots are queued in time order.
    const delay = Math.max(0, this.queue[this.head].deadline - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      const now = Date.now();
      for (const slot of this.waiting.values()) if (slot.deadline <= now) this.expire(slot);
      this.drain([]);
    }, delay);
  }
}

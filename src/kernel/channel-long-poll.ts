/**
 * The long-poll transport of the control channel (`POST /api/v1/channel/poll`), for members whose path to
 * the controller does not carry WebSockets (a proxy that refuses `Upgrade`, an HTTP-only gateway). Same
 * frames as the WebSocket: each exchange posts the frames waiting to go (at most 16) and receives the
 * controller's, the server holding the request up to `waitSec` when it has nothing to say. A frame queued
 * while an exchange is parked goes out at once in a short exchange (wait 0), so reports and command
 * answers never wait for the parked one to come back.
 *
 * It reports failures instead of retrying: the channel client decides (backoff, back to WebSocket).
 */
import type { ControllerFrame } from '../protocol/index.ts';

const MAX_FRAMES = 16;

export type LongPollFailure =
  | { kind: 'network'; message: string }
  | { kind: 'revoked'; message: string }
  | { kind: 'busy'; message: string; retryAfterMs: number }
  | { kind: 'http'; status: number; message: string };

export interface LongPollOptions {
  /** Controller base URL (http[s]://host:port). */
  url: string;
  credential: () => string | Promise<string>;
  onFrame: (frame: unknown) => void;
  /** The loop has stopped because of this; the caller reconnects. Called once. */
  onFailure: (f: LongPollFailure) => void;
  /** Called after each successful exchange. */
  onExchange?: () => void;
  waitSec?: number;
}

export class LongPollChannel {
  private readonly outgoing: object[] = [];
  private readonly abort = new AbortController();
  private stopped = false;
  private parked = false;
  private flushing: Promise<void> | null = null;

  constructor(private readonly opts: LongPollOptions) {}

  start(): void {
    void this.loop();
  }

  /** Queue a frame; it leaves with the next exchange (at once when one is parked). */
  send(frame: object): void {
    if (this.stopped) return;
    this.outgoing.push(frame);
    if (this.parked) this.flushing ??= this.flush().finally(() => { this.flushing = null; });
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const ok = await this.exchange(this.opts.waitSec ?? 25);
      if (!ok) return;
    }
  }

  private async flush(): Promise<void> {
    while (!this.stopped && this.parked && this.outgoing.length > 0) {
      if (!await this.exchange(0)) return;
    }
  }

  /** One POST; false when the loop must end (failure reported, or stopped). */
  private async exchange(waitSec: number): Promise<boolean> {
    const frames = this.outgoing.splice(0, MAX_FRAMES);
    let res: Response;
    let body: unknown;
    const long = waitSec > 0;
    if (long) this.parked = true; // from here on a new frame takes a short exchange of its own
    try {
      const credential = await this.opts.credential();
      res = await fetch(`${this.opts.url.replace(/\/$/, '')}/api/v1/channel/poll`, {
        method: 'POST',
        headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ frames, wait_sec: waitSec }),
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout((waitSec + 30) * 1000)]),
      });
      body = await res.json().catch(() => undefined);
    } catch (e) {
      if (long) this.parked = false;
      if (this.stopped) return false;
      this.outgoing.unshift(...frames); // not delivered: they go with the next exchange, if any
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      return this.fail({ kind: 'network', message: cause?.code ?? cause?.message ?? (e as Error).message });
    }
    if (long) this.parked = false;
    if (this.stopped) return false;
    const message = typeof (body as { message?: unknown } | undefined)?.message === 'string' ? (body as { message: string }).message : `HTTP ${res.status}`;
    if (res.status === 403) return this.fail({ kind: 'revoked', message });
    if (res.status === 503) {
      const ra = Number(res.headers.get('retry-after'));
      return this.fail({ kind: 'busy', message, retryAfterMs: Number.isFinite(ra) && ra > 0 ? ra * 1000 : 1000 });
    }
    if (res.status !== 200 || !Array.isArray((body as { frames?: unknown } | undefined)?.frames)) return this.fail({ kind: 'http', status: res.status, message });
    this.opts.onExchange?.();
    for (const f of (body as { frames: ControllerFrame[] }).frames) this.opts.onFrame(f);
    if (this.parked && this.outgoing.length > 0) this.flushing ??= this.flush().finally(() => { this.flushing = null; });
    return true;
  }

  private fail(f: LongPollFailure): false {
    if (!this.stopped) {
      this.stopped = true;
      this.abort.abort();
      this.opts.onFailure(f);
    }
    return false;
  }
}

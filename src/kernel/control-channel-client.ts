/**
 * Member side of the control channel (spec 50): a WebSocket to `GET /api/v1/channel` authenticated by the
 * member credential — or, when something between member and controller refuses the WebSocket upgrade, the
 * long-poll fallback (channel-long-poll.ts) with the same frames, probing the WebSocket again every few
 * minutes —, reconnecting with exponential backoff and full jitter (honouring a 503 Retry-After),
 * sending numbered `report` frames (on connect — marked `full` —, every heartbeat, after each manifest,
 * and on `request_full_report`), handing each `manifest` to `onManifest` and each targeted `command` to
 * `onCommand` (answered with a `command_result`, kept until a connection is open to carry it). Usable by agents and
 * gateways; imports only src/protocol.
 */
import WebSocket from 'ws';
import { Compile } from 'typebox/compile';
import { LongPollChannel, type LongPollFailure } from './channel-long-poll.ts';
import { ControllerFrame, type ApplyStatus, type CommandFrame, type CommandResultFrame, type ManifestFrame, type ReportFrame } from '../protocol/index.ts';

const controllerFrame = Compile(ControllerFrame);

/** `auto`: WebSocket, falling back to long-poll when the upgrade is refused on the way; or one of them only. */
export type ChannelTransport = 'auto' | 'websocket' | 'poll';

/** In long-poll mode (auto), how often the WebSocket is tried again (the path may have been fixed). */
const WEBSOCKET_PROBE_MS = 5 * 60_000;

/** WebSocket failures that mean "the controller is not reachable" (long-poll would fail the same way), not "the upgrade was refused". */
const UNREACHABLE = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|ETIMEDOUT/;

/** The level-based state the member reports (the client adds type, seq, full and the running revision/hash/status). */
export type MemberReport = Omit<ReportFrame, 'type' | 'seq' | 'full' | 'running_revision' | 'running_hash' | 'status' | 'error'>;

export interface ControlChannelClientOptions {
  /** Controller base URL (http[s]://host:port); the client connects to ws[s]://…/api/v1/channel. */
  url: string;
  /** The current credential (called on every connect, so a renewed one is used). */
  credential: () => string | Promise<string>;
  onManifest: (m: ManifestFrame) => Promise<{ status: ApplyStatus; error?: string }>;
  /** Carry out a targeted command; the answer goes back as a `command_result`. */
  onCommand?: (c: CommandFrame) => Promise<{ ok: boolean; message: string }>;
  report: () => MemberReport;
  /** Told when the controller says this member is revoked; the client stops. */
  onRevoked?: (reason: string) => void;
  onError?: (message: string) => void;
  /** Initial running manifest (e.g. the cached last good one). */
  running?: { revision: number; hash: string } | null;
  backoff?: { baseMs: number; maxMs: number };
  /** Heartbeat until the controller's hello says otherwise (seconds). */
  heartbeatSec?: number;
  random?: () => number;
  /** Default `auto`. */
  transport?: ChannelTransport;
  /** In long-poll mode (auto), how often the WebSocket is tried again (default 5 minutes; tests shorten it). */
  websocketProbeMs?: number;
  /** Told when the channel opens, and on which transport (`why`: the reason for a fallback). */
  onOpen?: (transport: 'websocket' | 'long-poll', why?: string) => void;
}

export class ControlChannelClient {
  private ws: WebSocket | null = null;
  private seq = 0;
  private attempt = 0;
  private stopped = false;
  private heartbeat: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private running: { revision: number; hash: string } | null;
  private status: ApplyStatus = 'APPLIED';
  private error: string | undefined;
  private applying: Promise<void> = Promise.resolve();
  /** Answers to commands that found no open connection; sent after the next connect's full report. */
  private unsentResults: CommandResultFrame[] = [];
  private poll: LongPollChannel | null = null;
  private pollOpen = false;
  /** auto mode: the last WebSocket attempt was refused on the way, so connect() starts with long-poll. */
  private preferPoll = false;
  private probeTimer: NodeJS.Timeout | null = null;
  /** Frames received (for diagnostics and tests). */
  readonly received: ControllerFrame[] = [];

  constructor(private readonly opts: ControlChannelClientOptions) {
    this.running = opts.running ?? null;
  }

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  get connected(): boolean {
    return this.transport !== null;
  }

  /** Which transport carries the channel now (null: none). `pollOpen` is only ever true while `poll` is set. */
  get transport(): 'websocket' | 'long-poll' | null {
    if (this.wsOpen()) return 'websocket';
    return this.pollOpen ? 'long-poll' : null;
  }

  private wsOpen(): boolean {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends a report now (level-based state). `full` marks a complete report after a reconnect or a request. */
  sendReport(full = false): void {
    if (!this.canSend()) return;
    const frame: ReportFrame = {
      ...this.opts.report(), type: 'report', seq: this.seq++, full,
      running_revision: this.running?.revision ?? null, running_hash: this.running?.hash ?? null, status: this.status,
      ...(this.error === undefined ? {} : { error: this.error }),
    };
    this.transmit(frame);
  }

  private canSend(): boolean {
    return this.wsOpen() || this.poll !== null;
  }

  private transmit(frame: object): void {
    if (this.wsOpen()) this.ws?.send(JSON.stringify(frame));
    else this.poll?.send(frame);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.stopPoll();
    this.clearHeartbeat();
    const ws = this.ws;
    this.ws = null;
    if (ws !== null && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(1000, 'member stopping');
        setTimeout(() => { ws.terminate(); resolve(); }, 2000).unref();
      });
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const transport = this.opts.transport ?? 'auto';
    if (transport === 'poll' || (transport === 'auto' && this.preferPoll)) return this.startPoll(transport === 'poll' ? undefined : 'the WebSocket upgrade was refused on the way to the controller');
    let credential: string;
    try {
      credential = await this.opts.credential();
    } catch (e) {
      this.opts.onError?.(`no credential: ${(e as Error).message}`);
      return this.scheduleReconnect();
    }
    const wsUrl = `${this.opts.url.replace(/^http/, 'ws').replace(/\/$/, '')}/api/v1/channel`;
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${credential}` }, maxPayload: 16 * 1024 * 1024 });
    this.ws = ws;
    let retryAfterMs: number | undefined;
    let opened = false;
    let refusal: string | undefined; // why the upgrade failed, when that says "not the controller's doing"
    ws.on('unexpected-response', (_req, res) => {
      const ra = Number(res.headers['retry-after']);
      if (Number.isFinite(ra) && ra > 0) retryAfterMs = ra * 1000;
      this.opts.onError?.(`channel refused: HTTP ${res.statusCode ?? 0}`);
      // 401/403/503 are the controller's answers (credential, revoked, admission); anything else came from the path.
      if (res.statusCode !== 401 && res.statusCode !== 403 && res.statusCode !== 503) refusal = `HTTP ${res.statusCode ?? 0}`;
      if (res.statusCode === 403) this.revoked('the controller refused the channel (HTTP 403): this member is revoked'); // enrolling again is an operator decision
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      opened = true;
      this.attempt = 0;
      this.preferPoll = false;
      this.begin();
      this.opts.onOpen?.('websocket');
    });
    ws.on('message', (data) => this.onMessage(String(data)));
    ws.on('error', (e) => {
      this.opts.onError?.(`channel error: ${e.message}`);
      if (!opened && refusal === undefined && !UNREACHABLE.test(e.message)) refusal = e.message; // e.g. a proxy hanging up on the upgrade
    });
    ws.on('close', (code) => {
      this.clearHeartbeat();
      if (this.ws === ws) this.ws = null;
      if (code === 4401) this.revoked('the controller closed the channel: this member was revoked');
      if (!opened && refusal !== undefined && transport === 'auto' && !this.stopped) {
        this.preferPoll = true;
        return void this.startPoll(`the WebSocket upgrade failed (${refusal})`);
      }
      this.scheduleReconnect(retryAfterMs);
    });
  }

  /** A transport can carry frames: a full report first, then the answers that waited, then heartbeats. */
  private begin(): void {
    this.seq = 0;
    this.sendReport(true);
    for (const r of this.unsentResults.splice(0)) this.sendResult(r);
    this.startHeartbeat(this.opts.heartbeatSec ?? 15);
  }

  /**
   * Long-poll: the full report rides on the first exchange. The channel counts as open once an exchange
   * succeeded; a failure ends the loop and reconnects with backoff — trying the WebSocket first again when
   * the controller was unreachable (it may be a restart, not the path).
   */
  private startPoll(why: string | undefined): void {
    this.stopPoll();
    const poll: LongPollChannel = new LongPollChannel({
      url: this.opts.url,
      credential: () => this.opts.credential(),
      onFrame: (f) => this.onFrame(f),
      onExchange: () => {
        if (this.poll !== poll || this.pollOpen) return;
        this.pollOpen = true;
        this.attempt = 0;
        this.opts.onOpen?.('long-poll', why);
      },
      onFailure: (f) => this.pollFailed(poll, f),
    });
    this.poll = poll;
    this.pollOpen = false;
    this.begin(); // queued first: the full report rides on the first exchange
    poll.start();
    if ((this.opts.transport ?? 'auto') === 'auto') {
      this.probeTimer = setTimeout(() => {
        if (this.poll !== poll || this.stopped) return;
        this.stopPoll();
        this.preferPoll = false; // one WebSocket attempt; refused again → straight back to long-poll
        void this.connect();
      }, this.opts.websocketProbeMs ?? WEBSOCKET_PROBE_MS);
      this.probeTimer.unref();
    }
  }

  private pollFailed(poll: LongPollChannel, f: LongPollFailure): void {
    if (this.poll !== poll) return;
    this.poll = null;
    this.pollOpen = false;
    this.clearHeartbeat();
    if (this.probeTimer !== null) clearTimeout(this.probeTimer);
    if (f.kind === 'revoked') return this.revoked(`the controller refused the channel (HTTP 403): this member is revoked (${f.message})`);
    this.opts.onError?.(`channel (long-poll) failed: ${f.kind === 'http' ? `HTTP ${f.status}: ` : ''}${f.message}`);
    if (f.kind === 'network' || f.kind === 'http') this.preferPoll = false;
    this.scheduleReconnect(f.kind === 'busy' ? f.retryAfterMs : 0);
  }

  private stopPoll(): void {
    if (this.probeTimer !== null) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    this.poll?.stop();
    this.poll = null;
    this.pollOpen = false;
  }

  private onMessage(text: string): void {
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      this.opts.onError?.('controller sent a frame that is not JSON');
      return;
    }
    this.onFrame(frame);
  }

  private onFrame(frame: unknown): void {
    if (!controllerFrame.Check(frame)) {
      this.opts.onError?.(`controller sent a frame that does not match this member's protocol (type ${JSON.stringify((frame as { type?: unknown } | null)?.type)?.slice(0, 64)}); ignored`);
      // A command this version cannot read still gets an answer, so it does not sit "sent" until it expires.
      const f = frame as { type?: unknown; id?: unknown } | null;
      if (f?.type === 'command' && typeof f.id === 'string' && f.id.length > 0 && f.id.length <= 64) {
        this.sendResult({ type: 'command_result', id: f.id, ok: false, message: 'this member cannot read the command (a newer protocol): upgrade it to use that command' });
      }
      return;
    }
    const f = frame as ControllerFrame;
    this.received.push(f);
    switch (f.type) {
      case 'hello':
        this.startHeartbeat(f.heartbeat_sec);
        break;
      case 'request_full_report':
        this.sendReport(true);
        break;
      case 'revoked':
        this.revoked(f.reason);
        break;
      case 'error':
        this.opts.onError?.(`controller: ${f.code}: ${f.message}`);
        break;
      case 'manifest':
        this.applying = this.applying.then(() => this.apply(f));
        break;
      case 'command':
        void this.command(f);
        break;
    }
  }

  private revokedNotified = false;

  /** Stops for good and tells the owner once (the frame, the close code and a 403 may all say it). */
  private revoked(reason: string): void {
    this.stopped = true;
    this.stopPoll();
    this.clearHeartbeat();
    if (this.revokedNotified) return;
    this.revokedNotified = true;
    this.opts.onRevoked?.(reason);
  }

  private async apply(m: ManifestFrame): Promise<void> {
    this.status = 'APPLYING';
    this.error = undefined;
    let result: { status: ApplyStatus; error?: string };
    try {
      result = await this.opts.onManifest(m);
    } catch (e) {
      result = { status: 'FAILED', error: (e as Error).message };
    }
    this.status = result.status;
    this.error = result.error;
    if (result.status === 'APPLIED') this.running = { revision: m.revision, hash: m.hash };
    this.sendReport();
  }

  private async command(c: CommandFrame): Promise<void> {
    let result: { ok: boolean; message: string };
    try {
      result = this.opts.onCommand === undefined ? { ok: false, message: `this member does not take commands (${c.command})` } : await this.opts.onCommand(c);
    } catch (e) {
      result = { ok: false, message: (e as Error).message };
    }
    this.sendResult({ type: 'command_result', id: c.id, ok: result.ok, message: result.message.slice(0, 1024) });
  }

  private sendResult(r: CommandResultFrame): void {
    if (!this.canSend()) {
      if (this.unsentResults.length < 64) this.unsentResults.push(r);
      return;
    }
    this.transmit(r);
  }

  private startHeartbeat(sec: number): void {
    this.clearHeartbeat();
    this.heartbeat = setInterval(() => this.sendReport(), Math.max(0.05, sec) * 1000);
    this.heartbeat.unref();
  }

  private clearHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  /** Exponential backoff with full jitter: a random delay in [0, min(max, base·2^attempt)). */
  private scheduleReconnect(atLeastMs = 0): void {
    if (this.stopped || this.reconnectTimer !== null) return;
    const { baseMs, maxMs } = this.opts.backoff ?? { baseMs: 500, maxMs: 30000 };
    const cap = Math.min(maxMs, baseMs * 2 ** Math.min(this.attempt++, 20));
    const delay = Math.max(atLeastMs, Math.floor((this.opts.random ?? Math.random)() * cap));
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }
}

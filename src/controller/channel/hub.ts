/**
 * The channel hub (spec 50 "The channel"): one state per connected member, whatever the transport
 * (WebSocket or long-poll). It validates member frames, tracks report sequence numbers (a gap → 
 * `request_full_report`), and pushes a `manifest` whenever the desired manifest differs from what the
 * member reports running — never a manifest whose content the member reported FAILED, until the desired
 * content changes. Desired state is re-evaluated when the store revision or the members' change marker
 * changes (both polled, so a change by another replica or by GitOps is seen too) and when a member is
 * revoked (at once on this replica; through the marker when revoked on another one).
 *
 * Targeted commands (commands/) wait in the store as `pending`; on every watch tick (and at once when one
 * is created here or a member connects) the hub claims those of members connected to THIS replica and
 * sends them — the claim is a conditional update, so one replica sends each command — and records the
 * member's `command_result`.
 */
import { Compile } from 'typebox/compile';
import type { WebSocket } from 'ws';
import type { Logger } from '../../kernel/logger.ts';
import { Value } from 'typebox/value';
import { CHANNEL_CLOSE, KnownReportFrame, MemberFrame, ReportFrame, type CommandResultFrame, type ControllerFrame, type Manifest } from '../../protocol/index.ts';
import type { CommandStore } from '../commands/command-store.ts';
import type { IdentityService } from '../identity/identity-service.ts';
import type { MemberRecord, MemberStore } from '../identity/member-store.ts';
import { manifestFor, manifestHash, type ManifestInputs } from '../manifest/build.ts';
import { DEFAULT_POLICY, reportHealth } from '../monitoring/health.ts';
import type { ControllerStore } from '../store/store.ts';

const memberFrame = Compile(MemberFrame);
const knownReport = Compile(KnownReportFrame);
const MAX_QUEUED = 16;

export interface ChannelOptions {
  heartbeatSec: number;
  /** This replica (recorded with each report, so other replicas know the member is connected here). */
  replica: string;
  /** How often the store revision is checked for changes (ms). */
  watchIntervalMs: number;
  /** Issuer and JWKS URL gateways trust (known once the API listens). */
  trust: () => ManifestInputs['trust'];
  openSecret: ManifestInputs['openSecret'];
}

interface MemberState {
  member: MemberRecord;
  ws: WebSocket | null;
  queue: ControllerFrame[];
  waiters: Set<() => void>;
  /** Bumped by each long poll that waits; a parked poll whose generation is not the latest was superseded. */
  pollGeneration: number;
  lastSeq: number | null;
  runningHash: string | null;
  failedHash: string | null;
  sentHash: string | null;
  reported: boolean;
  /** The desired manifest as last built, and the inputs it was built from (same object → still valid). */
  desired: { inputs: ManifestInputs; content: Manifest; hash: string } | null;
  /** Frame types from a newer member this controller already said it does not know (said once each). */
  unsupportedTypes: Set<string>;
}

/** checkFrame's answer for a well-formed frame of a type this version does not know. */
const UNSUPPORTED = 'unsupported';
/** What a frame type of a newer member looks like (`snake_case`, short); anything else is junk. */
const NEWER_FRAME_TYPE = /^[a-z][a-z0-9_]{0,63}$/;
/** Types only the controller sends: a member sending one is confused or hostile, not newer. */
const CONTROLLER_FRAME_TYPES: ReadonlySet<string> = new Set(['hello', 'manifest', 'request_full_report', 'revoked', 'error', 'command']);

export class ChannelHub {
  private readonly states = new Map<string, MemberState>();
  private desiredCache: { revision: number; membersVersion: number; inputs: ManifestInputs } | undefined;
  private membersVersion = 0;
  private watchedRevision = -1;
  private watchedMarker: string | null = null;
  private watching = false;
  private watchFailing = false;
  private readonly timer: NodeJS.Timeout;
  private evaluating = Promise.resolve();
  private delivering = false;
  private deliverAgain = false;

  constructor(
    private readonly store: ControllerStore,
    private readonly members: MemberStore,
    private readonly commands: CommandStore,
    identity: IdentityService,
    readonly opts: ChannelOptions,
    private readonly log: Logger,
  ) {
    identity.onRevoked((m) => this.revoked(m));
    this.timer = setInterval(() => { void this.watch(); }, opts.watchIntervalMs);
    this.timer.unref();
  }

  /** A WebSocket connection of an authenticated member (replaces an older one of the same member). */
  attachSocket(member: MemberRecord, ws: WebSocket): void {
    const st = this.stateOf(member);
    if (st.ws !== null && st.ws !== ws) st.ws.close(CHANNEL_CLOSE.replaced, 'replaced by a newer connection');
    st.ws = ws;
    st.sentHash = null;
    st.lastSeq = null;
    this.send(st, { type: 'hello', member_id: member.id, name: member.name, heartbeat_sec: this.opts.heartbeatSec });
    // Liveness: a pong or any frame counts. Cut only after two ping periods without either: after an event-loop
    // stall the interval can fire before the pong already waiting in the socket is read, and one such miss must
    // not drop a healthy member.
    let missed = 0;
    const heard = () => { missed = 0; };
    ws.on('pong', heard);
    const ping = setInterval(() => {
      if (++missed > 2) {
        ws.terminate();
        return;
      }
      ws.ping();
    }, this.opts.heartbeatSec * 2000);
    ws.on('message', (data, isBinary) => {
      heard();
      if (isBinary) return this.hostile(st, ws, 'binary frames are not part of the protocol: send JSON text frames');
      let frame: unknown;
      try {
        frame = JSON.parse((data as Buffer).toString('utf8'));
      } catch {
        return this.hostile(st, ws, 'frame is not valid JSON');
      }
      const problem = this.checkFrame(frame);
      if (problem === UNSUPPORTED) return this.unsupported(st, frame);
      if (problem !== null) return this.hostile(st, ws, problem);
      void this.onFrame(st, frame as MemberFrame).catch((e: unknown) => this.log.error({ err: e, member: member.name }, 'channel: frame handling failed'));
    });
    ws.on('close', () => {
      clearInterval(ping);
      if (st.ws !== ws) return; // replaced by a newer connection, which reports on its own
      st.ws = null;
      void this.members.channelClosed(member.id, this.opts.replica).catch((e: unknown) => this.log.warn({ err: (e as Error).message, member: member.name }, 'channel: cannot record the closed channel'));
    });
    ws.on('error', () => { /* close follows */ });
  }

  /** One long-poll exchange: process the member's frames, answer with queued frames (waiting up to waitMs). */
  async poll(member: MemberRecord, frames: unknown[], waitMs: number): Promise<ControllerFrame[]> {
    const st = this.stateOf(member);
    // One parked poll per member: a new waiting poll supersedes the older ones, which return nothing. An
    // older one may belong to a request the member gave up on (aborted, cut by a proxy); waking it with
    // frames would hand them to a response nobody reads.
    const generation = waitMs > 0 ? ++st.pollGeneration : st.pollGeneration;
    if (waitMs > 0) for (const w of [...st.waiters]) w();
    // A full report opens (or reopens) a long-poll channel: greet it like a WebSocket (heartbeat period).
    if (frames.some((f) => (f as { type?: unknown; full?: unknown }).type === 'report' && (f as { full?: unknown }).full === true)) {
      this.send(st, { type: 'hello', member_id: member.id, name: member.name, heartbeat_sec: this.opts.heartbeatSec });
    }
    for (const f of frames) {
      const problem = this.checkFrame(f);
      if (problem === UNSUPPORTED) {
        this.unsupported(st, f);
        continue;
      }
      if (problem !== null) return [{ type: 'error', code: 'BAD_REQUEST', message: problem }];
      await this.onFrame(st, f as MemberFrame);
    }
    if (st.queue.length === 0 && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          st.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, waitMs);
        st.waiters.add(done);
      });
      if (generation !== st.pollGeneration) return [];
    }
    return st.queue.splice(0);
  }

  connectedCount(): number {
    return [...this.states.values()].filter((s) => s.ws !== null).length;
  }

  /** Whether the member holds a channel to THIS replica: an open WebSocket or a parked long-poll. */
  isConnected(memberId: string): boolean {
    const st = this.states.get(memberId);
    return st !== undefined && (st.ws !== null || st.waiters.size > 0);
  }

  dispose(): void {
    clearInterval(this.timer);
    for (const st of this.states.values()) {
      st.ws?.close(CHANNEL_CLOSE.shutdown, 'controller shutting down');
      for (const w of st.waiters) w();
    }
  }

  /** null: a valid member frame; UNSUPPORTED: a frame type this version does not know; otherwise what is wrong. */
  private checkFrame(frame: unknown): string | null {
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return 'a frame must be a JSON object with a "type"';
    const type = (frame as { type?: unknown }).type;
    if (type !== 'report' && type !== 'command_result') {
      if (typeof type === 'string' && NEWER_FRAME_TYPE.test(type) && !CONTROLLER_FRAME_TYPES.has(type)) return UNSUPPORTED;
      return `unknown frame type ${JSON.stringify(type)?.slice(0, 64) ?? 'undefined'}: members send "report" and "command_result" frames`;
    }
    if (memberFrame.Check(frame)) return null;
    const e = [...memberFrame.Errors(frame)][0] as { instancePath: string; message: string } | undefined;
    return `invalid ${type} frame: ${e === undefined ? 'does not match the schema' : `${e.instancePath || '/'} ${e.message}`}`;
  }

  /**
   * A frame type from a newer member (mixed versions during a rolling upgrade): not an attack, so the channel
   * stays open. Said once per member and frame type for the life of this process (to the member and in the log).
   */
  private unsupported(st: MemberState, frame: unknown): void {
    const type = String((frame as { type: string }).type);
    if (st.unsupportedTypes.has(type)) return;
    st.unsupportedTypes.add(type);
    this.log.warn({ member: st.member.name, type }, 'channel: frame type unknown to this controller version; ignored');
    this.send(st, { type: 'error', code: 'UNSUPPORTED_FRAME', message: `this controller does not know "${type}" frames; ignored (upgrade the controller to use them)` });
  }

  private hostile(st: MemberState, ws: WebSocket, message: string): void {
    this.log.warn({ member: st.member.name, reason: message }, 'channel: protocol error, closing');
    if (ws.readyState === ws.OPEN) {
      ws.send(JSON.stringify({ type: 'error', code: 'BAD_REQUEST', message } satisfies ControllerFrame));
      ws.close(CHANNEL_CLOSE.protocol, 'protocol error');
    }
  }

  private stateOf(member: MemberRecord): MemberState {
    let st = this.states.get(member.id);
    if (st === undefined) {
      st = { member, ws: null, queue: [], waiters: new Set(), pollGeneration: 0, lastSeq: null, runningHash: null, failedHash: null, sentHash: null, reported: false, desired: null, unsupportedTypes: new Set() };
      // No membersVersion bump: a connection changes no manifest (gateway manifests list ENROLLED agents, and
      // enrollments/revocations are seen through the change marker). Bumping here made every connecting
      // member re-read all members — quadratic when a fleet reconnects after a controller restart.
      this.states.set(member.id, st);
    }
    return st;
  }

  private send(st: MemberState, frame: ControllerFrame): void {
    if (st.ws !== null && st.ws.readyState === st.ws.OPEN) {
      st.ws.send(JSON.stringify(frame));
      return;
    }
    st.queue.push(frame);
    if (st.queue.length > MAX_QUEUED) st.queue.splice(0, st.queue.length - MAX_QUEUED);
    for (const w of [...st.waiters]) w();
  }

  private async onFrame(st: MemberState, f: MemberFrame): Promise<void> {
    if (f.type === 'command_result') return this.onCommandResult(st, f);
    await this.onReport(st, f);
    // A (re)connecting member's first report: a command that waited for it goes out now, not on the next tick.
    if (f.full === true) void this.deliverCommands();
  }

  private async onCommandResult(st: MemberState, r: CommandResultFrame): Promise<void> {
    const recorded = await this.commands.finish(r.id, st.member.id, r.ok, r.message, Date.now());
    // Not recorded: an unknown id, another member's command, or one already settled or expired — ignored, never trusted.
    if (!recorded) this.log.warn({ member: st.member.name, command: r.id }, 'channel: result for a command this member was not sent; ignored');
    else this.log.info({ member: st.member.name, command: r.id, ok: r.ok, message: r.message }, 'channel: command answered');
  }

  /**
   * Sends the pending commands of members connected here. One pass at a time; a request during a pass
   * runs one more pass (a command created meanwhile is not left for the next tick).
   */
  async deliverCommands(): Promise<void> {
    if (this.delivering) {
      this.deliverAgain = true;
      return;
    }
    if (this.states.size === 0) return;
    this.delivering = true;
    try {
      do {
        this.deliverAgain = false;
        const now = Date.now();
        for (const c of await this.commands.pending(now)) {
          const st = this.states.get(c.memberId);
          if (st === undefined || !st.reported || !this.isConnected(c.memberId)) continue;
          if (!await this.commands.claim(c.id, now)) continue; // another replica sent it
          this.send(st, { type: 'command', id: c.id, command: c.command, ...(c.pipe === null ? {} : { pipe: c.pipe }) });
          this.log.info({ member: st.member.name, command: c.id, what: c.command, pipe: c.pipe }, 'channel: command sent');
        }
      } while (this.deliverAgain);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'channel: cannot deliver commands; retrying on the next tick');
    } finally {
      this.delivering = false;
    }
  }

  private async onReport(st: MemberState, r: ReportFrame): Promise<void> {
    if (r.full === true) st.sentHash = null; // a (re)connecting member gets the manifest again if it differs
    else if (st.lastSeq !== null && r.seq !== st.lastSeq + 1) {
      this.send(st, { type: 'request_full_report', reason: `sequence gap: expected ${st.lastSeq + 1}, got ${r.seq}` });
    }
    st.lastSeq = r.seq;
    st.reported = true;
    st.runningHash = r.running_hash;
    if (r.status === 'FAILED') {
      st.failedHash = st.sentHash ?? st.failedHash;
      this.log.warn({ member: st.member.name, error: r.error, failed: st.failedHash }, 'channel: member failed to apply its manifest');
    }
    // One row write per report (the P8 bench: 10,000 members every 15 s). The stored state is what the report
    // alone implies; the state served by the API is recomputed at read time (offline needs the clock).
    // Fields a newer member added are not this version's to store or serve: cleaned away. The compiled check
    // first — Value.Clean walks the schema (≈ 0.15 ms a report, most of the controller's CPU per report in P8).
    const known = knownReport.Check(r) ? r : Value.Clean(ReportFrame, r);
    await this.members.recordReport(st.member.id, { state: reportHealth(st.member.kind, r, DEFAULT_POLICY).state, report: JSON.stringify(known), now: Date.now(), replica: this.opts.replica });
    await this.evaluate(st);
  }

  private async inputs(revision: number): Promise<ManifestInputs> {
    const c = this.desiredCache;
    if (c !== undefined && c.revision === revision && c.membersVersion === this.membersVersion) return c.inputs;
    const membersVersion = this.membersVersion;
    const inputs: ManifestInputs = { resources: await this.store.listResources(), members: await this.members.listMembers(), openSecret: this.opts.openSecret, trust: this.opts.trust() };
    this.desiredCache = { revision, membersVersion, inputs };
    return inputs;
  }

  private async evaluate(st: MemberState): Promise<void> {
    if (!st.reported || st.member.revokedAt !== null) return;
    // Read per evaluation, not taken from the last watch tick: a report right after an apply gets the new
    // manifest at once, and a re-evaluation never pushes an older revision than a concurrent report did.
    const revision = await this.store.currentRevision();
    const inputs = await this.inputs(revision);
    // Heartbeats re-evaluate every member; the manifest only changes with the inputs, so build and hash it once per inputs.
    if (st.desired?.inputs !== inputs) {
      const content: Manifest = manifestFor(st.member, inputs);
      st.desired = { inputs, content, hash: manifestHash(content) };
    }
    const { content, hash } = st.desired;
    if (hash === st.runningHash || hash === st.failedHash || hash === st.sentHash) return;
    st.sentHash = hash;
    this.send(st, { type: 'manifest', revision, hash, content });
  }

  /**
   * Polls the revision and the members' change marker: a change made by ANY replica (apply, GitOps,
   * enrollment, revocation) reaches this replica's members within one interval. One poll at a time; a
   * failing store (database restarting) is logged once and retried on the next tick.
   */
  private async watch(): Promise<void> {
    if (this.watching) return;
    this.watching = true;
    try {
      const [revision, marker] = await Promise.all([this.store.currentRevision(), this.members.changeMarker()]);
      if (this.watchFailing) this.log.info('channel: store reachable again');
      this.watchFailing = false;
      await this.deliverCommands();
      const membersChanged = marker !== this.watchedMarker;
      if (revision === this.watchedRevision && !membersChanged) return;
      if (membersChanged) {
        this.membersVersion++; // gateway manifests list the agents of each pipe and the revoked members
        // The members read here are the ones the re-evaluation below builds manifests from (one read, not two).
        this.closeRevokedElsewhere((await this.inputs(revision)).members);
      }
      // Recorded only once handled: a failure above is retried on the next tick.
      this.watchedRevision = revision;
      this.watchedMarker = marker;
      this.reevaluateAll();
    } catch (e) {
      if (!this.watchFailing) this.log.warn({ err: (e as Error).message }, 'channel: cannot read the store to watch for changes; retrying');
      this.watchFailing = true;
    } finally {
      this.watching = false;
    }
  }

  /** Members revoked on another replica (this one's identity service did not see it) that hold a channel here. */
  private closeRevokedElsewhere(members: readonly MemberRecord[]): void {
    if (this.states.size === 0) return;
    const current = new Map(members.map((m) => [m.id, m]));
    for (const [id, st] of [...this.states]) {
      const m = current.get(id);
      if (m !== undefined && m.revokedAt !== null && st.member.revokedAt === null) this.revoked(m);
    }
  }

  private reevaluateAll(): void {
    this.evaluating = this.evaluating.then(async () => {
      for (const st of this.states.values()) await this.evaluate(st);
    }).catch((e: unknown) => this.log.error({ err: e }, 'channel: re-evaluation failed'));
  }

  private revoked(m: MemberRecord): void {
    this.membersVersion++;
    const st = this.states.get(m.id);
    if (st !== undefined) {
      st.member = m;
      this.send(st, { type: 'revoked', reason: `member '${m.name}' was revoked at ${m.revokedAt ?? ''}` });
      st.ws?.close(CHANNEL_CLOSE.revoked, 'revoked');
      this.states.delete(m.id);
    }
    this.reevaluateAll();
  }
}

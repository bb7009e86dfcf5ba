/**
 * P8 helper: ONE child process that simulates many controller members (agents). Started by
 * bench/p8-controller.ts with `fork` (tsx loader) and driven over the IPC channel:
 *
 *   {id, cmd: 'enroll', args: {url, token, names, concurrency}}  generate a P-256 key pair per member (node:crypto;
 *                                                                the private key stays here) and enroll each with
 *                                                                `POST /api/v1/enroll` (one N-use token)
 *   {id, cmd: 'connect', args: {url, maxInFlight | ratePerSec}}  start a ControlChannelClient (the real member-side
 *                                                                client of src/kernel) for every enrolled member not
 *                                                                started yet: at most maxInFlight waiting for their
 *                                                                first manifest at a time, or ratePerSec per second
 *   {id, cmd: 'status'}                                          counters (connected, reports, refusals, …)
 *   {id, cmd: 'acks', args: {revision}}                          per member: when the manifest of that revision
 *                                                                arrived and when its APPLIED report was sent
 *   {id, cmd: 'stop'}                                            close every channel, then exit
 *
 * Each answer is `{id, result}` or `{id, error}`. Times are `performance.timeOrigin + performance.now()` (ms
 * since the epoch, sub-millisecond), the clock the parent uses too (same machine).
 *
 * Every member speaks the real channel protocol through ControlChannelClient: a full report (seq 0) on
 * connect, a report every heartbeat (the period the controller's hello gives — 15 s by default), and on a
 * `manifest` a report with status APPLIED and the new running revision/hash (the ack). Reports carry a
 * version, one component per pipe of the running manifest and a few host metrics, like an agent's.
 */
import { generateKeyPairSync } from 'node:crypto';
import { ControlChannelClient } from '../../src/kernel/control-channel-client.ts';
import type { ManifestFrame } from '../../src/protocol/index.ts';
import { HttpClient } from './http.ts';

const now = () => performance.timeOrigin + performance.now();

interface Member {
  name: string;
  credential: string;
  /** Kept as an agent would (never sent anywhere). */
  privateKey: unknown;
  client?: ControlChannelClient;
  /** Pipe ids of the manifest this member runs. */
  pipes: string[];
  runningRevision: number | null;
  pending: { revision: number; recv: number; pipes: string[] } | null;
  /** revision → receive / ack times. */
  acks: Map<number, { recv: number; ack: number }>;
  firstOpenAt: number | null;
  firstManifestAt: number | null;
  startedAt: number | null;
  helloSeen: number;
  scanned: number;
}

const members: Member[] = [];
const counters = { reports: 0, refused503: 0, refusedOther: 0, errors: 0, manifests: 0, enrollErrors: 0 };
const lastErrors: string[] = [];

function noteError(message: string): void {
  if (/HTTP 503/.test(message)) counters.refused503++;
  else if (/channel refused/.test(message)) counters.refusedOther++;
  else counters.errors++;
  if (!/HTTP 503/.test(message)) {
    lastErrors.push(message);
    if (lastErrors.length > 5) lastErrors.shift();
  }
}

async function enroll(args: { url: string; token: string; names: string[]; concurrency: number }): Promise<unknown> {
  const t0 = now();
  const keys = args.names.map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const keygenMs = now() - t0;
  const http = new HttpClient(args.url, {}, { maxSockets: args.concurrency });
  const t1 = now();
  let next = 0;
  const worker = async () => {
    while (next < args.names.length) {
      const i = next++;
      const jwk = keys[i].publicKey.export({ format: 'jwk' });
      try {
        const res = await http.json<{ credential: string; name: string }>('POST', '/api/v1/enroll', {
          token: args.token, kind: 'agent', name: args.names[i], public_key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
        });
        members.push({
          name: res.name, credential: res.credential, privateKey: keys[i].privateKey, pipes: [], runningRevision: null, pending: null,
          acks: new Map(), firstOpenAt: null, firstManifestAt: null, startedAt: null, helloSeen: 0, scanned: 0,
        });
      } catch (e) {
        counters.enrollErrors++;
        noteError(`enroll ${args.names[i]}: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: args.concurrency }, worker));
  http.close();
  return { enrolled: members.length, keygen_ms: keygenMs, enroll_ms: now() - t1, errors: counters.enrollErrors };
}

function startClient(m: Member, url: string): void {
  m.startedAt = now();
  const client = new ControlChannelClient({
    url,
    credential: () => m.credential,
    // Like an agent: the components of the running manifest's pipes, a few host metrics.
    report: () => {
      counters.reports++;
      const t = now();
      m.firstOpenAt ??= t;
      if (m.pending !== null) {
        // Called while building the report that follows an applied manifest: this report is the ack.
        m.acks.set(m.pending.revision, { recv: m.pending.recv, ack: t });
        m.pending = null;
      }
      return {
        version: '0.1.0-bench',
        components: m.pipes.map((id) => ({ id, state: 'running', events_per_sec: 0, backlog: 0, freshness_lag_sec: 0.2 })),
        metrics: { rss_bytes: 90_000_000, cpu_percent: 1.5, open_fds: 40 },
      };
    },
    onManifest: async (f: ManifestFrame) => {
      counters.manifests++;
      const pipes = f.content.kind === 'agent' ? f.content.pipes.map((p) => p.id) : [];
      m.pending = { revision: f.revision, recv: now(), pipes };
      m.firstManifestAt ??= m.pending.recv;
      m.pipes = pipes;
      m.runningRevision = f.revision;
      return { status: 'APPLIED' };
    },
    onError: noteError,
  });
  m.client = client;
  client.start();
}

/**
 * Starts a client for every enrolled member not started yet. Closed loop (default): at most `maxInFlight`
 * clients of this process are between their start and their first manifest (the controller has admitted,
 * authenticated and evaluated them), so the controller gets new members as fast as it absorbs them and no
 * faster. Open loop (`ratePerSec`): new clients at a fixed rate, whatever the controller's state.
 */
function connect(args: { url: string; maxInFlight?: number; ratePerSec?: number }): unknown {
  const todo = members.filter((m) => m.client === undefined);
  let i = 0;
  let budget = 0;
  let settled = 0; // todo[0 … settled) have their first manifest
  const timer = setInterval(() => {
    if (args.ratePerSec !== undefined) {
      budget += Math.max(0.01, args.ratePerSec / 100);
      for (; budget >= 1 && i < todo.length; budget--) startClient(todo[i++], args.url);
    } else {
      while (settled < i && todo[settled].runningRevision !== null) settled++;
      let inFlight = 0;
      for (let k = settled; k < i; k++) if (todo[k].runningRevision === null) inFlight++;
      while (inFlight < (args.maxInFlight ?? 8) && i < todo.length) {
        startClient(todo[i++], args.url);
        inFlight++;
      }
    }
    if (i >= todo.length) clearInterval(timer);
  }, 10);
  return { starting: todo.length };
}

function status(): unknown {
  let connected = 0;
  let opened = 0;
  let started = 0;
  let connections = 0;
  let firstOpen = Infinity;
  let lastOpen = -Infinity;
  let lastFirstManifest = -Infinity;
  let firstStart = Infinity;
  const revisions = new Map<number | null, number>();
  for (const m of members) {
    if (m.client === undefined) continue;
    started++;
    if (m.startedAt !== null) firstStart = Math.min(firstStart, m.startedAt);
    if (m.client.connected) connected++;
    if (m.firstOpenAt !== null) {
      opened++;
      firstOpen = Math.min(firstOpen, m.firstOpenAt);
      lastOpen = Math.max(lastOpen, m.firstOpenAt);
    }
    if (m.firstManifestAt !== null) lastFirstManifest = Math.max(lastFirstManifest, m.firstManifestAt);
    const rec = m.client.received;
    for (; m.scanned < rec.length; m.scanned++) if (rec[m.scanned].type === 'hello') m.helloSeen++;
    rec.splice(0); // keep memory flat: the frames were counted
    m.scanned = 0;
    connections += m.helloSeen;
    revisions.set(m.runningRevision, (revisions.get(m.runningRevision) ?? 0) + 1);
  }
  return {
    enrolled: members.length, started, connected, opened, connections,
    first_start: Number.isFinite(firstStart) ? firstStart : null,
    first_open: Number.isFinite(firstOpen) ? firstOpen : null,
    last_open: Number.isFinite(lastOpen) ? lastOpen : null,
    last_first_manifest: Number.isFinite(lastFirstManifest) ? lastFirstManifest : null,
    running_revisions: [...revisions.entries()],
    ...counters, last_errors: lastErrors,
    rss: process.memoryUsage().rss,
  };
}

function acks(args: { revision: number }): unknown {
  const recv: number[] = [];
  const ack: number[] = [];
  let missing = 0;
  for (const m of members) {
    if (m.client === undefined) continue;
    const a = m.acks.get(args.revision);
    if (a === undefined) missing++;
    else {
      recv.push(a.recv);
      ack.push(a.ack);
    }
  }
  return { recv, ack, missing };
}

async function stop(): Promise<unknown> {
  await Promise.all(members.map((m) => m.client?.stop()));
  return { stopped: members.length };
}

interface Request { id: number; cmd: string; args?: unknown }

process.on('message', (msg: Request) => {
  const run = async (): Promise<unknown> => {
    switch (msg.cmd) {
      case 'enroll': return enroll(msg.args as Parameters<typeof enroll>[0]);
      case 'connect': return connect(msg.args as Parameters<typeof connect>[0]);
      case 'status': return status();
      case 'acks': return acks(msg.args as Parameters<typeof acks>[0]);
      case 'stop': return stop();
      default: throw new Error(`unknown command ${msg.cmd}`);
    }
  };
  run().then(
    (result) => process.send?.({ id: msg.id, result }, () => { if (msg.cmd === 'stop') process.exit(0); }),
    (e: unknown) => process.send?.({ id: msg.id, error: (e as Error).stack ?? String(e) }),
  );
});
process.on('disconnect', () => process.exit(0));

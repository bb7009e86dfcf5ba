/**
 * P8 — control plane at fleet scale, against a REAL controller process (`bin/fustor controller --data-dir TMP
 * --port 0`, embedded SQLite) and simulated agents spread over a few child processes (bench/lib/p8-members.ts:
 * many members per process, each with its own P-256 key pair, enrolled through `POST /api/v1/enroll` with one
 * N-use enrollment token labelled role=bench, each speaking the real channel protocol through the member-side
 * ControlChannelClient of src/kernel).
 *
 * Part A — manifest change → applied by 1,000 agents. The agents connect; a Gateway, a View and two Pipes whose
 * agentSelector matches role=bench are applied, so every agent holds a two-pipe manifest. Then, per repeat, a
 * changed Pipe (`audit_interval_sec`) is applied; per agent: the time from the start of the apply request (bench
 * clock) to the moment that agent sent its APPLIED report for the new revision (child clock; both are
 * `performance.timeOrigin + performance.now()` on one machine). p50 / p99 / max over the agents, median over the
 * repeats. Target p99 ≤ 5 s. Includes the controller's store watch (FUSTOR_CONTROLLER_WATCH_MS, default 500 ms)
 * and the re-evaluation of every connected member. Also: controller CPU over a short window at 1,000 agents.
 *
 * Part B — controller CPU at 10,000 agents heartbeating every 15 s (the controller's default heartbeat, from its
 * hello; not shortened). 9,000 more agents enroll, then connect (see below); once every
 * agent is connected and runs its manifest, the bench waits a settle period (≥ one heartbeat) and then measures
 * utime + stime of the controller process (/proc/PID/stat) over a window (default 60 s) as % of one core.
 * Target ≤ 50 %. Also: connect time, controller RSS, the simulators' CPU (they share the 2 cores with the
 * controller), reports received per second, reconnections.
 *
 * Admission and arrival: the controller's default admission limit (50 connections/s, burst 100) would make
 * 10,000 connects take ≥ 200 s; the bench raises it through FUSTOR_CONTROLLER_ADMISSION_RATE / _BURST (defaults
 * below). New agents are started closed-loop by default: each simulator keeps at most CONNECT_WINDOW / PROCS
 * agents between their start and their first manifest, so the controller receives members as fast as it
 * absorbs them (the connect time is then the controller's own cost of admitting N members). With
 * FUSTOR_BENCH_P8_ARRIVAL_RATE set, agents arrive open-loop at that rate instead (a thundering herd when the
 * rate exceeds what the controller absorbs). Connect time, 503 refusals, client errors and the latency of
 * `GET /healthz` (probed once a second: the controller's event-loop lag) are reported.
 *
 * Environment (all optional): FUSTOR_BENCH_P8_AGENTS (Part A agents, 1000), FUSTOR_BENCH_P8_FLEET (Part B
 * agents, 10000), FUSTOR_BENCH_P8_PROCS (simulator processes, 4), FUSTOR_BENCH_P8_WINDOW_SEC (Part B CPU window,
 * 60), FUSTOR_BENCH_P8_WINDOW_A_SEC (Part A CPU window, 30), FUSTOR_BENCH_P8_SETTLE_SEC (20),
 * FUSTOR_BENCH_P8_ADMISSION_RATE / _BURST (1000 / 1000), FUSTOR_BENCH_P8_CONNECT_WINDOW (32),
 * FUSTOR_BENCH_P8_ARRIVAL_RATE (unset), FUSTOR_BENCH_P8_CONNECT_TIMEOUT_SEC (1800: Part B is reported as not
 * measured when the fleet is not connected by then). `--repeats N` sets the Part A repeats (at least 3).
 * FUSTOR_BENCH_KEEP_LOGS=1 keeps the controller's data dir and log; FUSTOR_BENCH_P8_CONTROLLER_NODE_ARGS passes
 * node flags to the controller (e.g. `--cpu-prof --cpu-prof-dir=DIR`).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { exitOf, stopChild, waitForOutput } from './lib/child-process.ts';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { cpuSecondsOf } from './lib/agent-process.ts';
import type { Benchmark } from './lib/context.ts';
import { readMemory, ROOT } from './lib/gateway-process.ts';
import { HttpClient } from './lib/http.ts';
import { int, median, ms, percentile } from './lib/report.ts';

const TARGET_P99_S = 5;
const TARGET_CPU_PCT = 50;
const now = () => performance.timeOrigin + performance.now();
const sleep = (msec: number) => new Promise((r) => setTimeout(r, msec));
const MiB = 2 ** 20;

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not ${JSON.stringify(v)}`);
  return n;
}

interface P8Config {
  agentsA: number;
  fleet: number;
  procs: number;
  windowSec: number;
  windowASec: number;
  settleSec: number;
  admissionRate: number;
  admissionBurst: number;
  /** Open loop: new clients per second over all processes (undefined: closed loop with connectWindow). */
  arrivalRate: number | undefined;
  connectWindow: number;
  connectTimeoutSec: number;
  repeats: number;
}

function config(repeats: number): P8Config {
  const c: P8Config = {
    agentsA: envInt('FUSTOR_BENCH_P8_AGENTS', 1000),
    fleet: envInt('FUSTOR_BENCH_P8_FLEET', 10_000),
    procs: envInt('FUSTOR_BENCH_P8_PROCS', 4),
    windowSec: envInt('FUSTOR_BENCH_P8_WINDOW_SEC', 60),
    windowASec: envInt('FUSTOR_BENCH_P8_WINDOW_A_SEC', 30),
    settleSec: envInt('FUSTOR_BENCH_P8_SETTLE_SEC', 20),
    admissionRate: envInt('FUSTOR_BENCH_P8_ADMISSION_RATE', 1000),
    admissionBurst: envInt('FUSTOR_BENCH_P8_ADMISSION_BURST', 1000),
    arrivalRate: process.env.FUSTOR_BENCH_P8_ARRIVAL_RATE ? envInt('FUSTOR_BENCH_P8_ARRIVAL_RATE', 0) : undefined,
    connectWindow: envInt('FUSTOR_BENCH_P8_CONNECT_WINDOW', 32),
    connectTimeoutSec: envInt('FUSTOR_BENCH_P8_CONNECT_TIMEOUT_SEC', 1800),
    repeats: Math.max(3, repeats),
  };
  if (c.fleet < c.agentsA) throw new Error('FUSTOR_BENCH_P8_FLEET must be at least FUSTOR_BENCH_P8_AGENTS');
  return c;
}

// ---- the controller process ----------------------------------------------------------------------

interface ControllerProc {
  url: string;
  pid: number;
  adminToken: string;
  logFile: string;
  /** Lines of the log at level warn or above so far (JSON log: level ≥ 40). */
  warnings(): string[];
  /** SIGKILL now (for a bench interrupted by a signal). */
  killNow(): void;
  stop(): Promise<void>;
}

async function startController(env: Record<string, string>): Promise<ControllerProc> {
  const dir = mkdtempSync(join(os.tmpdir(), 'fustor-bench-ctrl-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'controller.log');
  const log = createWriteStream(logFile);
  // Diagnostics: FUSTOR_BENCH_P8_CONTROLLER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' runs the controller as
  // `node ARGS … src/cli/main.ts controller …` (what bin/fustor execs) with those node flags.
  const nodeArgs = (process.env.FUSTOR_BENCH_P8_CONTROLLER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const cliArgs = ['controller', '--data-dir', dataDir, '--port', '0', '--log-format', 'json'];
  const [cmd, args] = nodeArgs.length === 0
    ? [join(ROOT, 'bin/fustor'), cliArgs]
    : [process.execPath, [...nodeArgs, '--enable-source-maps', '--import', `file://${join(ROOT, 'node_modules/tsx/dist/esm/index.mjs')}`, join(ROOT, 'src/cli/main.ts'), ...cliArgs]];
  const child: ChildProcess = spawn(cmd, args, {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FUSTOR_LOG_LEVEL: process.env.FUSTOR_LOG_LEVEL ?? 'info', ...env },
  });
  const exited = exitOf(child);
  const [, url] = await waitForOutput(child, exited, { pattern: /^controller listening on (http:\/\/\S+)$/m, what: 'controller', timeoutMs: 30_000, logFile, matchStderr: true });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  return {
    url, pid: child.pid ?? 0, adminToken, logFile,
    warnings() {
      return readFileSync(logFile, 'utf8').split('\n').filter((l) => /"level":\s*(4|5|6)0\b/.test(l));
    },
    killNow() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    async stop() {
      await stopChild(child, exited, 10_000);
      log.end();
      if (!process.env.FUSTOR_BENCH_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
      else console.error(`controller data dir and log kept in ${dir}`);
    },
  };
}

// ---- the simulator processes ---------------------------------------------------------------------

interface SimStatus {
  enrolled: number; started: number; connected: number; opened: number; connections: number;
  first_start: number | null; first_open: number | null; last_open: number | null; last_first_manifest: number | null;
  running_revisions: [number | null, number][];
  reports: number; refused503: number; refusedOther: number; errors: number; manifests: number; enrollErrors: number;
  last_errors: string[]; rss: number;
}

class Simulator {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  readonly exited: Promise<void>;

  constructor(readonly index: number) {
    const script = join(ROOT, 'bench/lib/p8-members.ts');
    const tsx = `file://${join(ROOT, 'node_modules/tsx/dist/esm/index.mjs')}`;
    this.child = fork(script, [], { cwd: ROOT, execArgv: ['--import', tsx], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (msg: { id: number; result?: unknown; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (p === undefined) return;
      this.pending.delete(msg.id);
      if (msg.error !== undefined) p.reject(new Error(`simulator ${index}: ${msg.error}`));
      else p.resolve(msg.result);
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error(`simulator ${index} exited`));
      this.pending.clear();
      resolve();
    }));
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  call<T>(cmd: string, args?: unknown): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, cmd, args });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.call('stop').catch(() => undefined);
    await this.exited;
    clearTimeout(killer);
  }
}

interface FleetStatus {
  enrolled: number; started: number; connected: number; opened: number; connections: number;
  firstStart: number; firstOpen: number; lastOpen: number; lastFirstManifest: number;
  /** Members whose running manifest revision is ≥ r, per r asked. */
  runningAtLeast(r: number): number;
  reports: number; refused503: number; refusedOther: number; errors: number; manifests: number; enrollErrors: number;
  lastErrors: string[]; rss: number[];
}

async function fleetStatus(sims: Simulator[]): Promise<FleetStatus> {
  const all = await Promise.all(sims.map((s) => s.call<SimStatus>('status')));
  const sum = (f: (s: SimStatus) => number) => all.reduce((a, s) => a + f(s), 0);
  const revs = all.flatMap((s) => s.running_revisions);
  const finite = (xs: (number | null)[], f: (...v: number[]) => number) => {
    const v = xs.filter((x): x is number => x !== null);
    return v.length === 0 ? NaN : f(...v);
  };
  return {
    enrolled: sum((s) => s.enrolled), started: sum((s) => s.started), connected: sum((s) => s.connected), opened: sum((s) => s.opened),
    connections: sum((s) => s.connections),
    firstStart: finite(all.map((s) => s.first_start), Math.min), firstOpen: finite(all.map((s) => s.first_open), Math.min),
    lastOpen: finite(all.map((s) => s.last_open), Math.max), lastFirstManifest: finite(all.map((s) => s.last_first_manifest), Math.max),
    runningAtLeast: (r) => revs.reduce((a, [rev, n]) => a + (rev !== null && rev >= r ? n : 0), 0),
    reports: sum((s) => s.reports), refused503: sum((s) => s.refused503), refusedOther: sum((s) => s.refusedOther), errors: sum((s) => s.errors),
    manifests: sum((s) => s.manifests), enrollErrors: sum((s) => s.enrollErrors),
    lastErrors: all.flatMap((s) => s.last_errors).slice(-5), rss: all.map((s) => s.rss),
  };
}

async function waitFor(sims: Simulator[], what: string, timeoutMs: number, done: (s: FleetStatus) => boolean): Promise<FleetStatus> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await fleetStatus(sims);
    if (done(s)) return s;
    if (Date.now() > end) {
      throw new Error(`${what}: not reached within ${Math.round(timeoutMs / 1000)} s (connected ${s.connected}/${s.started}, opened ${s.opened}, 503 refusals ${s.refused503}, errors ${s.errors}: ${s.lastErrors.join(' | ')})`);
    }
    await sleep(250);
  }
}

/** GET /healthz once a second: how long the controller takes to answer a trivial request (event-loop lag). */
class Prober {
  private readonly samples: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly http: HttpClient;
  private inflight = false;

  constructor(url: string) {
    this.http = new HttpClient(url, {}, { maxSockets: 1 });
  }

  start(): this {
    this.timer = setInterval(() => {
      if (this.inflight) return; // the previous probe is still waiting: counted when it answers
      this.inflight = true;
      const t0 = performance.now();
      this.http.request('GET', '/healthz').then(() => this.samples.push(performance.now() - t0), () => this.samples.push(Infinity)).finally(() => { this.inflight = false; });
    }, 1000);
    return this;
  }

  stop(): { n: number; p50_ms: number; p99_ms: number; max_ms: number } {
    clearInterval(this.timer);
    this.http.close();
    const xs = this.samples;
    return { n: xs.length, p50_ms: percentile(xs, 50), p99_ms: percentile(xs, 99), max_ms: xs.length === 0 ? NaN : Math.max(...xs) };
  }
}

// ---- resources -----------------------------------------------------------------------------------

const SELECTOR = { matchLabels: { role: 'bench' } };
const gateway = { apiVersion: 'fustor.io/v1', kind: 'Gateway', metadata: { name: 'gw-bench' }, spec: { url: 'http://gw-bench.example:8101' } };
const view = { apiVersion: 'fustor.io/v1', kind: 'View', metadata: { name: 'v-bench' }, spec: { driver: 'fs', gateway: 'gw-bench' } };
const pipe = (name: string, auditIntervalSec: number) => ({
  apiVersion: 'fustor.io/v1', kind: 'Pipe', metadata: { name },
  spec: { agentSelector: SELECTOR, source: { driver: 'fs', uri: `/data/${name}` }, view: 'v-bench', audit_interval_sec: auditIntervalSec },
});

// ---- CPU and memory ------------------------------------------------------------------------------

interface CpuMark { t: number; controller: number; sims: number[] }
const cpuMark = (ctrlPid: number, sims: Simulator[]): CpuMark => ({ t: now(), controller: cpuSecondsOf(ctrlPid), sims: sims.map((s) => cpuSecondsOf(s.pid)) });
/** % of one core between two marks: controller, and each simulator. */
const cpuPct = (a: CpuMark, b: CpuMark) => {
  const wall = (b.t - a.t) / 1000;
  return { wall_s: wall, controller: (100 * (b.controller - a.controller)) / wall, sims: b.sims.map((x, i) => (100 * (x - a.sims[i])) / wall) };
};
const pct = (x: number) => `${x.toFixed(1)} %`;
const sec = (msec: number) => `${(msec / 1000).toFixed(2)} s`;

interface RepeatResult {
  revision: number;
  apply_ms: number;
  agents: number;
  missing: number;
  recv_ms: { min: number; p50: number; p99: number; max: number };
  ack_ms: { min: number; p50: number; p99: number; max: number };
}

const summary = (xs: number[]) => ({ min: Math.min(...xs), p50: percentile(xs, 50), p99: percentile(xs, 99), max: Math.max(...xs) });

/** Controller (and simulator) CPU over a window of `seconds`, with RSS samples every 5 s and /healthz probes. */
async function measureWindow(controller: ControllerProc, sims: Simulator[], seconds: number) {
  const st0 = await fleetStatus(sims);
  const probe = new Prober(controller.url).start();
  const w0 = cpuMark(controller.pid, sims);
  const samples: { t_s: number; controller_cpu_s: number; rss_mib: number }[] = [];
  let rssMax = 0;
  const step = 5000;
  for (let t = 0; t < seconds * 1000; t += step) {
    await sleep(Math.min(step, seconds * 1000 - t));
    const m = readMemory(controller.pid);
    rssMax = Math.max(rssMax, m.rss);
    samples.push({ t_s: (now() - w0.t) / 1000, controller_cpu_s: cpuSecondsOf(controller.pid) - w0.controller, rss_mib: m.rss / MiB });
  }
  const w1 = cpuMark(controller.pid, sims);
  const healthz = probe.stop();
  const status = await fleetStatus(sims);
  const cpu = cpuPct(w0, w1);
  const reports = status.reports - st0.reports;
  return {
    cpu, samples, rssMax, healthz, status, reports,
    reconnects: status.connections - st0.connections,
    msPerReport: ((cpu.controller / 100) * cpu.wall_s * 1000) / Math.max(1, reports),
  };
}

export const p8: Benchmark = {
  name: 'p8',
  title: 'P8 control plane: manifest change at 1,000 agents; controller CPU at 10,000 heartbeating agents',
  async run(ctx) {
    const cfg = config(ctx.args.repeats);
    const loadBefore = os.loadavg();
    const tBench = now();
    const controller = await startController({
      FUSTOR_CONTROLLER_ADMISSION_RATE: String(cfg.admissionRate),
      FUSTOR_CONTROLLER_ADMISSION_BURST: String(cfg.admissionBurst),
    });
    const api = new HttpClient(controller.url, { authorization: `Bearer ${controller.adminToken}` });
    const sims = Array.from({ length: cfg.procs }, (_, i) => new Simulator(i));
    // Interrupted (Ctrl-C, kill): take the controller down too (the simulators exit when their IPC channel closes).
    const onSignal = (sig: NodeJS.Signals) => {
      controller.killNow();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const log = (m: string) => process.stderr.write(`  p8: ${m}\n`);
    const arrival = cfg.arrivalRate === undefined
      ? `closed loop: at most ${cfg.connectWindow} agents between start and first manifest at a time`
      : `open loop: ${cfg.arrivalRate} new agents/s`;
    try {
      await Promise.all(sims.map((s) => s.call('status'))); // loaded and answering (tsx start-up is not enrollment time)
      const token = await api.json<{ token: string }>('POST', '/api/v1/tokens/enrollment', { kind: 'agent', labels: { role: 'bench' }, uses: cfg.fleet, ttl_seconds: 6 * 3600 });
      const names = Array.from({ length: cfg.fleet }, (_, i) => `p8-agent-${String(i).padStart(5, '0')}`);
      const enroll = async (from: number, to: number) => {
        const t0 = now();
        const share = sims.map((_, k) => names.slice(from, to).filter((_n, i) => (from + i) % sims.length === k));
        const parts = await Promise.all(sims.map((s, k) => s.call<{ keygen_ms: number; enroll_ms: number }>('enroll', { url: controller.url, token: token.token, names: share[k], concurrency: 4 })));
        log(`enrolled ${to - from}: key generation ${parts.map((p) => ms(p.keygen_ms)).join(', ')}; enrollment ${parts.map((p) => ms(p.enroll_ms)).join(', ')}`);
        const st = await fleetStatus(sims);
        if (st.enrollErrors > 0) throw new Error(`${st.enrollErrors} enrollments failed: ${st.lastErrors.join(' | ')}`);
        return { agents: to - from, seconds: (now() - t0) / 1000 };
      };
      /** Starts every enrolled client not started yet; waits until `expected` are connected (or the timeout). */
      const connect = async (expected: number) => {
        const m0 = cpuMark(controller.pid, sims);
        const probe = new Prober(controller.url).start();
        const how = cfg.arrivalRate === undefined ? { maxInFlight: Math.max(1, Math.round(cfg.connectWindow / sims.length)) } : { ratePerSec: cfg.arrivalRate / sims.length };
        await Promise.all(sims.map((s) => s.call('connect', { url: controller.url, ...how })));
        const end = Date.now() + cfg.connectTimeoutSec * 1000;
        let st = await fleetStatus(sims);
        let lastLog = Date.now();
        const done = (x: FleetStatus) => x.connected >= expected && x.opened >= expected && x.runningAtLeast(0) >= expected;
        while (!done(st) && Date.now() < end) {
          await sleep(250);
          st = await fleetStatus(sims);
          if (Date.now() - lastLog >= 15_000) {
            lastLog = Date.now();
            log(`  ${int(st.connected)} of ${int(expected)} connected after ${((now() - m0.t) / 1000).toFixed(0)} s (${int(st.errors)} client errors, ${int(st.refused503)} refused with 503)`);
          }
        }
        const m1 = cpuMark(controller.pid, sims);
        const complete = done(st);
        // Connect time: the connect command → the last agent's first manifest (admitted, authenticated, evaluated).
        return { status: st, complete, cpu: cpuPct(m0, m1), healthz: probe.stop(), seconds: ((complete ? st.lastFirstManifest : now()) - m0.t) / 1000 };
      };
      const apply = async (docs: unknown[]) => {
        const t0 = now();
        const res = await api.json<{ revision: number | null }>('POST', '/api/v1/apply', docs);
        if (res.revision === null) throw new Error('apply changed nothing');
        return { t0, revision: res.revision, apply_ms: now() - t0 };
      };

      // ---- Part A: 1,000 agents -------------------------------------------------------------------
      const cpu0 = cpuMark(controller.pid, sims);
      log(`enrolling ${int(cfg.agentsA)} agents over ${sims.length} processes…`);
      const enrollA = await enroll(0, cfg.agentsA);
      log(`connecting ${int(cfg.agentsA)} agents (${arrival})…`);
      const connA = await connect(cfg.agentsA);
      if (!connA.complete) throw new Error(`only ${connA.status.connected} of ${cfg.agentsA} agents connected within ${cfg.connectTimeoutSec} s: ${connA.status.lastErrors.join(' | ')}`);
      const initial = await apply([gateway, view, pipe('bench-a', 3600), pipe('bench-b', 3600)]);
      await waitFor(sims, 'initial manifest applied', 60_000, (s) => s.runningAtLeast(initial.revision) >= cfg.agentsA);
      await sleep(1000);
      const repeats: RepeatResult[] = [];
      for (let r = 0; r < cfg.repeats; r++) {
        const a = await apply([pipe('bench-a', 600 + r)]);
        const end = Date.now() + 60_000;
        let acks: { recv: number[]; ack: number[]; missing: number } = { recv: [], ack: [], missing: cfg.agentsA };
        while (Date.now() < end) {
          const parts = await Promise.all(sims.map((s) => s.call<{ recv: number[]; ack: number[]; missing: number }>('acks', { revision: a.revision })));
          acks = { recv: parts.flatMap((p) => p.recv), ack: parts.flatMap((p) => p.ack), missing: parts.reduce((x, p) => x + p.missing, 0) };
          if (acks.missing === 0) break;
          await sleep(100);
        }
        const rel = (xs: number[]) => xs.map((x) => x - a.t0);
        const res: RepeatResult = { revision: a.revision, apply_ms: a.apply_ms, agents: acks.ack.length, missing: acks.missing, recv_ms: summary(rel(acks.recv)), ack_ms: summary(rel(acks.ack)) };
        repeats.push(res);
        log(`repeat ${r + 1}: revision ${a.revision}, ${res.agents} acks (${res.missing} missing), ack p50 ${ms(res.ack_ms.p50)} p99 ${ms(res.ack_ms.p99)} max ${ms(res.ack_ms.max)}`);
        await sleep(1500);
      }
      const lastRevision = repeats.at(-1)?.revision ?? initial.revision;
      // Controller CPU with the Part A fleet heartbeating (a second point for the per-report cost).
      const stA0 = await fleetStatus(sims);
      const wA0 = cpuMark(controller.pid, sims);
      await sleep(cfg.windowASec * 1000);
      const wA1 = cpuMark(controller.pid, sims);
      const stA1 = await fleetStatus(sims);
      const cpuA = cpuPct(wA0, wA1);
      const reportsA = stA1.reports - stA0.reports;

      // ---- Part B: the fleet ----------------------------------------------------------------------
      let enrollB = { agents: 0, seconds: 0 };
      let connB = connA;
      if (cfg.fleet > cfg.agentsA) {
        log(`enrolling ${int(cfg.fleet - cfg.agentsA)} more agents…`);
        enrollB = await enroll(cfg.agentsA, cfg.fleet);
        log(`connecting them (${arrival}; admission ${cfg.admissionRate}/s burst ${cfg.admissionBurst})…`);
        connB = await connect(cfg.fleet);
      }
      const newB = cfg.fleet - cfg.agentsA;
      let settledMs = NaN;
      let window: Awaited<ReturnType<typeof measureWindow>> | undefined;
      if (connB.complete) {
        const tSettled0 = now();
        await waitFor(sims, 'every agent runs its manifest', 120_000, (s) => s.runningAtLeast(lastRevision) >= cfg.fleet);
        settledMs = now() - tSettled0;
        log(`${int(cfg.fleet)} agents connected (the last ${int(newB)} in ${connB.seconds.toFixed(1)} s); settling ${cfg.settleSec} s, then measuring ${cfg.windowSec} s…`);
        await sleep(cfg.settleSec * 1000);
        window = await measureWindow(controller, sims, cfg.windowSec);
      } else {
        log(`only ${int(connB.status.connected)} of ${int(cfg.fleet)} connected after ${cfg.connectTimeoutSec} s: the CPU window is not measured`);
      }
      const stEnd = window?.status ?? await fleetStatus(sims);
      const mem = readMemory(controller.pid);
      const warnings = controller.warnings();
      const loadAfter = os.loadavg();
      const cpuTotal = cpuPct(cpu0, cpuMark(controller.pid, sims));

      // ---- report ---------------------------------------------------------------------------------
      const medOf = (f: (r: RepeatResult) => number) => median(repeats.map(f));
      const p99 = medOf((r) => r.ack_ms.p99);
      const missing = repeats.reduce((a, r) => a + r.missing, 0);
      const simsPct = (c: ReturnType<typeof cpuPct>) => c.sims.map((x) => x.toFixed(0)).join(' + ');
      const sumSims = (c: ReturnType<typeof cpuPct>) => c.sims.reduce((a, b) => a + b, 0);
      const hz = (h: ReturnType<Prober['stop']>) => `/healthz p50 ${ms(h.p50_ms)}, max ${Number.isFinite(h.max_ms) ? ms(h.max_ms) : 'no answer'}`;
      const rowsB: [string, string][] = [
        ['B: agents enrolled / time', `${int(enrollB.agents)} more in ${enrollB.seconds.toFixed(1)} s (${int(enrollB.agents / Math.max(enrollB.seconds, 1e-9))}/s)`],
        ['B: connect time', connB.complete
          ? `${connB.seconds.toFixed(1)} s for ${int(newB)} (${int(newB / connB.seconds)}/s), then ${(settledMs / 1000).toFixed(1)} s until all ran the manifest`
          : `NOT COMPLETE: ${int(connB.status.connected)} of ${int(cfg.fleet)} connected after ${connB.seconds.toFixed(0)} s`],
        ['B: during the connect', `controller CPU ${pct(connB.cpu.controller)} (${ms((connB.cpu.controller / 100) * connB.cpu.wall_s * 1000 / Math.max(1, newB))} per agent admitted), simulators ${simsPct(connB.cpu)} %; ${hz(connB.healthz)}; 503 refusals ${int(connB.status.refused503)}, client errors ${int(connB.status.errors)}`],
      ];
      if (window !== undefined) {
        const w = window;
        rowsB.push(
          [`B: controller CPU at ${int(cfg.fleet)} agents (${cfg.windowSec} s)`, `${pct(w.cpu.controller)} of one core`],
          ['B: reports received', `${int(w.reports / w.cpu.wall_s)}/s (expected ${int(cfg.fleet / 15)}/s) → ${w.msPerReport.toFixed(2)} ms controller CPU per report`],
          ['B: connected at the end / reconnections in the window', `${int(w.status.connected)} / ${int(w.reconnects)}; ${hz(w.healthz)}`],
          ['B: controller RSS (end / max in window)', `${(mem.rss / MiB).toFixed(0)} MiB / ${(w.rssMax / MiB).toFixed(0)} MiB (peak ${(mem.hwm / MiB).toFixed(0)} MiB)`],
          ['B: simulators CPU (% of one core each, sum)', `${simsPct(w.cpu)} = ${pct(sumSims(w.cpu))}; RSS ${w.status.rss.map((r) => (r / MiB).toFixed(0)).join(' / ')} MiB`],
        );
      } else {
        rowsB.push(['B: controller RSS', `${(mem.rss / MiB).toFixed(0)} MiB (peak ${(mem.hwm / MiB).toFixed(0)} MiB)`]);
      }
      return {
        rows: [
          ['controller', `bin/fustor controller (SQLite), admission ${cfg.admissionRate}/s burst ${cfg.admissionBurst} (default 50/s burst 100), heartbeat 15 s (default), watch 500 ms (default)`],
          ['simulators', `${sims.length} processes × ≈${int(Math.ceil(cfg.fleet / sims.length))} ControlChannelClient each; connects: ${arrival}`],
          ['A: agents enrolled / time', `${int(enrollA.agents)} in ${enrollA.seconds.toFixed(1)} s (${int(enrollA.agents / enrollA.seconds)}/s)`],
          ['A: connect time', `${connA.seconds.toFixed(1)} s (controller CPU ${pct(connA.cpu.controller)} meanwhile; ${hz(connA.healthz)})`],
          ['A: repeats', String(repeats.length)],
          ['A: apply request (median)', ms(medOf((r) => r.apply_ms))],
          ['A: apply → manifest received p50 / p99 / max', `${sec(medOf((r) => r.recv_ms.p50))} / ${sec(medOf((r) => r.recv_ms.p99))} / ${sec(medOf((r) => r.recv_ms.max))}`],
          ['A: apply → APPLIED sent p50 / p99 / max', `${sec(medOf((r) => r.ack_ms.p50))} / ${sec(p99)} / ${sec(medOf((r) => r.ack_ms.max))}  (first ${sec(medOf((r) => r.ack_ms.min))})`],
          ['A: per-repeat p99', repeats.map((r) => sec(r.ack_ms.p99)).join(', ')],
          ['A: agents that did not ack (all repeats)', String(missing)],
          [`A: controller CPU at ${int(cfg.agentsA)} agents (${cfg.windowASec} s)`, `${pct(cpuA.controller)} of one core (${int(reportsA / cpuA.wall_s)} reports/s)`],
          ...rowsB,
          ['controller CPU, whole run', `${((cpuTotal.controller / 100) * cpuTotal.wall_s).toFixed(1)} s over ${cpuTotal.wall_s.toFixed(0)} s`],
          ['controller warnings/errors logged', String(warnings.length)],
          ['load average before / after (1 min)', `${loadBefore[0].toFixed(2)} / ${loadAfter[0].toFixed(2)}`],
        ],
        targets: [
          { id: 'P8', what: `manifest change applied by ${int(cfg.agentsA)} agents, p99`, target: `≤ ${TARGET_P99_S} s`, measured: `${sec(p99)} (median of ${repeats.length}; ${missing} acks missing)`, met: missing === 0 && p99 <= TARGET_P99_S * 1000 },
          {
            id: 'P8', what: `controller CPU at ${int(cfg.fleet)} agents heartbeating every 15 s`, target: `≤ ${TARGET_CPU_PCT} % of one core`,
            measured: window === undefined ? `not measured: only ${int(connB.status.connected)} of ${int(cfg.fleet)} agents connected within ${cfg.connectTimeoutSec} s` : pct(window.cpu.controller),
            met: window === undefined ? false : window.status.connected >= cfg.fleet && window.cpu.controller <= TARGET_CPU_PCT,
          },
        ],
        data: {
          config: cfg,
          controller_env: { FUSTOR_CONTROLLER_ADMISSION_RATE: cfg.admissionRate, FUSTOR_CONTROLLER_ADMISSION_BURST: cfg.admissionBurst },
          part_a: {
            agents: cfg.agentsA, enroll: enrollA, connect_s: connA.seconds, connect_cpu: connA.cpu, connect_healthz: connA.healthz,
            initial_revision: initial.revision, repeats,
            median: { apply_ms: medOf((r) => r.apply_ms), recv_p50_ms: medOf((r) => r.recv_ms.p50), recv_p99_ms: medOf((r) => r.recv_ms.p99), ack_p50_ms: medOf((r) => r.ack_ms.p50), ack_p99_ms: p99, ack_max_ms: medOf((r) => r.ack_ms.max) },
            cpu_window: { seconds: cpuA.wall_s, controller_pct: cpuA.controller, simulators_pct: cpuA.sims, reports: reportsA },
          },
          part_b: {
            agents: cfg.fleet, enroll: enrollB, connect_complete: connB.complete, connected_after_connect: connB.status.connected, connect_s: connB.seconds, connect_cpu: connB.cpu,
            connect_controller_cpu_ms_per_agent: (connB.cpu.controller / 100) * connB.cpu.wall_s * 1000 / Math.max(1, newB),
            connect_healthz: connB.healthz, refused_503: connB.status.refused503, client_errors_during_connect: connB.status.errors, settled_after_connect_ms: settledMs,
            window: window === undefined ? null : {
              seconds: window.cpu.wall_s, controller_pct: window.cpu.controller, simulators_pct: window.cpu.sims, reports: window.reports,
              reports_per_s: window.reports / window.cpu.wall_s, controller_cpu_ms_per_report: window.msPerReport, reconnections: window.reconnects,
              healthz: window.healthz, samples: window.samples, rss_max_bytes: window.rssMax,
            },
            connected_end: stEnd.connected, client_errors: stEnd.errors, client_last_errors: stEnd.lastErrors,
            controller_rss_bytes: mem.rss, controller_hwm_bytes: mem.hwm, simulators_rss_bytes: stEnd.rss,
          },
          controller_cpu_total: cpuTotal,
          controller_warnings: warnings.slice(0, 20),
          load_before: loadBefore, load_after: loadAfter,
          wall_s: (now() - tBench) / 1000,
        },
        notes: [
          `controller and ${sims.length} simulator processes share the machine's ${os.cpus().length} cores; the simulators' CPU is shown separately`,
          'latency = apply request start (bench clock) → the agent sent its APPLIED report (child clock, same machine); includes the controller store watch (≤ 500 ms)',
          `load average (1/5/15 min) ${loadBefore.map((x) => x.toFixed(2)).join(' / ')} before, ${loadAfter.map((x) => x.toFixed(2)).join(' / ')} after`,
        ],
      };
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await Promise.all(sims.map((s) => s.stop()));
      api.close();
      await controller.stop();
    }
  },
};

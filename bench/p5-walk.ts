/**
 * P5 — agent full walk (walk + stat + send) of the 1 M-file layout on disk, against GNU find on the same
 * tree in the same run:
 *
 *   find ROOT -printf '%p %s %T@\n' > /dev/null
 *   vs  a real agent process (`bin/fustor agent`, one pipe, default driver_params) pushing ROOT into a fresh
 *       real gateway process, from the agent's spawn to the first 200 of the view's /stats with
 *       item_count = every entry below ROOT (snapshot ended, gateway queue drained, every row applied)
 *
 * Target: agent ≥ 0.7× find's entries/s (the ratio of the two times: both walk the same entries). The page
 * cache is warm for both: one untimed find walk first (it also counts the entries). Each repeat times find,
 * then one agent run on a fresh gateway (empty view, so the snapshot is a full one); the ratio is taken per
 * repeat and its median reported.
 *
 * P7 (time to a ready view of 1 M files, agent start → snapshot complete) is the same wall time: p7-ready.ts
 * reports it from this measurement when both run in one `npm run bench`, or runs it itself.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { cpuSecondsOf, startAgent } from './lib/agent-process.ts';
import type { BenchContext, Benchmark } from './lib/context.ts';
import { startGateway } from './lib/gateway-process.ts';
import { HttpClient } from './lib/http.ts';
import { waitReady } from './lib/ingest-client.ts';
import { ensureTree } from './lib/make-tree.ts';
import { int, median } from './lib/report.ts';
import { P6_DIR } from './p6-freshness.ts';

const TARGET_RATIO = 0.7;
/** Agent runs per measurement at most (each walks and sends the whole tree). */
const MAX_REPEATS = 5;
const READY_TIMEOUT_MS = 240_000;

export interface WalkRun {
  find_s: number;
  /** Agent spawn → view ready with every entry. */
  agent_s: number;
  /** Agent spawn → `agent running` printed (process start, config, status socket, pipe worker started). */
  agent_startup_s: number;
  find_entries_per_s: number;
  agent_entries_per_s: number;
  ratio: number;
  item_count: number;
  agent_cpu_s: number;
  gateway_cpu_s: number;
  agent_peak_rss_mib: number;
  gateway_rss_mib: number;
  agent_walk: unknown;
}

export interface WalkMeasurement {
  root: string;
  /** Entries below ROOT (what the view holds), files among them; find prints one more line (ROOT itself). */
  entries: number;
  files: number;
  warmup_find_s: number;
  tree_created_seconds: number | null;
  load_before: number[];
  load_after: number[];
  runs: WalkRun[];
}

const cache = new WeakMap<BenchContext, Promise<WalkMeasurement>>();

/** The walk measurement of this `npm run bench` (P5 and P7 share it). */
export function measureWalks(ctx: BenchContext): Promise<WalkMeasurement> {
  let m = cache.get(ctx);
  if (m === undefined) {
    m = runWalks(ctx);
    cache.set(ctx, m);
  }
  return m;
}

/** find ROOT -printf … with its output counted (warm-up) or sent to /dev/null (timed); seconds. */
async function runFind(root: string, count: boolean): Promise<{ seconds: number; lines: number; files: number }> {
  const devnull = count ? -1 : openSync('/dev/null', 'w');
  const t0 = performance.now();
  try {
    const format = count ? '%y %p %s %T@\n' : '%p %s %T@\n';
    const child = spawn('find', [root, '-printf', format], { stdio: ['ignore', count ? 'pipe' : devnull, 'inherit'] });
    let lines = 0;
    let files = 0;
    let atLineStart = true;
    child.stdout?.on('data', (chunk: Buffer) => {
      for (let i = 0; i < chunk.length; i++) {
        if (atLineStart && chunk[i] === 0x66 /* f */) files++;
        atLineStart = chunk[i] === 0x0a;
        if (atLineStart) lines++;
      }
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c) => resolve(c));
    });
    if (code !== 0) throw new Error(`find ${root} exited with ${code}`);
    return { seconds: (performance.now() - t0) / 1000, lines, files };
  } finally {
    if (devnull >= 0) closeSync(devnull);
  }
}

async function runWalks(ctx: BenchContext): Promise<WalkMeasurement> {
  const layout = ctx.layout;
  const { root, created, seconds } = await ensureTree(layout, { log: (s) => process.stderr.write(`  ${s}\n`) });
  rmSync(join(root, P6_DIR), { recursive: true, force: true }); // left over by an interrupted P6
  const loadBefore = os.loadavg();
  const warm = await runFind(root, true);
  const entries = warm.lines - 1;
  process.stderr.write(`  warm-up find: ${int(warm.lines)} lines in ${warm.seconds.toFixed(2)} s (load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')})\n`);
  const runs: WalkRun[] = [];
  const repeats = Math.min(ctx.args.repeats, MAX_REPEATS);
  for (let r = 0; r < repeats; r++) {
    const find = await runFind(root, false);
    const gw = await startGateway();
    const query = new HttpClient(gw.url, { 'x-api-key': gw.queryKey });
    try {
      const gwCpu0 = cpuOf(gw.pid);
      const agent = await startAgent({ root, gatewayUrl: gw.url });
      try {
        const stats = await waitReady(query, gw.view, { minItems: entries, intervalMs: 10, timeoutMs: READY_TIMEOUT_MS });
        const readyAt = performance.now();
        const agentCpu = agent.cpuSeconds();
        const gwCpu = cpuOf(gw.pid) - gwCpu0;
        const agentSeconds = (readyAt - agent.spawnedAt) / 1000;
        const status = await agent.status().catch(() => undefined);
        const run: WalkRun = {
          find_s: find.seconds,
          agent_s: agentSeconds,
          agent_startup_s: (agent.runningAt - agent.spawnedAt) / 1000,
          find_entries_per_s: entries / find.seconds,
          agent_entries_per_s: entries / agentSeconds,
          ratio: find.seconds / agentSeconds,
          item_count: Number(stats.item_count ?? NaN),
          agent_cpu_s: agentCpu,
          gateway_cpu_s: gwCpu,
          agent_peak_rss_mib: agent.memory().hwm / 2 ** 20,
          gateway_rss_mib: gw.memory().rss / 2 ** 20,
          agent_walk: status?.pipes[0]?.pipe?.walk ?? null,
        };
        runs.push(run);
        process.stderr.write(`  walk run ${r + 1}/${repeats}: find ${find.seconds.toFixed(2)} s, agent ${agentSeconds.toFixed(2)} s to ready `
          + `(${int(run.agent_entries_per_s)} entries/s, ${run.ratio.toFixed(2)}× find; agent CPU ${agentCpu.toFixed(1)} s, gateway CPU ${gwCpu.toFixed(1)} s)\n`);
      } finally {
        await agent.stop();
      }
    } finally {
      query.close();
      await gw.stop();
    }
  }
  return {
    root, entries, files: warm.files, warmup_find_s: warm.seconds, tree_created_seconds: created ? seconds : null,
    load_before: loadBefore, load_after: os.loadavg(), runs,
  };
}

/** CPU seconds of a process, NaN when /proc cannot be read. */
function cpuOf(pid: number): number {
  try {
    return cpuSecondsOf(pid);
  } catch {
    return NaN;
  }
}

export const loadNote = (m: WalkMeasurement) =>
  `load average (1/5/15 min) ${m.load_before.map((x) => x.toFixed(2)).join(' / ')} before, ${m.load_after.map((x) => x.toFixed(2)).join(' / ')} after; 2 cores shared by find or agent + gateway + bench`;

export const p5: Benchmark = {
  name: 'p5',
  title: 'P5 agent full walk (walk + stat + send to a gateway) vs find -printf',
  async run(ctx) {
    const m = await measureWalks(ctx);
    const med = (k: keyof WalkRun) => median(m.runs.map((x) => x[k] as number));
    const ratio = med('ratio');
    return {
      rows: [
        ['entries below ROOT (files)', `${int(m.entries)} (${int(m.files)})`],
        ['repeats', String(m.runs.length)],
        ['find -printf (median)', `${med('find_s').toFixed(2)} s = ${int(med('find_entries_per_s'))} entries/s`],
        ['agent spawn → ready view (median)', `${med('agent_s').toFixed(2)} s = ${int(med('agent_entries_per_s'))} entries/s`],
        ['agent min … max', `${Math.min(...m.runs.map((x) => x.agent_s)).toFixed(2)} … ${Math.max(...m.runs.map((x) => x.agent_s)).toFixed(2)} s`],
        ['  of which spawn → "agent running" (median)', `${med('agent_startup_s').toFixed(2)} s`],
        ['ratio agent / find (median of per-repeat ratios)', `${ratio.toFixed(2)}×`],
        ['agent CPU / gateway CPU (median)', `${med('agent_cpu_s').toFixed(1)} s / ${med('gateway_cpu_s').toFixed(1)} s`],
        ['agent peak RSS / gateway RSS (median)', `${med('agent_peak_rss_mib').toFixed(0)} MiB / ${med('gateway_rss_mib').toFixed(0)} MiB`],
        ['load average before / after (1 min)', `${m.load_before[0].toFixed(2)} / ${m.load_after[0].toFixed(2)}`],
      ],
      targets: [{
        id: 'P5', what: 'agent full walk vs find -printf', target: `≥ ${TARGET_RATIO}× find`,
        measured: `${ratio.toFixed(2)}× (agent ${int(med('agent_entries_per_s'))} entries/s, find ${int(med('find_entries_per_s'))} entries/s)`,
        met: ratio >= TARGET_RATIO,
      }],
      data: { ...m, median_find_s: med('find_s'), median_agent_s: med('agent_s'), median_ratio: ratio },
      notes: [
        `page cache warm for both: one untimed find walk first (${m.warmup_find_s.toFixed(2)} s); find writes to /dev/null, the agent sends every row over HTTP to a gateway process that indexes it`,
        'agent time runs from its spawn (Node + tsx start included) to the first 200 of /stats with every entry; default driver_params (max_scan_workers 4)',
        loadNote(m),
      ],
    };
  },
};

/**
 * The convergence oracle (spec 60, "Correctness and reliability"): a seeded random workload on a real
 * directory, a fresh walk of the disk, the view read back from a real gateway, and a readable diff.
 *
 *   const w = await runWorkload(root, seed, { ops: 150 });
 *   const diff = compareTrees(walkDisk(root), (await readView(gw))!);
 *   assert.equal(diff.length, 0, formatDiff(diff));
 *
 * What is compared: every path below the root, its type (file / directory), and for files the size and
 * the mtime (tolerance 1e-3 s). Directory sizes are meaningless (the view keeps whatever the agent sent)
 * and directory mtimes are excluded on purpose: a directory's mtime changes whenever an entry inside it
 * is created, removed or renamed, and neither path is required to re-stat the parent (realtime sends the
 * child's row; an audit sends a silent directory's row only with `audit_skipped`, and rule 3 of spec 20
 * never lowers an mtime). The view's directory mtimes are therefore "at least as old as some past state".
 *
 * `runConvergence` (used by test/agent-convergence.test.ts and scripts/soak.ts) runs one seed end to end:
 * a gateway, a leader agent and a follower agent (`watch_limit` small, so most directories are covered by
 * audit only), the workload, quiescence, then
 *   check 1 ("incremental"): wait for an audit that STARTED after the last write (the leader's dir-mtime
 *     cache is warm), compare — strictly for everything except the documented limitation below;
 *   check 2 ("failover"): kill -9 the leader, the follower is promoted (cache cleared, snapshot, first
 *     audit), wait for a complete audit of the new leader, compare strictly;
 * and asserts that no `integrity_suspect` is left once the hot-file threshold has passed.
 *
 * Documented limitation (spec 40 "Audit" + spec 20 rule 3, not a bug): an in-place change (append,
 * overwrite, truncate) of a file in a directory that NEITHER agent watches leaves the directory's mtime
 * unchanged, so the cached audit finds the directory "silent" and never lists the file. Check 1 reports
 * such differences as `limitation` (printed, not failed) — only for paths the workload changed in place
 * and only for size/mtime differences of a file present on both sides. Check 2 has an empty cache and
 * must be exact.
 *
 * The workload avoids the cases where spec 20 rule 3 ("snapshot/audit never overwrite a node whose mtime
 * is ≥ the row's") deliberately keeps the view's newer knowledge, i.e. where the path's mtime on disk goes
 * DOWN (or stays equal while the content changes) where no watch sees it:
 *  - `touch -d`/`cp -p` onto an EXISTING path — old mtimes are applied to NEW paths (`cp -p` into a fresh
 *    name or directory);
 *  - rewriting a file whose mtime is in the future;
 *  - `mv` of an OLDER (or same-tick: the kernel's timestamps are coarse, ~4 ms) file over an existing one —
 *    replacements use a strictly newer file, like an editor's atomic save.
 * The first soak runs found each of these as divergences; they are limits of the spec's design (the rows
 * carry no inode or ctime that would reveal a replaced file), not implementation bugs.
 */
import {
  appendFileSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, truncateSync, utimesSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { demoConfig, eventually, startGateway, type RunningGateway } from './gateway.ts';
import { agentConfig, startAgent, type RunningAgent } from './agent.ts';
import { seededRandom } from '../../src/kernel/seeded-random.ts';

// ───────────────────────────── PRNG ─────────────────────────────

/** mulberry32 (the kernel's seeded PRNG), re-exported for the tests. */
export const mulberry32 = seededRandom;

export class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)); }
  pick<T>(xs: readonly T[]): T { return xs[Math.floor(this.next() * xs.length)]; }
  chance(p: number): boolean { return this.next() < p; }
  name(prefix: string): string { return `${prefix}${Math.floor(this.next() * 1e9).toString(36)}`; }
}

// ───────────────────────────── disk ─────────────────────────────

export interface Entry { type: 'file' | 'directory'; size: number; mtime: number }

/** Fresh walk of `root` with lstat (symlinks are not followed): view path → entry. The root is `/`. */
export function walkDisk(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const visit = (abs: string, rel: string) => {
    let st;
    try {
      st = lstatSync(abs, { bigint: true });
    } catch {
      return; // vanished while walking
    }
    const isDir = st.isDirectory();
    out.set(rel, { type: isDir ? 'directory' : 'file', size: Number(st.size), mtime: Number(st.mtimeNs) / 1e9 });
    if (!isDir) return;
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch {
      return;
    }
    for (const n of names) visit(join(abs, n), rel === '/' ? `/${n}` : `${rel}/${n}`);
  };
  visit(root, '/');
  return out;
}

// ───────────────────────────── view ─────────────────────────────

interface ViewNode { path: string; content_type: string; size: number; modified_time: number; integrity_suspect?: boolean; agent_missing?: boolean; children?: ViewNode[] }

export interface ViewEntry extends Entry { suspect: boolean; agentMissing: boolean }

/** The whole view as path → entry (from `/tree?max_depth=-1`), or null while the view is not ready. */
export async function readView(gw: RunningGateway, view = 'demo'): Promise<Map<string, ViewEntry> | null> {
  const res = await gw.get(`/api/v1/views/${view}/tree?path=/&max_depth=-1`);
  if (res.status !== 200) {
    await res.arrayBuffer();
    return null;
  }
  const root = await res.json() as ViewNode;
  const out = new Map<string, ViewEntry>();
  const walk = (n: ViewNode) => {
    out.set(n.path, {
      type: n.content_type === 'directory' ? 'directory' : 'file',
      size: n.size,
      mtime: n.modified_time,
      suspect: n.integrity_suspect === true,
      agentMissing: n.agent_missing === true,
    });
    for (const c of n.children ?? []) walk(c);
  };
  walk(root);
  return out;
}

export async function viewStats(gw: RunningGateway, view = 'demo'): Promise<Record<string, unknown>> {
  const res = await gw.get(`/api/v1/views/${view}/stats`);
  const body = await res.json() as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`stats: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

// ───────────────────────────── comparison ─────────────────────────────

export type DiffKind = 'missing' | 'extra' | 'type' | 'size' | 'mtime';
export interface Divergence { path: string; kind: DiffKind; disk?: Entry; view?: Entry; limitation?: boolean }

export const MTIME_TOLERANCE = 1e-3;

/**
 * Disk vs view. `inPlace`: paths the workload changed in place; their size/mtime differences are tagged
 * `limitation` (see the header) instead of being plain divergences.
 */
export function compareTrees(disk: Map<string, Entry>, view: Map<string, Entry>, inPlace?: ReadonlySet<string>): Divergence[] {
  const out: Divergence[] = [];
  for (const [path, d] of disk) {
    const v = view.get(path);
    if (v === undefined) {
      out.push({ path, kind: 'missing', disk: d });
      continue;
    }
    if (v.type !== d.type) {
      out.push({ path, kind: 'type', disk: d, view: v });
      continue;
    }
    if (d.type === 'directory') continue; // directories: existence and type only
    const lim = inPlace?.has(path) === true;
    if (v.size !== d.size) out.push({ path, kind: 'size', disk: d, view: v, limitation: lim });
    else if (Math.abs(v.mtime - d.mtime) > MTIME_TOLERANCE) out.push({ path, kind: 'mtime', disk: d, view: v, limitation: lim });
  }
  for (const [path, v] of view) if (!disk.has(path)) out.push({ path, kind: 'extra', view: v });
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const fmtEntry = (e: Entry | undefined) => (e === undefined ? '-' : e.type === 'directory' ? 'dir' : `file size=${e.size} mtime=${e.mtime.toFixed(6)}`);

export function formatDiff(diff: readonly Divergence[], max = 60): string {
  if (diff.length === 0) return '(no differences)';
  const lines = diff.slice(0, max).map((d) => `  ${d.limitation === true ? '[limitation] ' : ''}${d.kind.padEnd(7)} ${d.path}   disk: ${fmtEntry(d.disk)}   view: ${fmtEntry(d.view)}`);
  if (diff.length > max) lines.push(`  … and ${diff.length - max} more`);
  return lines.join('\n');
}

// ───────────────────────────── workload ─────────────────────────────

export interface WorkloadOptions {
  ops: number;
  /** Max pause between operations (ms); default 12. */
  maxPauseMs?: number;
}

export interface WorkloadResult {
  /** One line per operation (for reproducing a failure). */
  log: string[];
  /** Paths (current names) whose content or mtime was changed in place at least once. */
  inPlace: Set<string>;
  counts: Record<string, number>;
}

const OPS: readonly [string, number][] = [
  ['create', 16], ['append', 10], ['overwrite', 7], ['truncate', 5], ['delete', 7], ['renameFile', 8],
  ['renameDir', 4], ['mkdirp', 7], ['rmrf', 2], ['cpP', 6], ['future', 3], ['coldTree', 4],
];
const OP_TOTAL = OPS.reduce((s, [, w]) => s + w, 0);

/**
 * Apply `ops` random operations to `root` (seeded: the same seed on the same starting tree gives the same
 * operations, as long as the run is not so slow that the 1 s margin of replacing renames is crossed). Files are small; names are random; renames may cross directories and replace a file.
 */
export async function runWorkload(root: string, seed: number, opts: WorkloadOptions): Promise<WorkloadResult> {
  const rng = new Rng(seed);
  const log: string[] = [];
  const inPlace = new Set<string>();
  const counts: Record<string, number> = {};
  const abs = (rel: string) => (rel === '/' ? root : join(root, rel));
  const child = (dir: string, name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);
  const content = () => 'x'.repeat(rng.int(0, 3000));
  const nowS = () => Date.now() / 1000;
  /** Moves the in-place marks of `from` (and below it) to `to`. */
  const moveMarks = (from: string, to: string) => {
    for (const p of [...inPlace]) {
      if (p === from || p.startsWith(`${from}/`)) {
        inPlace.delete(p);
        inPlace.add(to + p.slice(from.length));
      }
    }
  };
  const dropMarks = (path: string) => {
    for (const p of [...inPlace]) if (p === path || p.startsWith(`${path}/`)) inPlace.delete(p);
  };

  // An operation that finds nothing to act on is skipped and does not count; the bound keeps a run finite.
  for (let i = 0; log.length < opts.ops && i < opts.ops * 4; i++) {
    const disk = walkDisk(root);
    // Sorted: readdir order differs between file systems and runs; the seed alone must decide.
    const dirs = [...disk].filter(([, e]) => e.type === 'directory').map(([p]) => p).sort();
    const files = [...disk].filter(([, e]) => e.type === 'file').map(([p]) => p).sort();
    // Files with a future mtime are never rewritten in place (rule 3 would keep the future mtime).
    const rewritable = files.filter((p) => disk.get(p)!.mtime <= nowS() + 60); // future ones are ≥ 600 s ahead
    let r = rng.next() * OP_TOTAL;
    let op = OPS[OPS.length - 1][0];
    for (const [name, w] of OPS) {
      if (r < w) {
        op = name;
        break;
      }
      r -= w;
    }
    let line = '';
    switch (op) {
      case 'create': {
        const p = child(rng.pick(dirs), rng.name('f'));
        if (disk.has(p)) break;
        writeFileSync(abs(p), content());
        line = `create ${p}`;
        break;
      }
      case 'append':
      case 'overwrite':
      case 'truncate': {
        if (rewritable.length === 0) break;
        const p = rng.pick(rewritable);
        if (op === 'append') appendFileSync(abs(p), content());
        else if (op === 'overwrite') writeFileSync(abs(p), content());
        else truncateSync(abs(p), rng.int(0, disk.get(p)!.size));
        inPlace.add(p);
        line = `${op} ${p}`;
        break;
      }
      case 'delete': {
        if (files.length === 0) break;
        const p = rng.pick(files);
        rmSync(abs(p));
        inPlace.delete(p);
        line = `delete ${p}`;
        break;
      }
      case 'renameFile': {
        if (files.length === 0) break;
        const from = rng.pick(files);
        // Sometimes onto an existing file (replace), usually to a new name in any directory. A replacement
        // only with a newer file (the editor's "write a temp file, rename it over"): see the header.
        const fromMtime = disk.get(from)!.mtime;
        const replaceable = files.filter((f) => f !== from && disk.get(f)!.mtime + 1 < fromMtime); // 1 s: no timing-dependent ties
        const to = rng.chance(0.2) && replaceable.length > 0 ? rng.pick(replaceable) : child(rng.pick(dirs), rng.name('r'));
        if (disk.has(to) && !replaceable.includes(to)) break;
        renameSync(abs(from), abs(to));
        inPlace.delete(to);
        moveMarks(from, to);
        line = `rename ${from} -> ${to}`;
        break;
      }
      case 'renameDir': {
        const movable = dirs.filter((d) => d !== '/');
        if (movable.length === 0) break;
        const from = rng.pick(movable);
        const targets = dirs.filter((d) => d !== from && !d.startsWith(`${from}/`));
        const to = child(rng.pick(targets), rng.name('R'));
        renameSync(abs(from), abs(to));
        moveMarks(from, to);
        line = `renameDir ${from} -> ${to}`;
        break;
      }
      case 'mkdirp': {
        let p = rng.pick(dirs);
        for (let k = rng.int(1, 3); k > 0; k--) p = child(p, rng.name('d'));
        mkdirSync(abs(p), { recursive: true });
        if (rng.chance(0.6)) writeFileSync(abs(child(p, rng.name('f'))), content());
        line = `mkdir -p ${p}`;
        break;
      }
      case 'rmrf': {
        const movable = dirs.filter((d) => d !== '/');
        if (movable.length < 3) break;
        const p = rng.pick(movable);
        rmSync(abs(p), { recursive: true, force: true });
        dropMarks(p);
        line = `rm -rf ${p}`;
        break;
      }
      case 'cpP': {
        // `cp -p SRC NEW` / `touch -d '-N days' NEW`: a new file with an old mtime.
        const p = child(rng.pick(dirs), rng.name('c'));
        if (disk.has(p)) break;
        const src = files.length > 0 && rng.chance(0.5) ? rng.pick(files) : null;
        const old = src !== null && disk.get(src)!.mtime <= nowS() - 60 ? disk.get(src)!.mtime : nowS() - rng.int(3600, 90 * 86400);
        writeFileSync(abs(p), content());
        utimesSync(abs(p), old, old);
        line = `cp -p ${src ?? '(touch -d)'} ${p} mtime=${old.toFixed(3)}`;
        break;
      }
      case 'future': {
        const p = child(rng.pick(dirs), rng.name('t'));
        if (disk.has(p)) break;
        const future = nowS() + rng.int(600, 86400);
        writeFileSync(abs(p), content());
        utimesSync(abs(p), future, future);
        line = `future ${p} mtime=${future.toFixed(3)}`;
        break;
      }
      case 'coldTree': {
        // A deep, fresh directory tree: with a small watch_limit it is outside the watch set until an
        // audit offers it, so its files reach the view through audits (or the new-directory crawl).
        let p = child('/', 'cold');
        for (let k = rng.int(1, 4); k > 0; k--) p = child(p, rng.name('k'));
        mkdirSync(abs(p), { recursive: true });
        for (let k = rng.int(1, 3); k > 0; k--) writeFileSync(abs(child(p, rng.name('f'))), content());
        line = `cold ${p}`;
        break;
      }
    }
    if (line !== '') {
      counts[op] = (counts[op] ?? 0) + 1;
      log.push(line);
    }
    const pause = rng.int(0, opts.maxPauseMs ?? 12);
    if (pause > 0) await sleep(pause);
  }
  return { log, inPlace, counts };
}

/** A small starting tree (seeded) so the first operations have something to work on. */
export function seedTree(root: string, seed: number): void {
  const rng = new Rng(seed ^ 0x5eed);
  for (let d = 0; d < 6; d++) {
    const dir = join(root, `d${d}`, d % 2 === 0 ? `s${d}` : '');
    mkdirSync(dir, { recursive: true });
    for (let f = rng.int(1, 4); f > 0; f--) writeFileSync(join(dir, `f${d}-${f}`), 'y'.repeat(rng.int(0, 500)));
  }
}

// ───────────────────────────── one seed end to end ─────────────────────────────

export interface ConvergenceOptions {
  ops: number;
  watchLimit?: number;
  hotSeconds?: number;
  auditIntervalSec?: number;
  sessionTimeoutSec?: number;
  maxPauseMs?: number;
  /** Progress lines (soak script). */
  say?: (msg: string) => void;
}

export interface ConvergenceResult {
  seed: number;
  ok: boolean;
  /** Check 1: hard divergences (limitations excluded). */
  incremental: Divergence[];
  /** Check 1: documented-limitation differences (not failures). */
  limitations: Divergence[];
  /** Check 2 (after failover): all divergences. */
  failover: Divergence[];
  suspectsLeft: string[];
  workload: WorkloadResult;
  seconds: number;
  error?: string;
}

/** Waits for an audit that starts after now and completes; returns the stats at its end. */
export async function waitForFreshAudit(gw: RunningGateway, timeoutMs: number): Promise<Record<string, unknown>> {
  const s0 = await viewStats(gw);
  // The agent awaits `audit/start` before walking, and the gateway answers it after opening the window:
  // a window not open now belongs to an audit whose walk starts later.
  const need = (s0.audit_cycle_count as number) + (s0.is_auditing === true ? 2 : 1);
  return eventually(async () => {
    const s = await viewStats(gw);
    return (s.audit_cycle_count as number) >= need && s;
  }, timeoutMs, `an audit started after quiescence (cycle ${need})`);
}

export async function runConvergence(root: string, seed: number, o: ConvergenceOptions): Promise<ConvergenceResult> {
  const t0 = Date.now();
  const say = o.say ?? (() => undefined);
  const hot = o.hotSeconds ?? 1;
  const timeout = o.sessionTimeoutSec ?? 2;
  const gw = await startGateway(demoConfig({
    pipe: { session_timeout_seconds: timeout },
    view: { driver_params: { hot_file_threshold: hot, max_tree_items: 10_000_000 } },
  }));
  const agents: RunningAgent[] = [];
  const result: ConvergenceResult = {
    seed, ok: false, incremental: [], limitations: [], failover: [], suspectsLeft: [],
    workload: { log: [], inPlace: new Set(), counts: {} }, seconds: 0,
  };
  try {
    seedTree(root, seed);
    const cfg = (agentId: string) => agentConfig({
      gateway: gw.url, root, agentId,
      params: { watch_limit: o.watchLimit ?? 3 },
      pipe: { session_timeout_seconds: timeout, audit_interval_sec: o.auditIntervalSec ?? 1, sentinel_interval_sec: 1 },
    });
    const leader = await startAgent(cfg('conv-leader'));
    agents.push(leader);
    await eventually(async () => (await readView(gw))?.has('/d5'), 30_000, 'leader snapshot in the view');
    const follower = await startAgent(cfg('conv-follower'));
    agents.push(follower);
    await eventually(async () => (await follower.pipe('demo'))?.pipe?.role === 'follower', 20_000, 'follower role');
    // Let the follower's initial watches settle before writing (it must not miss its own first events).
    await eventually(async () => ((await follower.pipe('demo'))?.pipe?.watchCount ?? 0) > 0, 10_000, 'follower watching');

    say(`seed ${seed}: workload of ${o.ops} ops`);
    result.workload = await runWorkload(root, seed, { ops: o.ops, maxPauseMs: o.maxPauseMs });
    await sleep(1500); // quiescence: realtime rows delivered, throttles expired
    // …and nothing left on its way (a loaded host may still be sending): both senders' buffers empty and
    // the gateway's queue applied. Polled together; the leader's audits refill its buffer now and then.
    await eventually(async () => {
      for (const a of [leader, follower]) if (((await a.pipe('demo'))?.pipe?.bufferDepth ?? 1) !== 0) return false;
      const p = await (await gw.get('/api/v1/pipe/pipes/demo')).json() as { queue_size: number };
      return p.queue_size === 0;
    }, 60_000, 'both agents sent everything and the gateway applied it');

    // Check 1: an audit started after the last write, the leader's dir-mtime cache warm.
    await waitForFreshAudit(gw, 60_000);
    const disk1 = walkDisk(root);
    const view1 = await readView(gw);
    if (view1 === null) throw new Error('view not ready after the audit');
    const d1 = compareTrees(disk1, view1, result.workload.inPlace);
    result.incremental = d1.filter((d) => d.limitation !== true);
    result.limitations = d1.filter((d) => d.limitation === true);

    // Suspects: none left once the hot threshold (+ a sweep period) has passed after quiescence.
    await sleep(Math.max(0, hot * 1000 + 1000));
    const v = await eventually(async () => {
      const m = await readView(gw);
      return m !== null && [...m].every(([, e]) => !e.suspect) && m;
    }, 30_000, 'suspect flags cleared').catch(() => null);
    if (v === null) {
      const m = (await readView(gw)) ?? new Map<string, ViewEntry>();
      result.suspectsLeft = [...m].filter(([, e]) => e.suspect).map(([p]) => p);
    }

    // Check 2: kill -9 the leader; the follower is promoted, snapshots and audits with an empty cache.
    say(`seed ${seed}: failover`);
    leader.kill('SIGKILL');
    await leader.exited;
    await eventually(async () => { const p = (await follower.pipe('demo'))?.pipe; return p?.role === 'leader' && p.snapshots >= 1 && p.audits >= 1; }, 60_000, 'follower promoted, snapshot and audit done');
    await waitForFreshAudit(gw, 60_000);
    const view2 = await readView(gw);
    if (view2 === null) throw new Error('view not ready after the failover audit');
    result.failover = compareTrees(walkDisk(root), view2);
    result.ok = result.incremental.length === 0 && result.failover.length === 0 && result.suspectsLeft.length === 0;
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
  } finally {
    for (const a of agents) await a.stop().catch(() => undefined);
    await gw.stop().catch(() => undefined);
    result.seconds = (Date.now() - t0) / 1000;
  }
  return result;
}

export function formatResult(r: ConvergenceResult): string {
  const parts = [`seed ${r.seed}: ${r.ok ? 'OK' : 'DIVERGED'} in ${r.seconds.toFixed(1)} s (${r.workload.log.length} ops, ${r.limitations.length} limitation diffs)`];
  if (r.error !== undefined) parts.push(`  error: ${r.error}`);
  if (r.incremental.length > 0) parts.push(`  after the incremental audit:\n${formatDiff(r.incremental)}`);
  if (r.failover.length > 0) parts.push(`  after failover + full audit:\n${formatDiff(r.failover)}`);
  if (r.suspectsLeft.length > 0) parts.push(`  integrity_suspect left: ${r.suspectsLeft.slice(0, 20).join(', ')}`);
  if (!r.ok) parts.push(`  last operations:\n${r.workload.log.slice(-25).map((l) => `    ${l}`).join('\n')}`);
  return parts.join('\n');
}

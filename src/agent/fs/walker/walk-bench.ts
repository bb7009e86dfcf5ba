/**
 * Walker throughput against GNU find on the same tree, in the same run (medians of 3, warm cache).
 *
 *   node --import tsx src/agent/fs/walker/walk-bench.ts [DIR] [--runs N] [--workers 1,2,4]
 *
 * Without DIR: the 1 M-file tree under /tmp/fustor-bench when one has been generated (bench/lib/make-tree.ts),
 * else a 200k-file tree generated once under /tmp/fustor-walk-bench-200k. Rates are entries (files and
 * directories, what find prints) per second. The walker's consumer only counts rows, so the figure is
 * the walk itself: readdir + lstat in the workers, row objects built on the main thread.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { DirMtimeCache } from './dir-mtime-cache.ts';
import { Walker } from './walker.ts';
import type { WalkMode } from './types.ts';

const MARKER = '.fustor-bench-complete';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

function pickTree(): string {
  const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && (i === 0 || !all[i - 1].startsWith('--')));
  if (positional.length > 0) return positional[0];
  const bench = '/tmp/fustor-bench';
  if (existsSync(bench)) {
    for (const name of readdirSync(bench)) {
      if (name.startsWith('tree-') && existsSync(join(bench, name, MARKER))) return join(bench, name);
    }
  }
  const dir = '/tmp/fustor-walk-bench-200k';
  if (!existsSync(join(dir, MARKER))) {
    console.log(`generating 200,000 files under ${dir} …`);
    for (let d = 0; d < 2000; d++) {
      const sub = join(dir, `g${d % 20}`, `d${d}`);
      mkdirSync(sub, { recursive: true });
      for (let f = 0; f < 100; f++) closeSync(openSync(join(sub, `file-${f}.dat`), 'w'));
    }
    writeFileSync(join(dir, MARKER), '200k');
  }
  return dir;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Runs find with its output to /dev/null; returns the seconds it took. */
async function runFind(dir: string): Promise<number> {
  const t0 = performance.now();
  const devnull = openSync('/dev/null', 'w');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const p = spawn('find', [dir, '-printf', '%p %s %T@\n'], { stdio: ['ignore', devnull, 'inherit'] });
      p.once('error', reject);
      p.once('exit', resolve);
    });
    if (code !== 0) throw new Error(`find exited with ${code}`);
  } finally {
    closeSync(devnull);
  }
  return (performance.now() - t0) / 1000;
}

async function countFind(dir: string): Promise<number> {
  let n = 0;
  await new Promise<void>((resolve, reject) => {
    const p = spawn('find', [dir, '-printf', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    p.stdout.on('data', (b: Buffer) => (n += b.length));
    p.once('error', reject);
    p.once('exit', () => resolve());
  });
  return n;
}

async function runWalker(walker: Walker, dir: string, workers: number, mode: WalkMode, cache?: DirMtimeCache): Promise<{ entries: number; seconds: number }> {
  const t0 = performance.now();
  let entries = 0;
  for await (const b of walker.walk(dir, { mode, workers, dirMtimeCache: cache })) entries += b.rows.length;
  return { entries, seconds: (performance.now() - t0) / 1000 };
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en');

async function main(): Promise<void> {
  const dir = pickTree();
  const runs = Number(argValue('--runs') ?? 3);
  const cpus = availableParallelism();
  const workerCounts = (argValue('--workers') ?? [1, 2, Math.min(4, cpus)].filter((v, i, a) => a.indexOf(v) === i).join(','))
    .split(',').map(Number);
  console.log(`tree: ${dir}`);
  const total = await countFind(dir); // also warms the dentry/inode cache
  console.log(`entries: ${fmt(total)}; cpus: ${cpus}; node ${process.version}; runs: ${runs} (median)`);

  // Started once so that thread start-up (tsx registration) is not part of the figures.
  const walker = new Walker({ idleTimeoutMs: 60_000 });
  for (const w of workerCounts) await runWalker(walker, dir, w, 'snapshot');

  const cache = new DirMtimeCache({ maxEntries: 10_000_000 });
  await runWalker(walker, dir, Math.max(...workerCounts), 'audit', cache); // fills the cache

  const times = new Map<string, number[]>();
  const add = (k: string, s: number): void => void times.set(k, [...(times.get(k) ?? []), s]);
  for (let r = 0; r < runs; r++) {
    add('find -printf', await runFind(dir));
    for (const w of workerCounts) {
      const res = await runWalker(walker, dir, w, 'snapshot');
      if (res.entries !== total) throw new Error(`walker saw ${res.entries} entries, find ${total}`);
      add(`walker snapshot, ${w} worker${w > 1 ? 's' : ''}`, res.seconds);
    }
    const w = Math.max(...workerCounts);
    add(`walker audit, all silent, ${w} workers`, (await runWalker(walker, dir, w, 'audit', cache)).seconds);
  }
  await walker.close();

  const findRate = total / median(times.get('find -printf') as number[]);
  console.log('');
  console.log(`${'variant'.padEnd(38)} ${'median s'.padStart(9)} ${'entries/s'.padStart(11)} ${'vs find'.padStart(8)}`);
  for (const [k, ts] of times) {
    const s = median(ts);
    const rate = total / s;
    console.log(`${k.padEnd(38)} ${s.toFixed(3).padStart(9)} ${fmt(rate).padStart(11)} ${`${(rate / findRate).toFixed(2)}×`.padStart(8)}`);
  }
  console.log('(audit, all silent: entries/s counts the tree\'s entries; only directory rows are produced)');
}

await main();

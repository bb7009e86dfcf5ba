/**
 * Materialises a Layout as a real directory tree, for the benchmarks that compare with find and plocate.
 *
 * Files are sparse: each is created empty and truncated to its layout size, so `find -printf %s` reports the
 * same sizes as the rows pushed to the gateway while the tree costs inodes, not disk blocks. mtimes are set
 * on files and directories. A finished tree carries a marker file; a later call with the same layout finds
 * it and returns at once. Location: `$FUSTOR_BENCH_DIR` (default /tmp/fustor-bench)/tree-<shape>.
 *
 * Run directly to build one: `node --import tsx bench/lib/make-tree.ts [--files N]`.
 */
import { closeSync, existsSync, ftruncateSync, futimesSync, mkdirSync, openSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Layout, layoutForFiles, type LayoutOptions } from './layout.ts';

const MARKER = '.fustor-bench-complete';

export function benchDir(): string {
  return process.env.FUSTOR_BENCH_DIR && process.env.FUSTOR_BENCH_DIR !== '' ? process.env.FUSTOR_BENCH_DIR : '/tmp/fustor-bench';
}

/** Directory that holds the tree of this layout (its `upload/submit/…` lies directly below). */
export function treeRoot(layout: Layout): string {
  const o = layout.opts;
  return join(benchDir(), `tree-${o.submissions}x${o.subdirs}x${o.filesPerSubdir}-f${o.fanout.join('x')}-s${o.seed}`);
}

/** Creates submissions [from, to) below root. */
function writeSubmissions(opts: LayoutOptions, root: string, from: number, to: number): void {
  const layout = new Layout(opts);
  for (let i = from; i < to; i++) {
    const base = join(root, layout.submissionPath(i));
    for (let s = 0; s < opts.subdirs; s++) {
      const dir = join(base, Layout.subName(s));
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < opts.filesPerSubdir; f++) {
        const fd = openSync(join(dir, Layout.fileName(f)), 'w');
        try {
          ftruncateSync(fd, layout.fileSize(i, s, f));
          const mtime = layout.fileMtime(i, s, f);
          futimesSync(fd, mtime, mtime);
        } finally {
          closeSync(fd);
        }
      }
      const latest = layout.submissionMtime(i) + 3600;
      utimesSync(dir, latest, latest);
    }
    const latest = layout.submissionMtime(i) + 3600;
    utimesSync(base, latest, latest);
  }
}

if (!isMainThread && (workerData as { makeTree?: boolean } | null)?.makeTree) {
  const { opts, root, from, to } = workerData as { opts: LayoutOptions; root: string; from: number; to: number };
  writeSubmissions(opts, root, from, to);
  parentPort?.postMessage('done');
}

/**
 * Ensures the tree of `layout` exists on disk and returns its root. `workers` threads share the
 * submissions (file creation is syscall-bound; two threads on two cores roughly halve the time).
 */
export async function ensureTree(layout: Layout, opts: { workers?: number; log?: (s: string) => void } = {}): Promise<{ root: string; created: boolean; seconds: number }> {
  const root = treeRoot(layout);
  const marker = join(root, MARKER);
  const expected = JSON.stringify(layout.opts);
  if (existsSync(marker) && readFileSync(marker, 'utf8') === expected) return { root, created: false, seconds: 0 };
  const log = opts.log ?? (() => {});
  log(`creating ${layout.fileCount.toLocaleString('en')} files under ${root} …`);
  const t0 = performance.now();
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const n = layout.opts.submissions;
  const workers = Math.max(1, Math.min(opts.workers ?? 2, n));
  const per = Math.ceil(n / workers);
  await Promise.all(Array.from({ length: workers }, (_, w) => new Promise<void>((resolve, reject) => {
    // Workers do not inherit the tsx loader: register it inside the worker, then load this module.
    const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`;
    const worker = new Worker(boot, {
      eval: true,
      workerData: { makeTree: true, opts: layout.opts, root, from: w * per, to: Math.min(n, (w + 1) * per) },
    });
    worker.once('message', () => resolve());
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`make-tree worker exited with ${code}`))));
  })));
  // Bucket and top directories last, so that creating children does not move their mtimes again.
  const base = layout.opts.baseTime;
  for (let i = 0; i < Math.min(n, layout.opts.fanout[0] * layout.opts.fanout[1]); i++) {
    const bucket = join(root, layout.bucketPath(i));
    utimesSync(bucket, base, base);
    utimesSync(join(bucket, '..'), base, base);
  }
  utimesSync(join(root, 'upload/submit'), base, base);
  utimesSync(join(root, 'upload'), base, base);
  writeFileSync(marker, expected);
  const seconds = (performance.now() - t0) / 1000;
  log(`created in ${seconds.toFixed(1)} s`);
  return { root, created: true, seconds };
}

if (isMainThread && process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const i = process.argv.indexOf('--files');
  const layout = new Layout(layoutForFiles(i > 0 ? Number(process.argv[i + 1]) : 1_000_000));
  const r = await ensureTree(layout, { log: (s) => console.log(s) });
  console.log(`${r.root} (${r.created ? 'created' : 'already there'})`);
}

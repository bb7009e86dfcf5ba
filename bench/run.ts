/**
 * Benchmark runner (spec 60, P1–P8). Benchmarks never run in CI.
 *
 *   npm run bench                      all of them at 1 M files (a few minutes)
 *   npm run bench -- p3 p4             some of them
 *   npm run bench -- p5 p6 p7          the agent benchmarks (a real agent process on the 1 M-file tree)
 *   npm run bench -- p2 --entries 10000000   P2 at 10 M entries (needs a few GB free)
 *
 * Flags: --files N (layout size, default 1,000,000), --repeats N (default 5), --entries N[,N…] (P2, default
 * 1,000,000), --p2-max N (P2 guard, default 10,000,000), --concurrency N (batches in flight, default 4),
 * --batch-size N (rows per batch, default 5,000). Environment: FUSTOR_BENCH_DIR (on-disk trees and the
 * plocate index, default /tmp/fustor-bench), FUSTOR_BENCH_KEEP_LOGS=1 keeps the gateways' logs.
 *
 * Each benchmark prints a table and writes bench/results/<name>.json (date, machine, arguments, targets,
 * every measurement).
 */
import { BenchContext, parseArgs, type Benchmark } from './lib/context.ts';
import { printTable, writeResult, type TargetCheck } from './lib/report.ts';
import { p1 } from './p1-ingest.ts';
import { p2 } from './p2-memory.ts';
import { p3 } from './p3-query.ts';
import { p3r } from './p3r-discovery.ts';
import { p4 } from './p4-search.ts';
import { p5 } from './p5-walk.ts';
import { p6 } from './p6-freshness.ts';
import { p7 } from './p7-ready.ts';
import { p8 } from './p8-controller.ts';

// p7 reports the runs p5 measured (one measurement per `npm run bench`).
const ALL: Benchmark[] = [p1, p2, p3, p3r, p4, p5, p6, p7, p8];

async function main(): Promise<number> {
  const { names, args } = parseArgs(process.argv.slice(2));
  const unknown = names.filter((n) => !ALL.some((b) => b.name === n));
  if (unknown.length > 0) {
    console.error(`unknown benchmark ${unknown.join(', ')}: known are ${ALL.map((b) => b.name).join(', ')}`);
    return 2;
  }
  const selected = names.length === 0 ? ALL : ALL.filter((b) => names.includes(b.name));
  const ctx = new BenchContext(args);
  const summary: TargetCheck[] = [];
  let failed = 0;
  try {
    for (const bench of selected) {
      process.stderr.write(`\n▶ ${bench.title}\n`);
      const t0 = performance.now();
      try {
        const report = await bench.run(ctx);
        report.rows.push(['benchmark wall time', `${((performance.now() - t0) / 1000).toFixed(1)} s`]);
        printTable(bench.title, report);
        const file = writeResult(bench.resultName?.(args) ?? bench.name, report, { ...args });
        console.log(`→ ${file}`);
        summary.push(...report.targets);
      } catch (e) {
        failed++;
        console.error(`${bench.name} failed: ${(e as Error).stack ?? String(e)}`);
      }
    }
  } finally {
    await ctx.dispose();
  }
  if (summary.length > 0) {
    console.log('\nTargets');
    for (const t of summary) console.log(`  [${t.met === null ? 'n/a ' : t.met ? 'MET ' : 'MISS'}] ${t.id} ${t.what}: ${t.measured} (target ${t.target})`);
  }
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();

/**
 * Long convergence soak (spec 60 "Convergence oracle", the long seed set):
 *
 *   npm run soak -- --seeds 50 --ops 500 [--from 1000] [--seed 17] [--watch-limit 3] [--keep]
 *
 * Runs test/helpers/convergence.ts `runConvergence` for seeds `from … from+seeds-1` (or the one `--seed`),
 * one at a time, each with its own gateway, leader and follower agents on a fresh temp directory. Prints
 * one line per seed (and the diff when it diverged) and a summary; exits 1 on any divergence.
 * `--keep` leaves the directories of diverged seeds on disk for inspection.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatResult, runConvergence } from '../test/helpers/convergence.ts';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string', default: '20' },
      ops: { type: 'string', default: '500' },
      from: { type: 'string', default: '1000' },
      seed: { type: 'string' },
      'watch-limit': { type: 'string', default: '3' },
      keep: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
    },
  });
  const num = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${v}`);
    return n;
  };
  const ops = num('ops', values.ops);
  const seeds = values.seed !== undefined
    ? [num('seed', values.seed)]
    : Array.from({ length: num('seeds', values.seeds) }, (_, i) => num('from', values.from) + i);
  const watchLimit = num('watch-limit', values['watch-limit']);
  console.log(`soak: ${seeds.length} seeds × ${ops} ops, watch_limit ${watchLimit}`);
  const failed: number[] = [];
  let limitations = 0;
  const t0 = Date.now();
  for (const seed of seeds) {
    const root = mkdtempSync(join(tmpdir(), `fustor-soak-${seed}-`));
    const r = await runConvergence(root, seed, { ops, watchLimit, say: values.verbose ? (m) => console.log(`  ${m}`) : undefined });
    limitations += r.limitations.length;
    console.log(formatResult(r));
    if (!r.ok) failed.push(seed);
    if (r.ok || !values.keep) rmSync(root, { recursive: true, force: true });
    else console.log(`  kept: ${root}`);
  }
  const secs = ((Date.now() - t0) / 1000).toFixed(0);
  console.log(`\nsummary: ${seeds.length - failed.length}/${seeds.length} seeds converged in ${secs} s; `
    + `${limitations} documented-limitation differences after incremental audits`
    + (failed.length > 0 ? `; DIVERGED: ${failed.join(', ')}` : ''));
  return failed.length > 0 ? 1 : 0;
}

main().then((code) => process.exit(code), (e: unknown) => {
  console.error(`soak: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
});

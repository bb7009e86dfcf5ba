/**
 * P3r — discovery, what reviewers run today vs Fustor, on the same layout on disk and in the view:
 *
 *   find ROOT -type d -name ID   then   find HIT -printf '%p %s %T@\n'
 *   GET /search?pattern=ID&type=directory   then   GET /tree?path=HIT
 *
 * Target: Fustor ≥ 100× faster. The tree is walked once by find before timing, so find runs with a warm page
 * cache (its best case: on NFS every cold directory is a round trip), and a few Fustor queries warm the
 * gateway. Both sides read their whole answer as text; each side parses just enough to find the hit (the
 * tree answer is parsed after the clock stops, to check it against find's lines). Each repeat looks for a
 * different submission; medians over 11 repeats.
 */
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Benchmark } from './lib/context.ts';
import { ensureTree } from './lib/make-tree.ts';
import { int, median, ms } from './lib/report.ts';
import { prng } from './p3-query.ts';

const TARGET_RATIO = 100;
const SAMPLES = 11;

function run(cmd: string, args: string[]): Promise<{ stdout: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 1 << 30 }, (err, stdout) => {
      if (err) reject(err);
      else resolve({ stdout, ms: performance.now() - t0 });
    });
  });
}

export const p3r: Benchmark = {
  name: 'p3r',
  title: 'P3r discovery: find -name + find -printf vs /search + /tree',
  async run(ctx) {
    const { gateway, layout, query } = await ctx.loadedView();
    const { root, created, seconds } = await ensureTree(layout, { log: (s) => process.stderr.write(`  ${s}\n`) });
    const warm = performance.now();
    spawnSync('find', [root], { stdio: 'ignore' });
    const warmMs = performance.now() - warm;
    const base = `/api/v1/views/${gateway.view}`;
    // Warm the Fustor side too (first requests compile the routes' code paths).
    for (let i = 0; i < 3; i++) {
      await query.request('GET', `${base}/search?pattern=${layout.uuid(i)}&type=directory`);
      await query.request('GET', `${base}/tree?path=${encodeURIComponent(layout.submissionPath(i))}`);
    }
    const rnd = prng(11);
    const runs: { id: string; find_name_ms: number; find_printf_ms: number; find_ms: number; fustor_search_ms: number; fustor_tree_ms: number; fustor_ms: number; lines: number; nodes: number }[] = [];
    for (let r = 0; r < Math.max(2 * ctx.args.repeats, SAMPLES); r++) {
      const i = Math.floor(rnd() * layout.opts.submissions);
      const id = layout.uuid(i);
      const byName = await run('find', [root, '-type', 'd', '-name', id]);
      const hit = byName.stdout.trim().split('\n')[0];
      if (hit !== join(root, layout.submissionPath(i))) throw new Error(`find found '${hit}' for ${id}`);
      const printf = await run('find', [hit, '-printf', '%p %s %T@\n']);
      const lines = printf.stdout.split('\n').length - 1;

      const t0 = performance.now();
      const search = JSON.parse((await query.request('GET', `${base}/search?pattern=${id}&type=directory`)).text) as { items: { path: string }[] };
      const t1 = performance.now();
      const viewHit = search.items[0]?.path;
      if (viewHit !== layout.submissionPath(i)) throw new Error(`/search found '${viewHit}' for ${id}`);
      const treeText = (await query.request('GET', `${base}/tree?path=${encodeURIComponent(viewHit)}`)).text;
      const t2 = performance.now();
      const tree = JSON.parse(treeText) as { children?: unknown[] };
      const count = (n: { children?: unknown[] }): number => 1 + (n.children ?? []).reduce<number>((s, c) => s + count(c as { children?: unknown[] }), 0);
      const nodes = count(tree);
      if (nodes !== lines) throw new Error(`find printed ${lines} entries, /tree returned ${nodes}`);
      runs.push({ id, find_name_ms: byName.ms, find_printf_ms: printf.ms, find_ms: byName.ms + printf.ms, fustor_search_ms: t1 - t0, fustor_tree_ms: t2 - t1, fustor_ms: t2 - t0, lines, nodes });
      process.stderr.write(`  p3r run ${r + 1}: find ${ms(byName.ms + printf.ms)}, fustor ${ms(t2 - t0)}\n`);
    }
    const m = (k: keyof (typeof runs)[number]) => median(runs.map((x) => x[k] as number));
    const ratio = m('find_ms') / m('fustor_ms');
    return {
      rows: [
        ['files on disk / entries in view', `${int(layout.fileCount)} / ${int(layout.entryCount)}`],
        ['find -type d -name ID (median)', ms(m('find_name_ms'))],
        ['find HIT -printf (median)', ms(m('find_printf_ms'))],
        ['find total (median)', ms(m('find_ms'))],
        ['/search?pattern=ID&type=directory (median)', ms(m('fustor_search_ms'))],
        ['/tree?path=HIT (median)', ms(m('fustor_tree_ms'))],
        ['Fustor total (median)', ms(m('fustor_ms'))],
        ['ratio find / Fustor', `${ratio.toFixed(0)}×`],
      ],
      targets: [{ id: 'P3r', what: 'discovery vs find', target: `≥ ${TARGET_RATIO}×`, measured: `${ratio.toFixed(0)}× (find ${ms(m('find_ms'))}, Fustor ${ms(m('fustor_ms'))})`, met: ratio >= TARGET_RATIO }],
      data: { root, tree_created_seconds: created ? seconds : null, warmup_walk_ms: warmMs, median_find_ms: m('find_ms'), median_find_name_ms: m('find_name_ms'), median_fustor_ms: m('fustor_ms'), ratio, runs },
      notes: [`page cache warm for find: the whole tree was walked once before timing (${ms(warmMs)}); find is local disk, not NFS`],
    };
  },
};

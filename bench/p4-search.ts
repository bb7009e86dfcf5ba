/**
 * P4 — `/search` over the loaded view vs plocate over an index of the same tree, same run:
 *
 *   name   GET /search?pattern=ID&type=directory      vs  plocate -d DB -b ID   (and plocate -d DB ID)
 *   glob   GET /search?pattern=*.dat&limit=100        vs  plocate -d DB -l 100 '*.dat'
 *
 * Target: Fustor's p50 no slower than plocate's. plocate's figures include starting the process, which is
 * how it is used; Fustor's are one keep-alive HTTP request each (answer read and parsed). `-b` makes plocate
 * give the same single answer as the directory search; the plain `plocate ID` (substring of the whole path)
 * also prints the 1,004 entries below the directory and is reported next to it. The index is built with
 * `updatedb -l 0 -U ROOT -o DB` (prune lists cleared, since /tmp is pruned by default).
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Benchmark } from './lib/context.ts';
import { benchDir, ensureTree } from './lib/make-tree.ts';
import { ms, percentile, type TargetCheck } from './lib/report.ts';
import { prng } from './p3-query.ts';

const SAMPLES = 50;

function timed(cmd: string, args: string[]): Promise<{ ms: number; lines: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 1 << 28 }, (err, stdout) => {
      if (err) reject(err);
      else resolve({ ms: performance.now() - t0, lines: stdout === '' ? 0 : stdout.split('\n').length - 1 });
    });
  });
}

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

export const p4: Benchmark = {
  name: 'p4',
  title: 'P4 /search vs plocate on the same tree',
  async run(ctx) {
    const { gateway, layout, query } = await ctx.loadedView();
    const base = `/api/v1/views/${gateway.view}`;
    const rnd = prng(23);
    const ids = Array.from({ length: SAMPLES }, () => Math.floor(rnd() * layout.opts.submissions));

    const fustorName: number[] = [];
    const fustorGlob: number[] = [];
    for (const i of ids) {
      const t0 = performance.now();
      const r = JSON.parse((await query.request('GET', `${base}/search?pattern=${layout.uuid(i)}&type=directory`)).text) as { items: { path: string }[] };
      fustorName.push(performance.now() - t0);
      if (r.items.length !== 1 || r.items[0].path !== layout.submissionPath(i)) throw new Error(`/search for ${layout.uuid(i)} returned ${JSON.stringify(r.items.slice(0, 2))}`);
      const t1 = performance.now();
      const g = JSON.parse((await query.request('GET', `${base}/search?pattern=${encodeURIComponent('*.dat')}&limit=100`)).text) as { items: unknown[] };
      fustorGlob.push(performance.now() - t1);
      if (g.items.length !== 100) throw new Error(`/search *.dat limit 100 returned ${g.items.length} items`);
    }
    const f50 = { name: percentile(fustorName, 50), glob: percentile(fustorGlob, 50) };
    const rows: [string, string][] = [
      ['/search name → 1 directory, p50 / p99', `${ms(f50.name)} / ${ms(percentile(fustorName, 99))}`],
      ['/search *.dat limit 100, p50 / p99', `${ms(f50.glob)} / ${ms(percentile(fustorGlob, 99))}`],
    ];
    const data: Record<string, unknown> = { samples: SAMPLES, fustor_name_p50_ms: f50.name, fustor_glob_p50_ms: f50.glob, fustor_name_ms: fustorName, fustor_glob_ms: fustorGlob };

    if (!has('plocate') || !has('updatedb')) {
      const how = 'plocate is not installed: `sudo apt-get install -y plocate` (Debian/Ubuntu) or `dnf install plocate`, then run `npm run bench -- p4` again';
      return {
        rows: [...rows, ['plocate', 'not installed — ratio skipped']],
        targets: [{ id: 'P4', what: '/search p50 vs plocate', target: 'no slower than plocate', measured: 'plocate missing', met: null }],
        data,
        notes: [how],
      };
    }

    const { root } = await ensureTree(layout, { log: (s) => process.stderr.write(`  ${s}\n`) });
    const db = join(benchDir(), `${root.split('/').pop()}.plocate.db`);
    const marker = join(root, '.fustor-bench-complete');
    let updatedbMs: number | null = null;
    if (!existsSync(db) || statSync(db).mtimeMs < statSync(marker).mtimeMs) {
      const t0 = performance.now();
      const r = spawnSync('updatedb', ['-l', '0', '-U', root, '-o', db, '--prunepaths', '', '--prunefs', '', '--prunenames', ''], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`updatedb failed: ${r.stderr}`);
      updatedbMs = performance.now() - t0;
    }
    await timed('plocate', ['-d', db, '-b', layout.uuid(ids[0])]); // warm the index file
    const locName: number[] = [];
    const locWhole: number[] = [];
    const locGlob: number[] = [];
    for (const i of ids) {
      const id = layout.uuid(i);
      const b = await timed('plocate', ['-d', db, '-b', id]);
      if (b.lines !== 1) throw new Error(`plocate -b ${id} printed ${b.lines} lines`);
      locName.push(b.ms);
      locWhole.push((await timed('plocate', ['-d', db, id])).ms);
      const g = await timed('plocate', ['-d', db, '-l', '100', '*.dat']);
      if (g.lines !== 100) throw new Error(`plocate -l 100 '*.dat' printed ${g.lines} lines`);
      locGlob.push(g.ms);
    }
    const l50 = { name: percentile(locName, 50), whole: percentile(locWhole, 50), glob: percentile(locGlob, 50) };
    rows.push(
      ['plocate -b ID, p50', ms(l50.name)],
      ['plocate ID (whole path, 1,005 lines), p50', ms(l50.whole)],
      ["plocate -l 100 '*.dat', p50", ms(l50.glob)],
      ['ratio plocate / Fustor (name, glob)', `${(l50.name / f50.name).toFixed(2)}×, ${(l50.glob / f50.glob).toFixed(2)}×`],
    );
    if (updatedbMs !== null) rows.push(['updatedb (index build, this run)', ms(updatedbMs)]);
    const targets: TargetCheck[] = [
      { id: 'P4', what: '/search name p50 vs plocate -b', target: 'no slower than plocate', measured: `${ms(f50.name)} vs ${ms(l50.name)}`, met: f50.name <= l50.name },
      { id: 'P4', what: '/search glob (limit 100) p50 vs plocate -l 100', target: 'no slower than plocate', measured: `${ms(f50.glob)} vs ${ms(l50.glob)}`, met: f50.glob <= l50.glob },
    ];
    Object.assign(data, { db, updatedb_ms: updatedbMs, plocate_b_p50_ms: l50.name, plocate_whole_p50_ms: l50.whole, plocate_glob_p50_ms: l50.glob, plocate_b_ms: locName, plocate_whole_ms: locWhole, plocate_glob_ms: locGlob });
    return { rows, targets, data, notes: ['plocate timings include process start; Fustor timings are single keep-alive HTTP requests from the bench process, answer parsed'] };
  },
};

/**
 * P7 — time to a ready view of the 1 M-file layout: agent process spawned → the gateway's /stats answers 200
 * with every entry below ROOT (the leader's snapshot ended and every row is applied). Target ≤ 20 s.
 *
 * This is the wall time P5 measures (fresh gateway per repeat, warm page cache, default driver_params), so
 * both report from one measurement when they run in the same `npm run bench`; `npm run bench -- p7` alone
 * runs it.
 */
import type { Benchmark } from './lib/context.ts';
import { int, median } from './lib/report.ts';
import { loadNote, measureWalks } from './p5-walk.ts';

const TARGET_SECONDS = 20;

export const p7: Benchmark = {
  name: 'p7',
  title: 'P7 agent start → ready view (1 M files)',
  async run(ctx) {
    const m = await measureWalks(ctx);
    const secs = m.runs.map((x) => x.agent_s);
    const med = median(secs);
    return {
      rows: [
        ['entries below ROOT (files)', `${int(m.entries)} (${int(m.files)})`],
        ['repeats', String(m.runs.length)],
        ['agent spawn → ready view (median)', `${med.toFixed(2)} s`],
        ['min … max', `${Math.min(...secs).toFixed(2)} … ${Math.max(...secs).toFixed(2)} s`],
        ['  of which spawn → "agent running" (median)', `${median(m.runs.map((x) => x.agent_startup_s)).toFixed(2)} s`],
        ['find -printf of the same tree (median)', `${median(m.runs.map((x) => x.find_s)).toFixed(2)} s`],
        ['load average before / after (1 min)', `${m.load_before[0].toFixed(2)} / ${m.load_after[0].toFixed(2)}`],
      ],
      targets: [{ id: 'P7', what: 'agent start → ready view', target: `≤ ${TARGET_SECONDS} s`, measured: `${med.toFixed(2)} s for ${int(m.entries)} entries`, met: med <= TARGET_SECONDS }],
      data: { root: m.root, entries: m.entries, files: m.files, median_seconds: med, seconds: secs, load_before: m.load_before, load_after: m.load_after, runs: m.runs },
      notes: ['same runs as P5 when both run in one `npm run bench`', loadNote(m)],
    };
  },
};

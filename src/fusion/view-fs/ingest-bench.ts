/**
 * Ingest micro-benchmark of the fs engine (not a test): snapshot rows with 4–6 level paths, in events
 * of 100 rows as agents send them, applied to a fresh view. Rows are built before timing.
 * Run: node --import tsx src/fusion/view-fs/ingest-bench.ts [rows] [runs]
 */
import type { Event } from '../../protocol/index.ts';
import { FsView } from './fs-view.ts';

const total = Number(process.argv[2] ?? 1_000_000);
const runs = Number(process.argv[3] ?? 5);
const ROWS_PER_EVENT = 100;

const snapshotEvent = (rows: unknown[]): Event =>
  ({ event_type: 'update', event_schema: 'fs', table: 'files', fields: [], rows, message_source: 'snapshot' }) as unknown as Event;

function buildEvents(): Event[] {
  const events: Event[] = [];
  let rows: unknown[] = [];
  const base = 1_700_000_000;
  for (let i = 0; i < total; i++) {
    // 4 to 6 levels: /proj_a/user_b/run_c/[sub_d/[part_e/]]file_i.dat
    const a = i % 10, b = (i >> 4) % 20, c = (i >> 8) % 50, d = (i >> 12) % 4, e = (i >> 14) % 3;
    const level = 4 + (i >> 16) % 3;
    let dir = `/proj_${a}/user_${b}/run_${c}`;
    if (level >= 5) dir += `/sub_${d}`;
    if (level >= 6) dir += `/part_${e}`;
    const name = `file_${i}.dat`;
    rows.push({ path: `${dir}/${name}`, file_name: name, size: i * 7, modified_time: base + (i % 100000), created_time: base, is_directory: false });
    if (rows.length === ROWS_PER_EVENT) {
      events.push(snapshotEvent(rows));
      rows = [];
    }
  }
  if (rows.length > 0) events.push(snapshotEvent(rows));
  // Consecutive rows of one directory, as a walk emits them.
  for (const ev of events) (ev.rows as { path: string }[]).sort((x, y) => (x.path < y.path ? -1 : 1));
  return events;
}

const settings = { hotFileThreshold: 30, tombstoneTtlSeconds: 3600, maxTreeItems: 100000, maxNodes: 0, auditIntervalSec: 43200, journalSize: 100000 };
const lineage = { pipeId: 'p', agentId: 'agent-1', sourceUri: 'nfs://x' };
const events = buildEvents();
const rates: number[] = [];
for (let r = 0; r < runs; r++) {
  const view = new FsView('bench', settings);
  const t0 = performance.now();
  let applied = 0;
  for (const ev of events) applied += view.applyEvent(ev, 'snapshot', lineage).applied;
  const dt = (performance.now() - t0) / 1000;
  rates.push(applied / dt);
  console.log(`run ${r + 1}: ${applied} rows in ${dt.toFixed(3)} s = ${Math.round(applied / dt).toLocaleString('en-US')} rows/s (items ${view.itemCount()})`);
}
rates.sort((a, b) => a - b);
console.log(`median: ${Math.round(rates[rates.length >> 1]).toLocaleString('en-US')} rows/s`);

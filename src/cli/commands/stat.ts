/**
 * `fustor stat PATH` — one node of a view and, for a directory, its aggregates with `settled` and
 * `quiet_for_seconds`: the one-call answer to "is this upload complete?". `--settled` turns the answer
 * into the exit status (0 settled, 3 not yet) for scripts that wait on an upload.
 */
import type { Command } from 'commander';
import { pathProblem, type FsNode } from '../../protocol/index.ts';
import { addQueryOptions, clientFor, parseNonNegative, QueryError, type QueryFlags } from '../query-client.ts';

interface StatFlags extends QueryFlags {
  json?: boolean;
  quiet?: number;
  settled?: boolean;
}

type Stats = Record<string, unknown> & { settled?: boolean };

/** Exit status of `--settled` when the subtree is not settled yet. */
export const NOT_SETTLED_EXIT = 3;

const TIME_FIELDS = new Set(['modified_time', 'created_time', 'latest_mtime', 'last_change_at', 'last_audit_finished_at', 'audit_started_at', 'suspect_until', 'last_heartbeat_at', 'created_at', 'logical_now']);

function show(key: string, value: unknown): string {
  if (typeof value === 'number' && TIME_FIELDS.has(key) && value > 0) {
    const ms = value * 1000;
    return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? `${new Date(ms).toISOString()} (${value})` : String(value);
  }
  if (typeof value === 'number' && !Number.isInteger(value)) return String(Math.round(value * 10) / 10);
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

/** `key: value` lines, `settled` first among the aggregates because it is the question most callers ask. */
export function renderStat(node: FsNode | undefined, stats: Stats | undefined): string {
  const rows: [string, unknown][] = [];
  if (node !== undefined) {
    for (const [k, v] of Object.entries(node)) if (k !== 'children' && v !== undefined) rows.push([k, v]);
  }
  if (stats !== undefined) {
    const first = ['settled', 'quiet_for_seconds', 'quiet_seconds'];
    for (const k of first) if (stats[k] !== undefined) rows.push([k, stats[k]]);
    for (const [k, v] of Object.entries(stats)) {
      if (first.includes(k) || k === 'path' || v === undefined) continue;
      if (node !== undefined && k in node) continue;
      rows.push([k, v]);
    }
  }
  const width = Math.max(0, ...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${show(k, v)}`).join('\n') + '\n';
}

async function runStat(path: string, f: StatFlags): Promise<void> {
  const problem = pathProblem(path);
  if (problem !== null) throw new Error(`PATH '${path}' is not a view path (${problem}): use a path like /upload/submit`);
  const client = clientFor(f);
  // The view root has no node of its own in /metadata on every gateway; /stats answers for it.
  const node = path === '/' ? undefined : await client.get<FsNode>('metadata', { path });
  let stats: Stats | undefined;
  try {
    stats = await client.get<Stats>('stats', { path, quiet_seconds: f.quiet });
  } catch (e) {
    // A file has no directory aggregates on some gateways: the node alone is the answer then.
    if (!(e instanceof QueryError) || node?.content_type !== 'file' || (e.status !== 400 && e.status !== 404)) throw e;
  }
  process.stdout.write(f.json ? JSON.stringify({ ...node, ...stats }, null, 2) + '\n' : renderStat(node, stats));
  if (f.settled) {
    const settled = stats?.settled ?? (node !== undefined && node.integrity_suspect === false);
    if (settled !== true) process.exitCode = NOT_SETTLED_EXIT;
  }
}

export function registerStat(program: Command): void {
  addQueryOptions(program.command('stat'))
    .description('print a node of a view and its aggregates, with settled = "is this upload complete?"')
    .argument('<path>', 'view-relative path')
    .option('--quiet <seconds>', 'quiet period for settled (default: the view\'s hot_file_threshold)', parseNonNegative)
    .option('--settled', `exit 0 when PATH is settled, ${NOT_SETTLED_EXIT} when it is not (yet)`)
    .option('--json', 'print the node and the aggregates as one JSON object')
    .action(async (path: string, flags: StatFlags) => runStat(path, flags));
}

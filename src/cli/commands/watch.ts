/**
 * `fustor watch PATH` — follows the change journal of a view (`/changes`): prints one `upsert /a/b` or
 * `delete /a/b` line per change under PATH until interrupted (SIGINT/SIGTERM → exit 0).
 *
 * The journal is bounded: when the cursor has expired the gateway answers `fresh_instance: true`. watch then
 * prints `fresh_instance PATH` (changes may have been missed: re-read the tree) and goes on from the new
 * cursor. An unreachable or not-ready gateway is retried with back-off; a rejected key or an unknown view
 * ends the command.
 */
import type { Command } from 'commander';
import { pathProblem, type ChangesResult } from '../../protocol/index.ts';
import { addQueryOptions, clientFor, parseNonNegative, parsePositiveInt, QueryError, type QueryFlags } from '../query-client.ts';

interface WatchFlags extends QueryFlags {
  since?: string;
  interval?: number;
  limit?: number;
  json?: boolean;
}

async function runWatch(path: string, f: WatchFlags): Promise<void> {
  const problem = pathProblem(path);
  if (problem !== null) throw new Error(`PATH '${path}' is not a view path (${problem}): use a path like /upload/submit`);
  const client = clientFor(f);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const intervalMs = (f.interval ?? 1) * 1000;
  const limit = f.limit ?? 1000;
  let cursor = f.since ?? 'now';
  let backoffMs = intervalMs;
  let complained = false;
  try {
    while (!stop.signal.aborted) {
      let page: ChangesResult;
      try {
        page = await client.get<ChangesResult>('changes', { since: cursor, path: path === '/' ? undefined : path, limit }, stop.signal);
      } catch (e) {
        if (stop.signal.aborted) break;
        if (!(e instanceof QueryError) || (e.status !== 0 && e.status !== 503)) throw e;
        if (!complained) process.stderr.write(`fustor watch: ${e.message}; retrying\n`);
        complained = true;
        await sleep(backoffMs, stop.signal);
        backoffMs = Math.min(backoffMs * 2, 10_000);
        continue;
      }
      if (complained) process.stderr.write('fustor watch: gateway answers again\n');
      complained = false;
      backoffMs = intervalMs;
      if (page.fresh_instance) {
        process.stderr.write(`fustor watch: the change journal no longer holds the cursor; changes may have been missed — re-read with 'fustor tree ${path}'\n`);
        process.stdout.write(f.json ? JSON.stringify({ fresh_instance: true, path }) + '\n' : `fresh_instance ${path}\n`);
      }
      let chunk = '';
      for (const c of page.changes) chunk += f.json ? JSON.stringify(c) + '\n' : `${c.op} ${c.path}\n`;
      if (chunk !== '') process.stdout.write(chunk);
      cursor = page.cursor;
      // A full page means more is waiting: ask again at once.
      if (page.changes.length < limit) await sleep(intervalMs, stop.signal);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

export function registerWatch(program: Command): void {
  addQueryOptions(program.command('watch'))
    .description('follow the changes under PATH in a view: prints "upsert /a/b" and "delete /a/b" lines')
    .argument('[path]', 'view-relative path to follow', '/')
    .option('--since <cursor>', 'start from a cursor of an earlier /changes answer (default: now)')
    .option('--interval <seconds>', 'poll interval while nothing changes', parseNonNegative, 1)
    .option('--limit <n>', 'changes per request', parsePositiveInt, 1000)
    .option('--json', 'print each change as one JSON object per line')
    .action(async (path: string, flags: WatchFlags) => runWatch(path, flags));
}

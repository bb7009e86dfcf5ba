/**
 * `GET /changes` (spec 30) over a ChangeJournal: `since` = `now` (or absent) answers the current
 * cursor and no changes; a foreign or expired cursor answers `fresh_instance: true`; otherwise the
 * changes after the cursor, oldest first, at most `limit` (default 1000), optionally limited to a
 * path scope (a delete of an ancestor of the scope is included: it removed the scope too).
 */
import { badRequest } from '../../kernel/errors.ts';
import { isWithin, type ChangesQuery, type ChangesResult, type FsNode } from '../../protocol/index.ts';
import type { ChangeJournal } from './change-journal.ts';
import { checkPath } from './row-validation.ts';

export const DEFAULT_CHANGES_LIMIT = 1000;

type Change = ChangesResult['changes'][number] & { pipe_id?: string };

export function readChanges(journal: ChangeJournal, q: ChangesQuery, nodeOf: (member: number, path: string) => FsNode | undefined,
  pipeOf?: (member: number) => string | undefined): ChangesResult {
  const scope = q.path;
  if (scope !== undefined) {
    const problem = checkPath(scope);
    if (problem !== null) throw badRequest(`invalid path: ${problem}`);
  }
  const pos = journal.parse(q.since);
  if (pos.kind === 'now') return { changes: [], cursor: journal.cursor() };
  if (pos.kind === 'fresh') return { changes: [], cursor: journal.cursor(), fresh_instance: true };
  const limit = q.limit ?? DEFAULT_CHANGES_LIMIT;
  const changes: Change[] = [];
  const next = journal.read(pos.seq, (e) => {
    if (scope !== undefined && scope !== '/' && !isWithin(e.path, scope) && !(e.op === 'delete' && isWithin(scope, e.path))) return true;
    const c: Change = { path: e.path, op: e.op, source: e.source };
    if (e.op === 'upsert') {
      const node = nodeOf(e.member, e.path);
      if (node !== undefined) c.node = node;
    }
    if (pipeOf !== undefined) {
      const pipe = pipeOf(e.member);
      if (pipe !== undefined) c.pipe_id = pipe;
    }
    changes.push(c);
    return changes.length < limit;
  });
  return { changes, cursor: journal.cursor(next) };
}

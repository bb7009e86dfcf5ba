/**
 * ForestView: the `forest-fs` engine (spec 20 "Forest views"). One FsView per pipe, created on the
 * first event, session or audit signal of that pipe; events are routed by `lineage.pipeId` (an event
 * without one is rejected, as the predecessor dropped it). Leadership is per member: the election key
 * is `${viewId}:${pipeId}`. Audit windows, session starts and resets go to the member of the pipe.
 *
 * Queries:
 *  - `tree`, `stats`: `{path, members: {<pipeId>: {status: 'ok', data} | {status: 'error', error}}, best?}`,
 *    members in pipe-id order. With `best=file_count|total_size|latest_mtime`, `members` holds only the
 *    member with the largest value at `path` (ties: the first pipe id) and `best` says which and why:
 *    `{pipe_id, reason, value}` (null when no member has the path). `max_tree_items` is compared with
 *    the sum of the members written.
 *  - `search`, `blindSpots`, `suspectList`: members concatenated in pipe-id order, each in its own
 *    stable order; nodes carry `pipe_id`; cursors carry the pipe id and the member's own cursor.
 *  - `changes`: all members share one change journal, so there is one cursor for the whole view;
 *    each change carries `pipe_id`.
 *  - `metadata`: the node of the first member (pipe-id order) that has the path, with `pipe_id`.
 */
import { FustorError, badRequest, notFound } from '../../kernel/errors.ts';
import type { ChangesQuery, ChangesResult, Event, FsNode, MessageSource, SearchQuery, SentinelUpdate, StatsQuery, TreeQuery } from '../../protocol/index.ts';
import { ChangeJournal, ChunkWriter, FsView, checkPath, checkTreeSize, offsetCursor, readChanges, type TreePlan } from '../view-fs/index.ts';
import { systemClock, type ApplyResult, type Clock, type FsViewSettings, type Lineage, type ViewDriver } from '../view/view-driver.ts';

export type BestMetric = 'file_count' | 'total_size' | 'latest_mtime';
type MemberResult<T> = { status: 'ok'; data: T } | { status: 'error'; error: string };
type Tagged<T> = T & { pipe_id: string };

const CURSOR_SEPARATOR = '~';

export class ForestView implements ViewDriver {
  readonly kind = 'forest-fs' as const;
  private readonly byPipe = new Map<string, FsView>();
  /** Member index (journal tag) → pipe id. */
  private pipes: string[] = [];
  private readonly journal: ChangeJournal;

  constructor(readonly viewId: string, readonly settings: FsViewSettings, private readonly clock: Clock = systemClock) {
    this.journal = new ChangeJournal(settings.journalSize);
  }

  electionKey(pipeId: string): string { return `${this.viewId}:${pipeId}`; }

  /** The member of `pipeId`, created on first use. */
  member(pipeId: string): FsView {
    let m = this.byPipe.get(pipeId);
    if (m === undefined) {
      if (this.pipes.length >= 0xffff) throw new RangeError('forest view: too many members');
      m = new FsView(this.electionKey(pipeId), this.settings, this.clock, { journal: this.journal, member: this.pipes.length });
      this.pipes.push(pipeId);
      this.byPipe.set(pipeId, m);
    }
    return m;
  }

  /** Pipe ids of the members, sorted. */
  memberIds(): string[] { return [...this.byPipe.keys()].sort(); }

  private sorted(): [string, FsView][] {
    return this.memberIds().map((p) => [p, this.byPipe.get(p) as FsView]);
  }

  // ---- ingest ---------------------------------------------------------------------------------

  applyEvent(event: Event, source: MessageSource, lineage: Lineage): ApplyResult {
    if (typeof lineage.pipeId !== 'string' || lineage.pipeId === '') {
      const n = Array.isArray(event.rows) ? event.rows.length : 0;
      return { applied: 0, rejected: n, errors: n > 0 ? ['event carries no pipe id: a forest view routes events by pipe'] : [] };
    }
    return this.member(lineage.pipeId).applyEvent(event, source, lineage);
  }

  auditStart(pipeId: string): void { this.member(pipeId).auditStart(pipeId); }
  auditEnd(pipeId: string): void { this.byPipe.get(pipeId)?.auditEnd(pipeId); }
  sessionStart(pipeId: string): void { this.member(pipeId).sessionStart(pipeId); }

  reset(pipeId?: string): void {
    if (pipeId !== undefined) {
      this.byPipe.get(pipeId)?.reset(pipeId);
      return;
    }
    this.byPipe.clear();
    this.pipes = [];
    this.journal.rotate();
  }

  tick(): void { for (const m of this.byPipe.values()) m.tick(); }

  /** With `pipeId` (recommended), the tasks of that pipe's member; without, all members'. */
  sentinelTasks(pipeId?: string): string[] {
    if (pipeId !== undefined) return this.byPipe.get(pipeId)?.sentinelTasks() ?? [];
    const paths = new Set<string>();
    for (const m of this.byPipe.values()) for (const p of m.sentinelTasks()) paths.add(p);
    return [...paths];
  }

  /**
   * With `pipeId` (recommended), only that member takes the feedback; without, every member does —
   * members ignore paths they do not hold as suspect, but a `missing` then reaches every member that
   * holds the path.
   */
  sentinelFeedback(updates: SentinelUpdate[], pipeId?: string): number {
    if (pipeId !== undefined) return this.byPipe.get(pipeId)?.sentinelFeedback(updates) ?? 0;
    let n = 0;
    for (const m of this.byPipe.values()) n += m.sentinelFeedback(updates);
    return n;
  }

  suspectEvidence(updates: { path: string; mtime: number }[]): number {
    let n = 0;
    for (const m of this.byPipe.values()) n += m.suspectEvidence(updates);
    return n;
  }

  // ---- queries --------------------------------------------------------------------------------

  /** Members to show for `best`: all, or the single best one. */
  private pick(path: string, best: BestMetric | undefined, ok: Set<string>): { shown: [string, FsView][]; best?: { pipe_id: string; reason: BestMetric; value: number } | null } {
    const all = this.sorted();
    if (best === undefined) return { shown: all };
    let chosen: [string, FsView] | undefined;
    let value = -Infinity;
    for (const [pipe, m] of all) {
      if (!ok.has(pipe)) continue;
      const v = m.bestMetric(path, best);
      if (v !== undefined && v > value) { value = v; chosen = [pipe, m]; }
    }
    if (chosen === undefined) return { shown: [], best: null };
    return { shown: [chosen], best: { pipe_id: chosen[0], reason: best, value } };
  }

  tree(q: TreeQuery): string[] {
    const path = validPath(q.path ?? '/');
    const plans = new Map<string, TreePlan>();
    const errors = new Map<string, string>();
    for (const [pipe, m] of this.sorted()) {
      try {
        plans.set(pipe, m.planTree(q));
      } catch (e) {
        if (e instanceof FustorError && e.code === 'NOT_FOUND') errors.set(pipe, e.message);
        else throw e;
      }
    }
    const { shown, best } = this.pick(path, q.best, new Set(plans.keys()));
    let count = 0;
    for (const [pipe] of shown) count += plans.get(pipe)?.count ?? 0;
    checkTreeSize(count, this.settings.maxTreeItems);

    const w = new ChunkWriter();
    w.write(`{"path":${JSON.stringify(path)},"members":{`);
    shown.forEach(([pipe, m], i) => {
      w.write(`${i > 0 ? ',' : ''}${JSON.stringify(pipe)}:`);
      const plan = plans.get(pipe);
      if (plan === undefined) {
        w.write(`{"status":"error","error":${JSON.stringify(errors.get(pipe) ?? 'not found')}}`);
        return;
      }
      w.write('{"status":"ok","data":');
      m.writeTree(plan, w);
      w.write('}');
    });
    w.write('}');
    if (best !== undefined) w.write(`,"best":${JSON.stringify(best)}`);
    w.write('}');
    return w.finish();
  }

  stats(q: StatsQuery): Record<string, unknown> {
    const path = validPath(q.path ?? '/');
    const results = new Map<string, MemberResult<Record<string, unknown>>>();
    for (const [pipe, m] of this.sorted()) {
      try {
        results.set(pipe, { status: 'ok', data: m.stats(q) });
      } catch (e) {
        if (e instanceof FustorError && e.code === 'NOT_FOUND') results.set(pipe, { status: 'error', error: e.message });
        else throw e;
      }
    }
    const ok = new Set([...results].filter(([, r]) => r.status === 'ok').map(([p]) => p));
    const { shown, best } = this.pick(path, q.best, ok);
    const members: Record<string, MemberResult<Record<string, unknown>>> = {};
    for (const [pipe] of shown) members[pipe] = results.get(pipe) as MemberResult<Record<string, unknown>>;
    const out: Record<string, unknown> = { path, members };
    if (best !== undefined) out.best = best;
    return out;
  }

  search(q: SearchQuery): { items: FsNode[]; next_cursor?: string } {
    if (q.path !== undefined) validPath(q.path);
    const members = this.sorted();
    const limit = q.limit ?? 1000;
    let startPipe: string | undefined;
    let memberCursor: string | undefined;
    if (q.cursor !== undefined && q.cursor !== '') [startPipe, memberCursor] = splitCursor(q.cursor);
    const items: Tagged<FsNode>[] = [];
    let pathFound = false;
    for (let i = 0; i < members.length; i++) {
      const [pipe, m] = members[i];
      if (startPipe !== undefined && pipe < startPipe) continue;
      const cursor = pipe === startPipe ? memberCursor : undefined;
      const remaining = limit - items.length;
      if (remaining <= 0) return { items, next_cursor: joinCursor(pipe, '') };
      let res: { items: FsNode[]; next_cursor?: string };
      try {
        res = m.search({ ...q, limit: remaining, cursor: cursor === '' ? undefined : cursor });
        pathFound = true;
      } catch (e) {
        if (e instanceof FustorError && e.code === 'NOT_FOUND') continue;
        throw e;
      }
      for (const n of res.items) items.push({ ...n, pipe_id: pipe });
      if (res.next_cursor !== undefined) return { items, next_cursor: joinCursor(pipe, res.next_cursor) };
    }
    if (!pathFound && members.length > 0 && q.path !== undefined && q.path !== '/' && startPipe === undefined) {
      throw notFound(`path not found or not yet synced: ${q.path}`);
    }
    return { items };
  }

  metadata(path: string): FsNode {
    validPath(path);
    for (const [pipe, m] of this.sorted()) {
      const node = m.nodeAt(path);
      if (node !== undefined) return { ...node, pipe_id: pipe } as Tagged<FsNode>;
    }
    throw notFound(`path not found or not yet synced: ${path}`);
  }

  changes(q: ChangesQuery): ChangesResult {
    return readChanges(this.journal, q, (member, path) => this.byPipe.get(this.pipes[member])?.nodeAt(path), (member) => this.pipes[member]);
  }

  blindSpots(q: { limit?: number; cursor?: string }): { additions_count: number; additions: FsNode[]; deletion_count: number; deletions: string[]; next_cursor?: string } {
    const limit = q.limit ?? 1000;
    const start = offsetCursor(q.cursor);
    const out: { additions_count: number; additions: FsNode[]; deletion_count: number; deletions: string[]; next_cursor?: string } = {
      additions_count: 0, additions: [], deletion_count: 0, deletions: [],
    };
    // One offset over the members' lists laid end to end (each member: its additions, then its deletions).
    let skip = start;
    let taken = 0;
    for (const [pipe, m] of this.sorted()) {
      const c = m.blindSpotCounts();
      out.additions_count += c.additions;
      out.deletion_count += c.deletions;
      const size = c.additions + c.deletions;
      if (skip >= size) { skip -= size; continue; }
      if (taken < limit) {
        const page = m.blindSpots({ limit: limit - taken, cursor: String(skip) });
        for (const n of page.additions) out.additions.push({ ...n, pipe_id: pipe } as Tagged<FsNode>);
        out.deletions.push(...page.deletions);
        taken += page.additions.length + page.deletions.length;
      }
      skip = 0;
    }
    if (start + taken < out.additions_count + out.deletion_count) out.next_cursor = String(start + taken);
    return out;
  }

  suspectList(): { path: string; suspect_until: number; recorded_mtime: number }[] {
    const out: Tagged<{ path: string; suspect_until: number; recorded_mtime: number }>[] = [];
    for (const [pipe, m] of this.sorted()) for (const e of m.suspectList()) out.push({ ...e, pipe_id: pipe });
    return out;
  }

  has(path: string): boolean {
    for (const m of this.byPipe.values()) if (m.has(path)) return true;
    return false;
  }

  itemCount(): number {
    let n = 0;
    for (const m of this.byPipe.values()) n += m.itemCount();
    return n;
  }
}

function validPath(path: string): string {
  const problem = checkPath(path);
  if (problem !== null) throw badRequest(`invalid path: ${problem}`);
  return path;
}

function joinCursor(pipe: string, memberCursor: string): string {
  return `${Buffer.from(pipe).toString('base64url')}${CURSOR_SEPARATOR}${memberCursor}`;
}

function splitCursor(cursor: string): [string, string] {
  const i = cursor.indexOf(CURSOR_SEPARATOR);
  if (i <= 0 || !/^[A-Za-z0-9_-]+$/.test(cursor.slice(0, i))) throw badRequest('cursor is not a value returned by a previous search page');
  return [Buffer.from(cursor.slice(0, i), 'base64url').toString(), cursor.slice(i + 1)];
}

/**
 * The change journal behind `GET /changes` (spec 30): a bounded ring of `{path, op, source}` with a
 * global sequence number. A cursor is the opaque string `<instanceId>.<seq>` (seq = the next change
 * to read). The instance id changes whenever the view is emptied, so an old cursor is recognised as
 * foreign; a cursor older than the ring is expired. Both answer `fresh_instance: true`: the client
 * re-reads the tree instead of silently missing changes.
 *
 * Entries carry no node snapshot: a reader gets the node as it is now (or no node if it is gone),
 * which is what a client that re-reads would see. `member` tags the entry with the forest member that
 * produced it (0 for a plain fs view), so one journal can serve a whole forest view.
 */
import { randomBytes } from 'node:crypto';
import { badRequest } from '../../kernel/errors.ts';
import type { MessageSource } from '../../protocol/index.ts';

export type ChangeOp = 'upsert' | 'delete';
const SOURCES: readonly (MessageSource | 'sentinel')[] = ['realtime', 'snapshot', 'audit', 'on_demand_job', 'sentinel'];
export type ChangeSource = MessageSource | 'sentinel';
const SOURCE_CODE: Record<ChangeSource, number> = { realtime: 0, snapshot: 1, audit: 2, on_demand_job: 3, sentinel: 4 };

export interface ChangeEntry { seq: number; path: string; op: ChangeOp; source: ChangeSource; member: number }

export type CursorPosition = { kind: 'now' } | { kind: 'fresh' } | { kind: 'seq'; seq: number };

function newInstanceId(): string {
  return randomBytes(6).toString('base64url');
}

export class ChangeJournal {
  private instance = newInstanceId();
  private readonly paths: (string | undefined)[];
  private readonly ops: Uint8Array;
  private readonly sources: Uint8Array;
  private readonly members: Uint16Array;
  /** Sequence number the next appended change gets. */
  private nextSeqNo = 1;
  /** Oldest sequence number still in the ring. */
  private firstSeqNo = 1;

  constructor(readonly capacity: number) {
    const n = Math.max(0, Math.floor(capacity));
    this.paths = new Array<string | undefined>(n);
    this.ops = new Uint8Array(n);
    this.sources = new Uint8Array(n);
    this.members = new Uint16Array(n);
  }

  get instanceId(): string { return this.instance; }
  get nextSeq(): number { return this.nextSeqNo; }
  get oldestSeq(): number { return this.firstSeqNo; }
  get length(): number { return this.nextSeqNo - this.firstSeqNo; }

  append(path: string, op: ChangeOp, source: ChangeSource, member = 0): void {
    const cap = this.paths.length;
    if (cap === 0) { this.nextSeqNo++; this.firstSeqNo = this.nextSeqNo; return; }
    const i = this.nextSeqNo % cap;
    this.paths[i] = path;
    this.ops[i] = op === 'delete' ? 1 : 0;
    this.sources[i] = SOURCE_CODE[source];
    this.members[i] = member;
    this.nextSeqNo++;
    if (this.nextSeqNo - this.firstSeqNo > cap) this.firstSeqNo = this.nextSeqNo - cap;
  }

  cursor(seq = this.nextSeqNo): string { return `${this.instance}.${seq}`; }

  /** Where a `since` value points. Malformed text is a 400; a foreign or expired cursor is 'fresh'. */
  parse(since: string | undefined): CursorPosition {
    if (since === undefined || since === '' || since === 'now') return { kind: 'now' };
    const dot = since.lastIndexOf('.');
    const seqText = since.slice(dot + 1);
    if (dot <= 0 || !/^[0-9]{1,15}$/.test(seqText)) throw badRequest(`since must be 'now' or a cursor returned by /changes, got ${JSON.stringify(since.slice(0, 64))}`);
    if (since.slice(0, dot) !== this.instance) return { kind: 'fresh' };
    const seq = Number(seqText);
    if (seq < this.firstSeqNo || seq > this.nextSeqNo) return { kind: 'fresh' };
    return { kind: 'seq', seq };
  }

  /** Visit entries from `seq` on, oldest first; `fn` returns false to stop. Returns the seq after the last visited. */
  read(seq: number, fn: (e: ChangeEntry) => boolean | void): number {
    const cap = this.paths.length;
    let s = Math.max(seq, this.firstSeqNo);
    const entry: ChangeEntry = { seq: 0, path: '', op: 'upsert', source: 'realtime', member: 0 };
    while (s < this.nextSeqNo) {
      const i = s % cap;
      entry.seq = s;
      entry.path = this.paths[i] as string;
      entry.op = this.ops[i] === 1 ? 'delete' : 'upsert';
      entry.source = SOURCES[this.sources[i]];
      entry.member = this.members[i];
      s++;
      if (fn(entry) === false) break;
    }
    return s;
  }

  /** Forget everything and change the instance id: every outstanding cursor becomes foreign. */
  rotate(): void {
    this.instance = newInstanceId();
    this.paths.fill(undefined);
    this.firstSeqNo = this.nextSeqNo;
  }
}

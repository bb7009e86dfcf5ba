/**
 * Detects a batch the agent sent twice (a retry after a lost response). The rule, per session, cheap and
 * without hashing bodies:
 *
 *   1. `metadata.batch_seq` (finite number) identifies the batch;
 *   2. else `metadata.batch_id` (string);
 *   3. else, when the first and the last event carry an `event_id`: `(event count, first id, last id)`;
 *   4. else the batch is not identifiable and is always applied (older agents; the engine's arbitration
 *      makes a replayed upsert harmless, at worst a replayed delete is re-applied).
 *
 * An identity seen among the session's last WINDOW accepted batches makes the batch a duplicate: it is
 * acknowledged (`duplicate: true`) and not applied. Only accepted batches are remembered, so a batch
 * refused with 503/422 can be resent with the same identity. Out-of-order sends are fine (set, not a
 * high-water mark).
 */
import type { EventBatch } from '../../protocol/index.ts';

const WINDOW = 4096;

export function batchIdentity(batch: EventBatch): string | null {
  const seq = batch.metadata?.batch_seq;
  if (typeof seq === 'number' && Number.isFinite(seq)) return `s:${seq}`;
  const id = batch.metadata?.batch_id;
  if (typeof id === 'string' && id.length > 0) return `b:${id}`;
  const events = batch.events;
  if (events.length > 0) {
    const first = events[0].event_id;
    const last = events[events.length - 1].event_id;
    if (first !== undefined && last !== undefined) return `e:${events.length}:${first}:${last}`;
  }
  return null;
}

export class ReplayGuard {
  private readonly seen = new Map<string, { set: Set<string>; order: string[] }>();

  isDuplicate(sessionId: string, identity: string | null): boolean {
    return identity !== null && this.seen.get(sessionId)?.set.has(identity) === true;
  }

  remember(sessionId: string, identity: string | null): void {
    if (identity === null) return;
    let st = this.seen.get(sessionId);
    if (st === undefined) {
      st = { set: new Set(), order: [] };
      this.seen.set(sessionId, st);
    }
    st.set.add(identity);
    st.order.push(identity);
    if (st.order.length > WINDOW) {
      const dropped = st.order.splice(0, st.order.length - WINDOW);
      for (const d of dropped) st.set.delete(d);
    }
  }

  forget(sessionId: string): void {
    this.seen.delete(sessionId);
  }
}

/**
 * Lineage table: the few distinct {agentId, sourceUri} pairs that produced nodes. Nodes store a
 * Uint16 index into it, so at most 65,536 pairs (an agent/source pair is per agent, not per file).
 * Index 0 is the empty lineage {agentId: '', sourceUri: ''} (unknown / never set).
 */
export interface Lineage { readonly agentId: string; readonly sourceUri: string }

export const MAX_LINEAGES = 0x10000;

export class LineageTable {
  private readonly entries: Lineage[] = [];
  private readonly byKey = new Map<string, number>();

  constructor() { this.intern('', ''); }

  get size(): number { return this.entries.length; }

  intern(agentId: string, sourceUri: string): number {
    // The length prefix makes the key unambiguous whatever characters the two strings contain.
    const key = `${agentId.length}:${agentId}\0${sourceUri}`;
    const found = this.byKey.get(key);
    if (found !== undefined) return found;
    if (this.entries.length >= MAX_LINEAGES) throw new RangeError('tree store: more than 65536 distinct lineages');
    const id = this.entries.length;
    this.entries.push(Object.freeze({ agentId, sourceUri }));
    this.byKey.set(key, id);
    return id;
  }

  get(id: number): Lineage {
    const e = this.entries[id];
    if (e === undefined) throw new RangeError(`tree store: unknown lineage ${id}`);
    return e;
  }
}

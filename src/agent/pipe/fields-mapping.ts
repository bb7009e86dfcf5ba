/**
 * `fields_mapping` of a pipe (the predecessor's projection, reference §3.14): a list of
 * `{to: "a.b", source: ["field:type", …], required?}` or `{to, hardcoded_value}` entries.
 *
 * Semantics kept from the predecessor so existing configs mean the same thing:
 * - an empty mapping passes rows through unchanged; a non-empty one is a projection — only mapped keys
 *   survive (omitting `size` makes the gateway see no size);
 * - the first source field present in the row is used; `type` converts it (string, integer, number,
 *   boolean — "true/1/yes/on" are true); a failed conversion keeps the raw value; null is omitted;
 * - a dotted `to` builds nested objects; a conflict (a value where an object is needed) is skipped.
 * Delete rows (`{path}` only) pass through untouched: a projection must never turn a delete into a
 * row without its path. A mapping that drops `path` from upserts is refused when compiled, for the same reason.
 */
export type MappingEntry = Record<string, unknown>;
type Row = Record<string, unknown>;
type Convert = (v: unknown) => unknown;

const CONVERTERS: Record<string, Convert> = {
  string: (v) => (typeof v === 'string' ? v : String(v)),
  integer: (v) => {
    const n = typeof v === 'number' ? v : Number(v);
    return Number.isFinite(n) ? Math.trunc(n) : v;
  },
  number: (v) => {
    const n = typeof v === 'number' ? v : Number(v);
    return Number.isFinite(n) ? n : v;
  },
  boolean: (v) => (typeof v === 'boolean' ? v : typeof v === 'string' ? ['true', '1', 'yes', 'on'].includes(v.toLowerCase()) : Boolean(v)),
};
CONVERTERS.str = CONVERTERS.string;
CONVERTERS.int = CONVERTERS.integer;
CONVERTERS.float = CONVERTERS.number;
CONVERTERS.bool = CONVERTERS.boolean;

interface CompiledEntry {
  to: string[];
  constant?: unknown;
  sources: { field: string; convert: Convert | null }[];
}

export class FieldsMappingError extends Error {}

/** Compile a mapping once; returns null for "pass through". Throws FieldsMappingError naming the entry. */
export function compileFieldsMapping(mapping: readonly MappingEntry[]): ((row: Row) => Row) | null {
  if (mapping.length === 0) return null;
  const entries = mapping.map((m, i) => compileEntry(m, i));
  if (!entries.some((e) => e.to.length === 1 && e.to[0] === 'path')) {
    throw new FieldsMappingError('fields_mapping must map `path` (rows without a path cannot be applied)');
  }
  return (row) => {
    if (isDeleteRow(row)) return row;
    const out: Row = {};
    for (const e of entries) {
      const value = e.constant !== undefined ? e.constant : pick(row, e.sources);
      if (value === null || value === undefined) continue;
      assign(out, e.to, value);
    }
    return out;
  };
}

function compileEntry(m: MappingEntry, i: number): CompiledEntry {
  const where = `fields_mapping[${i}]`;
  if (typeof m.to !== 'string' || m.to === '') throw new FieldsMappingError(`${where}.to: must be a non-empty string`);
  const to = m.to.split('.');
  if ('hardcoded_value' in m) return { to, constant: m.hardcoded_value, sources: [] };
  const src = m.source;
  const list = typeof src === 'string' ? [src] : Array.isArray(src) ? src : null;
  if (list === null || list.length === 0 || !list.every((s) => typeof s === 'string')) {
    throw new FieldsMappingError(`${where}.source: must be a list of "field" or "field:type" strings (or give hardcoded_value)`);
  }
  const sources = (list as string[]).map((s) => {
    const [field, type] = s.split(':', 2);
    if (type === undefined) return { field, convert: null };
    const convert = CONVERTERS[type.trim().toLowerCase()];
    if (convert === undefined) throw new FieldsMappingError(`${where}.source: unknown type '${type}' (string, integer, number, boolean)`);
    return { field, convert };
  });
  return { to, sources };
}

function pick(row: Row, sources: CompiledEntry['sources']): unknown {
  for (const s of sources) {
    if (!(s.field in row)) continue;
    const v = row[s.field];
    if (v === null || v === undefined) return null;
    return s.convert === null ? v : s.convert(v);
  }
  return undefined;
}

function assign(out: Row, to: string[], value: unknown): void {
  let target = out;
  for (let i = 0; i < to.length - 1; i++) {
    const next = target[to[i]];
    if (next === undefined) target = target[to[i]] = {} as Row;
    else if (typeof next === 'object' && next !== null && !Array.isArray(next)) target = next as Row;
    else return; // conflict: a value already sits where an object is needed
  }
  const last = to[to.length - 1];
  if (typeof target[last] === 'object' && target[last] !== null) return; // conflict the other way round
  target[last] = value;
}

function isDeleteRow(row: Row): boolean {
  for (const k in row) if (k !== 'path') return false;
  return true;
}

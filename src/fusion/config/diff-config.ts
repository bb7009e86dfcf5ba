/**
 * What a reload changes, per pipe, view and receiver: added, removed, changed or unchanged. Pure; the
 * gateway acts on it (added start, removed stop, changed restart, unchanged keep their state).
 * "Changed" compares the resolved entries, so a YAML edit that only spells out a default is unchanged.
 */
import type { ResolvedConfig } from './resolved-config.ts';

export interface SectionDiff {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
}

export interface ConfigDiff {
  receivers: SectionDiff;
  views: SectionDiff;
  pipes: SectionDiff;
  /** Top-level settings that differ (host, port, tls, max_body_bytes need a restart; the rest apply live). */
  global: string[];
}

export function diffConfig(prev: ResolvedConfig, next: ResolvedConfig): ConfigDiff {
  const global: string[] = [];
  for (const key of ['host', 'port', 'sessionCleanupInterval', 'maxBodyBytes'] as const) {
    if (prev[key] !== next[key]) global.push(key);
  }
  if (canonical(prev.tls ?? null) !== canonical(next.tls ?? null)) global.push('tls');
  return {
    receivers: diffMaps(prev.receivers, next.receivers),
    views: diffMaps(prev.views, next.views),
    pipes: diffMaps(prev.pipes, next.pipes),
    global,
  };
}

function diffMaps<T>(prev: Map<string, T>, next: Map<string, T>): SectionDiff {
  const out: SectionDiff = { added: [], removed: [], changed: [], unchanged: [] };
  for (const [id, value] of next) {
    const old = prev.get(id);
    if (old === undefined) out.added.push(id);
    else if (canonical(old) === canonical(value)) out.unchanged.push(id);
    else out.changed.push(id);
  }
  for (const id of prev.keys()) if (!next.has(id)) out.removed.push(id);
  return out;
}

/** JSON with sorted object keys, so equal entries compare equal whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

/**
 * Helpers for the engine's tests (fake clock, event builders). Not used by production code.
 */
import type { Event, FsNode, MessageSource, TreeQuery } from '../../protocol/index.ts';
import type { Clock, FsViewSettings, Lineage } from '../view/view-driver.ts';
import { FsView } from './fs-view.ts';

export const T0 = 1_700_000_000;

export class FakeClock implements Clock {
  constructor(public t = T0) {}
  now(): number { return this.t; }
  advance(seconds: number): void { this.t += seconds; }
}

export const SETTINGS: FsViewSettings = {
  hotFileThreshold: 30,
  tombstoneTtlSeconds: 3600,
  maxTreeItems: 100_000,
  maxNodes: 0,
  auditIntervalSec: 600,
  journalSize: 1000,
};

export const LINEAGE: Lineage = { pipeId: 'pipe-a', agentId: 'agent-1', sourceUri: 'nfs://server/export' };

export function makeView(overrides: Partial<FsViewSettings> = {}, clock = new FakeClock()): { view: FsView; clock: FakeClock } {
  return { view: new FsView('view-a', { ...SETTINGS, ...overrides }, clock), clock };
}

export type Row = Record<string, unknown>;

export function file(path: string, mtime: number, extra: Row = {}): Row {
  return { path, file_name: path.slice(path.lastIndexOf('/') + 1), size: 100, modified_time: mtime, created_time: mtime, is_directory: false, ...extra };
}

export function dir(path: string, mtime: number, extra: Row = {}): Row {
  return { path, file_name: path.slice(path.lastIndexOf('/') + 1), size: 4096, modified_time: mtime, created_time: mtime, is_directory: true, ...extra };
}

/**
 * An event as it arrives on the wire. (Cast: the protocol's `Event` type currently resolves
 * `event_type` to `never` because its union is built from a mapped array, not a tuple.)
 */
export function wireEvent(eventType: 'insert' | 'update' | 'delete', source: MessageSource, rows: unknown[]): Event {
  return { event_type: eventType, event_schema: 'fs', table: 'files', fields: [], rows, message_source: source } as unknown as Event;
}

export function upsertEvent(source: MessageSource, rows: unknown[]): Event {
  return wireEvent('update', source, rows);
}

export function deleteEvent(source: MessageSource, paths: string[]): Event {
  return wireEvent('delete', source, paths.map((path) => ({ path })));
}

export function upsert(view: FsView, source: MessageSource, rows: unknown[], lineage: Lineage = LINEAGE) {
  return view.applyEvent(upsertEvent(source, rows), source, lineage);
}

export function remove(view: FsView, source: MessageSource, paths: string[], lineage: Lineage = LINEAGE) {
  return view.applyEvent(deleteEvent(source, paths), source, lineage);
}

export function node(view: FsView, path: string): FsNode | undefined {
  return view.nodeAt(path);
}

export function treeOf(view: { tree(q: TreeQuery): string[] }, q: TreeQuery = {}): Record<string, unknown> {
  return JSON.parse(view.tree(q).join('')) as Record<string, unknown>;
}

export function childNames(n: unknown): string[] {
  return ((n as { children?: { name: string }[] }).children ?? []).map((c) => c.name);
}

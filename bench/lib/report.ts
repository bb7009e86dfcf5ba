/** Statistics, tables and the JSON result files of the benchmarks (bench/results/<name>.json). */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = fileURLToPath(new URL('../results', import.meta.url));

export function median(xs: number[]): number {
  return percentile(xs, 50);
}

/** Nearest-rank percentile (p in 0–100) of an unsorted sample. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))];
}

export interface TargetCheck {
  id: string;
  what: string;
  target: string;
  measured: string;
  met: boolean | null;
}

export interface BenchReport {
  /** Rows of the printed table: label → value (already formatted). */
  rows: [string, string][];
  targets: TargetCheck[];
  /** Everything measured, machine-readable. */
  data: Record<string, unknown>;
  notes?: string[];
}

export function machine(): Record<string, unknown> {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
  };
}

export function writeResult(name: string, report: BenchReport, args: Record<string, unknown>): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(file, JSON.stringify({ name, date: new Date().toISOString(), machine: machine(), args, targets: report.targets, results: report.data, notes: report.notes ?? [] }, null, 2) + '\n');
  return file;
}

export function printTable(title: string, report: BenchReport): void {
  const w = Math.max(...report.rows.map(([k]) => k.length), 10);
  const lines = [`\n${title}`, '-'.repeat(title.length)];
  for (const [k, v] of report.rows) lines.push(`${k.padEnd(w)}  ${v}`);
  if (report.targets.length > 0) {
    lines.push('');
    for (const t of report.targets) {
      const mark = t.met === null ? 'n/a ' : t.met ? 'MET ' : 'MISS';
      lines.push(`[${mark}] ${t.id} ${t.what}: ${t.measured} (target ${t.target})`);
    }
  }
  for (const n of report.notes ?? []) lines.push(`note: ${n}`);
  console.log(lines.join('\n'));
}

export const ms = (x: number) => `${x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0)} ms`;
export const int = (x: number) => Math.round(x).toLocaleString('en');

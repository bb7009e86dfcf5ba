/**
 * Measurements (printed as test diagnostics): events/s the reader sustains while another process creates
 * files, how fast it drains a backlog built up while the Node thread was blocked, and the latency from
 * close() to the close_write event in the consumer. FUSTOR_INOTIFY_BENCH_FILES sets the file count
 * (default 20 000; the figures in README.md use 100 000). Assertions are loose: nothing lost, no overflow.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { test, type TestContext } from 'node:test';
import { InotifyReader, type InotifyEvent } from './inotify-reader.ts';
import { MovePairer } from './move-pairer.ts';
import { openHarness } from './inotify-test-kit.ts';

const FILES = Number(process.env.FUSTOR_INOTIFY_BENCH_FILES ?? 20_000);

/** Creates `count` empty files (open O_CREAT + close: create and close_write events) in `dir`. */
const GENERATOR = `
const { openSync, closeSync } = require('node:fs');
const [dir, count] = [process.argv[1], Number(process.argv[2])];
const t0 = performance.now();
for (let i = 0; i < count; i++) closeSync(openSync(dir + '/f' + i, 'w'));
process.stdout.write(String(performance.now() - t0));
`;

interface Counter { events: number; overflows: number; first: number; last: number }

function countingReader(counter: Counter, onError: (e: Error) => void): InotifyReader {
  const pairer = new MovePairer({ onEvents: () => {} }); // in line, as the fs source will run it
  return new InotifyReader({
    onEvents: (batch: InotifyEvent[]) => {
      const now = performance.now();
      if (counter.events === 0) counter.first = now;
      counter.last = now;
      counter.events += batch.length;
      for (const e of batch) if (e.kind === 'overflow') counter.overflows++;
      pairer.push(batch);
    },
    onError,
  });
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const rate = (n: number, ms: number): string => `${Math.round(n / (ms / 1000)).toLocaleString('en-US')} events/s`;

test(`throughput — ${FILES} files created by another process: every event delivered, no overflow`, async (t: TestContext) => {
  const h = await openHarness({ start: false });
  const counter: Counter = { events: 0, overflows: 0, first: 0, last: 0 };
  const errors: Error[] = [];
  const reader = countingReader(counter, (e) => errors.push(e));
  try {
    await reader.start();
    const live = join(h.root, 'live');
    const backlog = join(h.root, 'backlog');
    mkdirSync(live);
    mkdirSync(backlog);
    await reader.addWatch(live);
    await reader.addWatch(backlog);

    // 1. Live: the generator runs concurrently; the rate is bounded by the generator on a small machine.
    const t0 = performance.now();
    const child = spawn(process.execPath, ['-e', GENERATOR, live, String(FILES)]);
    let genMs = '';
    child.stdout.on('data', (d: Buffer) => { genMs += d.toString(); });
    await new Promise((r) => child.on('close', r));
    await until(() => counter.events >= 2 * FILES, 60_000);
    const liveMs = counter.last - t0;
    t.diagnostic(`live: ${2 * FILES} events in ${liveMs.toFixed(0)} ms → ${rate(2 * FILES, liveMs)} (generator alone: ${Number(genMs).toFixed(0)} ms; delivery ended ${(counter.last - t0 - Number(genMs)).toFixed(0)} ms after it)`);
    assert.equal(counter.overflows, 0);

    // 2. Backlog: the Node thread is blocked (spawnSync) while the files are created; the helper keeps
    //    draining the kernel queue into its own buffer, then the reader catches up at full speed.
    counter.events = 0;
    const blocked = spawnSync(process.execPath, ['-e', GENERATOR, backlog, String(FILES)]);
    assert.equal(blocked.status, 0);
    const released = performance.now();
    await until(() => counter.events >= 2 * FILES, 60_000);
    const drainMs = counter.last - released;
    t.diagnostic(`backlog: ${2 * FILES} events queued while Node was blocked ${Number(blocked.stdout.toString()).toFixed(0)} ms (kernel queue ${readQueue()}), drained in ${drainMs.toFixed(0)} ms → ${rate(2 * FILES, drainMs)}`);
    assert.equal(counter.overflows, 0, 'a blocked Node thread must not overflow the kernel queue');
    assert.equal(counter.events, 2 * FILES);
    assert.deepEqual(errors, []);
  } finally {
    await reader.close();
    await h.close();
  }
});

function readQueue(): string {
  try {
    return readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8').trim();
  } catch {
    return '?';
  }
}

test('latency — close() of a written file → close_write event in the consumer (p50/p99)', async (t: TestContext) => {
  const h = await openHarness({ start: false });
  let waiting: { name: string; resolve: (at: number) => void } | null = null;
  const reader = new InotifyReader({
    onEvents: (batch) => {
      const at = performance.now();
      for (const e of batch) if (waiting && e.kind === 'close_write' && e.name === waiting.name) waiting.resolve(at);
    },
    onError: () => {},
  });
  try {
    await reader.start();
    await reader.addWatch(h.root);
    const samples: number[] = [];
    const rounds = 2000;
    for (let i = 0; i < rounds; i++) {
      const name = `l${i}`;
      const fd = openSync(join(h.root, name), 'w');
      writeSync(fd, 'payload');
      const delivered = new Promise<number>((resolve) => { waiting = { name, resolve }; });
      const t0 = performance.now();
      closeSync(fd);
      samples.push((await delivered) - t0);
    }
    samples.sort((a, b) => a - b);
    const pct = (p: number): number => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))];
    t.diagnostic(`latency over ${rounds} files: p50 ${pct(0.5).toFixed(3)} ms, p99 ${pct(0.99).toFixed(3)} ms, max ${samples[samples.length - 1].toFixed(3)} ms`);
    assert.ok(pct(0.5) < 20, 'events leave within a few ms');
  } finally {
    await reader.close();
    await h.close();
  }
});

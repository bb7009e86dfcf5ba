/**
 * Test support for the inotify tests: a reader (plus a MovePairer) on a fresh temporary directory that
 * records everything it delivers, and waits on conditions instead of sleeping.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InotifyReader, type InotifyEvent, type InotifyReaderOptions } from './inotify-reader.ts';
import { MovePairer, type PairedEvent } from './move-pairer.ts';

export interface Harness {
  reader: InotifyReader;
  root: string;
  events: InotifyEvent[];
  paired: PairedEvent[];
  errors: Error[];
  /** Resolves once `condition()` holds, re-checked after every delivered batch; rejects after `timeoutMs`. */
  waitUntil(condition: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Events (raw) for one entry name, in order. */
  kindsFor(name: string): string[];
  close(): Promise<void>;
}

export type HarnessOptions = Partial<Pick<InotifyReaderOptions, 'helperPath' | 'spawnPrefix'>> & { windowMs?: number; start?: boolean };

export async function openHarness(options: HarnessOptions = {}): Promise<Harness> {
  const root = mkdtempSync(join(tmpdir(), 'fustor-inotify-'));
  const events: InotifyEvent[] = [];
  const paired: PairedEvent[] = [];
  const errors: Error[] = [];
  const waiters = new Set<() => void>();
  const poke = (): void => { for (const w of [...waiters]) w(); };
  const pairer = new MovePairer({ windowMs: options.windowMs ?? 50, onEvents: (batch) => { paired.push(...batch); poke(); } });
  const reader = new InotifyReader({
    helperPath: options.helperPath,
    spawnPrefix: options.spawnPrefix,
    onEvents: (batch) => { events.push(...batch); pairer.push(batch); poke(); },
    onError: (error) => { errors.push(error); poke(); },
  });
  if (options.start !== false) await reader.start();

  const waitUntil = (condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> =>
    new Promise((resolve, reject) => {
      if (condition()) return resolve();
      const check = (): void => {
        if (!condition()) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(events.slice(-20))}`));
      }, timeoutMs);
      waiters.add(check);
    });

  return {
    reader, root, events, paired, errors, waitUntil,
    kindsFor: (name) => events.filter((e) => e.name === name).map((e) => e.kind),
    close: async () => {
      pairer.dispose();
      await reader.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

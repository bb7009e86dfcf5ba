/**
 * What every process helper of the tests needs: collect a child's stdout/stderr, know when it exited, read
 * its JSON log lines, and wait for its "ready" line (failing with both outputs when it exits or times out).
 */
import type { ChildProcess } from 'node:child_process';
import { after } from 'node:test';

/**
 * Every child a helper watches, until it exits. A test that fails before its own `stop()` would otherwise
 * leave a live child whose pipes keep the test file running until the runner's file timeout; this hook,
 * registered at the file's root when the helpers are first imported, kills what is left after the last test.
 */
const live = new Set<ChildProcess>();
after(() => {
  for (const proc of live) proc.kill('SIGKILL');
});

export interface WatchedProcess {
  stdout(): string;
  stderr(): string;
  /** Its JSON log lines, parsed (lines that are not JSON are skipped). */
  logs(): Record<string, unknown>[];
  exited: Promise<number | null>;
}

export function watchOutput(proc: ChildProcess): WatchedProcess {
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8');
  proc.stderr!.setEncoding('utf8');
  proc.stdout!.on('data', (d: string) => { out += d; });
  proc.stderr!.on('data', (d: string) => { err += d; });
  live.add(proc);
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => { live.delete(proc); resolve(code); }));
  return {
    stdout: () => out,
    stderr: () => err,
    logs: () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    }),
    exited,
  };
}

/** Resolve with the first match of `ready` in stdout; reject (and SIGKILL) after `timeoutMs` or when it exits first. */
export function waitForReady(proc: ChildProcess, w: WatchedProcess, ready: RegExp, what: string, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const outputs = () => `\nstdout:\n${w.stdout()}\nstderr:\n${w.stderr()}`;
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${what} did not start within ${timeoutMs} ms${outputs()}`));
    }, timeoutMs);
    const check = () => {
      const m = ready.exec(w.stdout());
      if (m === null) return;
      clearTimeout(timer);
      proc.stdout!.off('data', check);
      resolve(m);
    };
    proc.stdout!.on('data', check);
    check();
    void w.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before it was ready${outputs()}`));
    });
  });
}

/**
 * What every benchmark that spawns a part (gateway, agent, controller) needs: wait for the line that says it
 * is up (failing with the last lines of its output when it exits first or takes too long), and stop it
 * (SIGTERM, SIGKILL after a grace period).
 */
import type { ChildProcess } from 'node:child_process';

export const exitOf = (child: ChildProcess): Promise<number | null> => new Promise((resolve) => child.once('exit', (code) => resolve(code)));

/**
 * The first match of `pattern` in the child's output (`matchStderr`: in stderr too; stderr always counts for the
 * failure message). Rejects after `timeoutMs`, or when the child exits first.
 */
export function waitForOutput(child: ChildProcess, exited: Promise<number | null>, o: { pattern: RegExp; what: string; timeoutMs: number; logFile: string; matchStderr?: boolean }): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${o.what} did not report ${o.pattern.source} within ${o.timeoutMs} ms; log: ${o.logFile}`)), o.timeoutMs);
    const check = (chunk: Buffer, match: boolean) => {
      seen = (seen + chunk.toString('utf8')).slice(-8192);
      const m = match ? o.pattern.exec(seen) : null;
      if (m === null) return;
      clearTimeout(timer);
      child.stdout?.off('data', onOut);
      child.stderr?.off('data', onErr);
      resolve(m);
    };
    const onOut = (chunk: Buffer) => check(chunk, true);
    const onErr = (chunk: Buffer) => check(chunk, o.matchStderr === true);
    child.stdout?.on('data', onOut);
    child.stderr?.on('data', onErr);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${o.what} exited with ${code} before it was up: ${seen.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export async function stopChild(child: ChildProcess, exited: Promise<number | null>, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(killer);
}

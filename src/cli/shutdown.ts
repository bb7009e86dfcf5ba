/**
 * How every long-running command stops (agent, fusion, controller, up): SIGTERM or SIGINT → `stop()`, then
 * exit 0; a second signal, or a stop that outlasts the grace period, exits at once — a stuck close must never
 * keep a supervisor waiting. Install before printing the "ready" line: a supervisor may signal the moment it
 * reads it. The returned function stops the same way for other reasons (e.g. a revoked member exits 1).
 */
export interface ShutdownOptions {
  graceMs?: number;
  /** SIGHUP handler; without one SIGHUP would kill the process, so pass one wherever a reload means something. */
  onHup?: () => void;
}

export function installShutdown(log: { info(o: object, m: string): void }, stop: () => Promise<void>, opts: ShutdownOptions = {}): (reason: string, code?: number) => void {
  let stopping = false;
  const shutdown = (reason: string, code = 0) => {
    if (stopping) process.exit(code);
    stopping = true;
    log.info({ reason }, 'shutting down');
    const force = setTimeout(() => process.exit(code), opts.graceMs ?? 15_000);
    force.unref();
    stop().then(() => process.exit(code), () => process.exit(code));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  if (opts.onHup !== undefined) process.on('SIGHUP', opts.onHup);
  return shutdown;
}

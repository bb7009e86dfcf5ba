/**
 * Starts a pipe worker thread. Node cannot load a `.ts` worker by itself, so the thread registers tsx
 * first and then imports pipe-worker.ts (the same boot as the walker's worker-pool).
 */
import { Worker } from 'node:worker_threads';
import type { ResolvedPipe } from '../config/load-config.ts';

const WORKER_URL = new URL('./pipe-worker.ts', import.meta.url).href;
let boot: string | null = null;

function bootSource(): string {
  const tsxApi = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL)}); })`;
}

export function startPipeWorker(pipe: ResolvedPipe, opts: { logFormat: 'json' | 'pretty' }): Worker {
  boot ??= bootSource();
  return new Worker(boot, {
    eval: true,
    name: `fustor-pipe-${pipe.pipeId}`,
    workerData: { pipe, logFormat: opts.logFormat },
    resourceLimits: { maxOldGenerationSizeMb: pipe.maxMemoryMb, maxYoungGenerationSizeMb: Math.min(64, Math.max(8, pipe.maxMemoryMb / 8)) },
    stdout: false,
    stderr: false,
  });
}

/** Public surface of the agent's pipes. */
export { PipeRunner, type PipeRunnerOptions } from './pipe-runner.ts';
export { startPipeWorker } from './worker-boot.ts';
export type { PipeSource, PipeStatus, SourceFactory, FromPipeWorker, ToPipeWorker } from './pipe-types.ts';

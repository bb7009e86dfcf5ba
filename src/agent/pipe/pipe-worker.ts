/**
 * Entry of a pipe worker thread (started by the shell's Supervisor, see worker-boot.ts).
 *
 * workerData: `{ pipe: ResolvedPipe, logFormat }`. Messages: parent → worker `{type:'stop'}` (close the
 * pipe, delete its session, then `{type:'stopped'}` and exit), `{type:'rescan', id}` (answered by
 * `{type:'rescan_done', id, ok, message}`); worker → parent `{type:'heartbeat'}` every
 * second and on progress, `{type:'status', status}` every second, `{type:'fatal', error}` when the pipe
 * could not start (the thread then exits 1 and the supervisor restarts it with backoff).
 *
 * TEST HOOK (off by default): `debug_fault` in the pipe config (or FUSTOR_AGENT_DEBUG_FAULT=<pipe>:<fault>)
 * makes the thread fail on purpose ~1 s after start — `throw` (uncaught exception), `hang` (busy loop: no
 * more heartbeats), `oom` (allocates until the heap limit). Used by test/agent-faults.test.ts only.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../kernel/logger.ts';
import type { ResolvedPipe } from '../config/load-config.ts';
import { errText, PipeRunner } from './pipe-runner.ts';
import type { FromPipeWorker, ToPipeWorker } from './pipe-types.ts';

interface Data { pipe: ResolvedPipe; logFormat: 'json' | 'pretty' }

const port = parentPort;
if (port === null) throw new Error('pipe-worker.ts must run in a worker thread');
const data = workerData as Data;
const pipe = data.pipe;
const log = createLogger({ format: data.logFormat, name: 'agent' }).child({ pipe: pipe.pipeId });
const post = (m: FromPipeWorker) => port.postMessage(m);

let lastBeat = 0;
const beat = () => {
  const now = Date.now();
  if (now - lastBeat < 200) return;
  lastBeat = now;
  post({ type: 'heartbeat' });
};

const runner = new PipeRunner(pipe, { log, onProgress: beat, onChange: () => post({ type: 'status', status: runner.status() }) });
const ticker = setInterval(() => {
  beat();
  post({ type: 'status', status: runner.status() });
}, 1000);
beat();

port.on('message', (m: ToPipeWorker) => {
  if (m.type === 'rescan') {
    post({ type: 'rescan_done', id: m.id, ...runner.rescan(m.id) });
    return;
  }
  if (m.type !== 'stop') return;
  clearInterval(ticker);
  void runner.stop().finally(() => {
    post({ type: 'stopped' });
    process.exit(0);
  });
});

runner.start().then(() => post({ type: 'status', status: runner.status() }), (e: unknown) => {
  log.error({ err: errText(e) }, 'pipe failed to start');
  post({ type: 'fatal', error: errText(e) });
  clearInterval(ticker);
  void runner.stop().finally(() => process.exit(1));
});

const fault = pipe.debugFault ?? envFault(pipe.pipeId);
if (fault !== null) {
  setTimeout(() => {
    log.warn({ fault }, 'debug_fault test hook firing');
    if (fault === 'throw') throw new Error('debug_fault: throw');
    if (fault === 'hang') {
      for (;;) { /* busy: no heartbeat leaves this thread any more */ }
    }
    const hog: number[][] = [];
    for (;;) hog.push(new Array<number>(1 << 16).fill(hog.length));
  }, 1000);
}

function envFault(pipeId: string): 'throw' | 'hang' | 'oom' | null {
  for (const item of (process.env.FUSTOR_AGENT_DEBUG_FAULT ?? '').split(',')) {
    const [id, f] = item.split(':');
    if (id === pipeId && (f === 'throw' || f === 'hang' || f === 'oom')) return f;
  }
  return null;
}

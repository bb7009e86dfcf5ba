/**
 * Loads the benchmark layout (bench/lib/layout.ts) into a running gateway as if an agent had walked it, so that
 * the query API and the `fustor` commands can be tried without a real file system:
 *
 *   node --import tsx scripts/load-sample.ts --server http://127.0.0.1:8101 --key RECEIVER_KEY [--files 1000000]
 *       [--query-key KEY] [--batch-size 5000] [--concurrency 4] [--no-hold]
 *
 * It opens a session with the receiver key (the key's pipe decides the view), pushes every row as one snapshot
 * ending with `is_end: true`, and prints how to query the result. A view answers queries only while it has a
 * leader, so the script keeps its session alive (heartbeats) until Ctrl-C; `--no-hold` closes it at once.
 * With `--query-key`, it waits until the view is ready and prints its stats.
 */
import { parseArgs } from 'node:util';
import { HttpClient } from '../bench/lib/http.ts';
import { closeSession, layoutBodies, openSession, pushSnapshot, waitReady, type Body } from '../bench/lib/ingest-client.ts';
import { Layout, layoutForFiles } from '../bench/lib/layout.ts';

const { values } = parseArgs({
  options: {
    server: { type: 'string', default: process.env.FUSTOR_SERVER ?? 'http://127.0.0.1:8101' },
    key: { type: 'string' },
    'query-key': { type: 'string' },
    files: { type: 'string', default: '1000000' },
    'batch-size': { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '4' },
    'no-hold': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const fail = (message: string): never => {
  process.stderr.write(`load-sample: ${message}\n`);
  process.exit(1);
};

if (values.help) {
  process.stdout.write('usage: node --import tsx scripts/load-sample.ts --server URL --key RECEIVER_KEY [--files N] [--query-key KEY] [--batch-size N] [--concurrency N] [--no-hold]\n');
  process.exit(0);
}
const key = values.key ?? fail('pass --key RECEIVER_KEY (a key of receivers.*.api_keys in the gateway configuration)');
const files = Number(values.files);
const batchSize = Number(values['batch-size']);
const concurrency = Number(values.concurrency);
if (!(files >= 1) || !(batchSize >= 1) || !(concurrency >= 1)) fail('--files, --batch-size and --concurrency must be positive numbers');

const server = values.server.replace(/\/+$/, '');
const ingest = new HttpClient(server, { 'x-api-key': key });
let discovery: { view_id: string; pipe_id?: string };
try {
  discovery = await ingest.json<{ view_id: string; pipe_id?: string }>('GET', '/api/v1/pipe/session/');
} catch (e) {
  const status = (e as { status?: number }).status;
  fail(status === 401 ? '401: key rejected — pass a receiver key (receivers.*.api_keys) with --key'
    : status === 403 ? '403: this key is not a receiver key — pass one of receivers.*.api_keys with --key'
      : `cannot reach the gateway at ${server} (${(e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message}): start it or pass --server URL`);
  throw e;
}
const view = discovery.view_id;
const layout = new Layout(layoutForFiles(files));
const session = await openSession(ingest, `load-sample:${discovery.pipe_id ?? 'sample'}`, 'sample://bench-layout');
if (session.role !== 'leader') {
  process.stderr.write(`load-sample: warning: this session is a ${session.role}; the view becomes ready only with its leader's snapshot\n`);
}
process.stderr.write(`pushing ${layout.entryCount.toLocaleString('en')} entries (${layout.fileCount.toLocaleString('en')} files) into view '${view}' …\n`);

let sent = 0;
let lastReport = performance.now();
function* withProgress(bodies: Iterable<Body>): Generator<Body> {
  for (const b of bodies) {
    sent += b.rows;
    if (performance.now() - lastReport > 1000) {
      lastReport = performance.now();
      process.stderr.write(`  ${Math.round((100 * sent) / layout.entryCount)} % (${sent.toLocaleString('en')} rows)\n`);
    }
    yield b;
  }
}
const result = await pushSnapshot(ingest, session.id, withProgress(layoutBodies(layout, batchSize)), concurrency);
process.stderr.write(`pushed ${result.rows.toLocaleString('en')} rows in ${result.seconds.toFixed(1)} s (${Math.round(result.rows / result.seconds).toLocaleString('en')} rows/s), snapshot ended\n`);

const queryKey = values['query-key'];
if (queryKey !== undefined) {
  const query = new HttpClient(server, { 'x-api-key': queryKey });
  const stats = await waitReady(query, view, { minItems: layout.entryCount, timeoutMs: 600_000, intervalMs: 200 });
  process.stderr.write(`view '${view}' is ready: item_count ${String(stats.item_count)}, total_files ${String(stats.total_files)}\n`);
  query.close();
}

const id = layout.uuid(0);
const sub = layout.submissionPath(0);
const k = queryKey ?? 'QUERY_KEY';
process.stdout.write(`
Try it (QUERY_KEY = a key of views.${view}.api_keys):

  fustor find --server ${server} --key ${k} --view ${view} -name ${id} -type d
  fustor tree --server ${server} --key ${k} --view ${view} ${sub} --depth 1
  fustor stat --server ${server} --key ${k} --view ${view} ${sub}
  curl -s -H 'X-API-Key: ${k}' '${server}/api/v1/views/${view}/search?pattern=${id}&type=directory'
  curl -s -H 'X-API-Key: ${k}' '${server}/api/v1/views/${view}/stats?path=${sub}'
`);

if (values['no-hold']) {
  await closeSession(ingest, session);
  ingest.close();
} else {
  process.stderr.write('\nkeeping the session alive (a view answers only while it has a leader); Ctrl-C to end it\n');
  const stop = async () => {
    await closeSession(ingest, session).catch(() => undefined);
    ingest.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  setInterval(() => {}, 1 << 30);
}

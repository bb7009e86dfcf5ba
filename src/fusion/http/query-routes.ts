/**
 * The query API (spec 30) under `/api/v1/views/{view}`: thin wrappers over ViewDriver. Every route checks
 * the key against the view; tree/search/stats/metadata/changes also need the view to be ready (503 +
 * Retry-After + reason otherwise). `tree` sends the engine's JSON text as one Buffer, never re-encoding it.
 */
import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import { BlindSpots, ChangesQuery, ChangesResult, ErrorBody, FsNode, Job, PageQuery, PathQuery, SearchQuery, SearchResult, SessionsResult, StatsQuery, SuspectEntry, SuspectEvidence, TreeQuery, pathProblem } from '../../protocol/index.ts';
import { badRequest, notFound } from '../../kernel/errors.ts';
import type { Gateway } from '../gateway.ts';
import type { ViewDriver } from '../view/view-driver.ts';
import type { GatewayApp } from './app.ts';
import { requireAdminKey, requireViewKey } from './auth.ts';

const ViewParams = Type.Object({ view: Type.String({ minLength: 1, maxLength: 128 }) });
const JobParams = Type.Object({ view: Type.String({ minLength: 1, maxLength: 128 }), job_id: Type.String({ maxLength: 64 }) });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };
const notReady = { 503: ErrorBody };
/** Documented shape, unchecked type: the engine's output (or a stream of it) is sent as is. */
const documented = (schema: Parameters<typeof Type.Unsafe>[0]) => Type.Unsafe<unknown>(schema);

function checkPath(path: string | undefined, field = 'query.path'): string {
  const p = path ?? '/';
  const problem = pathProblem(p);
  if (problem !== null) throw badRequest(`${field}: ${problem}`);
  return p;
}

export function queryRoutes(app: GatewayApp, gw: Gateway): void {
  const exists = (id: string) => gw.view(id) !== undefined;
  /** The view's engine for a key authorised on it; `ready` adds the readiness gate. */
  const viewFor = (request: FastifyRequest, viewId: string, ready: boolean): ViewDriver => {
    requireViewKey(request, viewId, exists);
    const driver = gw.view(viewId);
    if (driver === undefined) throw notFound(`view '${viewId}' unknown`);
    if (ready) gw.assertServable(viewId);
    return driver;
  };
  const tags = ['query'];

  app.get('/api/v1/views/:view/tree', {
    schema: { tags, summary: 'The node at `path` with nested children', params: ViewParams, querystring: TreeQuery, response: { 200: documented(FsNode), ...errors, ...notReady } },
  }, async (request, reply) => {
    const { view } = request.params;
    const driver = viewFor(request, view, true);
    const q = request.query;
    const path = checkPath(q.path);
    if (q.dry_run === true) return { message: 'dry-run', view_id: view };
    let extra: Record<string, unknown> | null = null;
    if (q.on_demand_scan === true || q.force_real_time === true) {
      const job = gw.onDemandScan(view, path, q.recursive ?? true);
      if (!driver.has(path)) return { job_id: job.job_id, job_pending: true, message: `path not indexed yet; scan job ${job.job_id} sent to ${job.progress.total} agent session(s)` };
      extra = { job_id: job.job_id, job_pending: job.status === 'RUNNING' };
    }
    // One Buffer (content-length set, one write): the engine's cached body when it has one.
    if (extra === null && driver.treeBody !== undefined) return reply.type('application/json; charset=utf-8').send(driver.treeBody({ ...q, path }));
    const chunks = driver.tree({ ...q, path });
    if (extra !== null) appendFields(chunks, extra);
    return reply.type('application/json; charset=utf-8').send(Buffer.concat(chunks.map((c) => Buffer.from(c, 'utf8'))));
  });

  app.get('/api/v1/views/:view/search', {
    schema: { tags, summary: 'Glob search over paths and names', params: ViewParams, querystring: SearchQuery, response: { 200: documented(SearchResult), ...errors, ...notReady } },
  }, async (request) => {
    const driver = viewFor(request, request.params.view, true);
    const q = request.query;
    if (q.path !== undefined) checkPath(q.path);
    const result = driver.search(q);
    return q.format === 'list' ? result.items : result;
  });

  app.get('/api/v1/views/:view/stats', {
    schema: { tags, summary: 'View-wide or directory statistics (with `settled`)', params: ViewParams, querystring: StatsQuery, response: { 200: documented(Type.Record(Type.String(), Type.Unknown())), ...errors, ...notReady } },
  }, async (request) => {
    const { view } = request.params;
    const driver = viewFor(request, view, true);
    const q = request.query;
    if (q.path !== undefined) checkPath(q.path);
    const stats = driver.stats(q);
    // Spec 30's view-wide `sessions` and `leader` (the leader's session id) belong to the gateway, not
    // the engine. A forest view shows its members side by side (each with its own leader) instead.
    if (driver.kind === 'fs' && (q.path === undefined || q.path === '/')) {
      const active = gw.sessionsOfView(view);
      stats.sessions = active.length;
      stats.leader = active.find((s) => s.role === 'leader')?.session_id ?? null;
    }
    return stats;
  });

  app.get('/api/v1/views/:view/metadata', {
    schema: { tags, summary: 'One node without children', params: ViewParams, querystring: PathQuery, response: { 200: documented(FsNode), ...errors, ...notReady } },
  }, async (request) => {
    const driver = viewFor(request, request.params.view, true);
    return driver.metadata(checkPath(request.query.path));
  });

  app.get('/api/v1/views/:view/changes', {
    schema: { tags, summary: 'Change journal since a cursor', params: ViewParams, querystring: ChangesQuery, response: { 200: ChangesResult, ...errors, ...notReady } },
  }, async (request) => {
    const driver = viewFor(request, request.params.view, true);
    const q = request.query;
    if (q.path !== undefined) checkPath(q.path);
    return driver.changes(q);
  });

  app.get('/api/v1/views/:view/blind-spots', {
    schema: { tags, summary: 'Changes seen only by audits', params: ViewParams, querystring: PageQuery, response: { 200: BlindSpots, ...errors } },
  }, async (request) => viewFor(request, request.params.view, false).blindSpots(request.query));

  app.get('/api/v1/views/:view/suspect-list', {
    schema: { tags, summary: 'Files still possibly being written', params: ViewParams, response: { 200: Type.Array(SuspectEntry), ...errors } },
  }, async (request) => viewFor(request, request.params.view, false).suspectList());

  app.put('/api/v1/views/:view/suspect-list', {
    schema: { tags, summary: 'Stability evidence for suspect files', params: ViewParams, body: SuspectEvidence, response: { 200: Type.Object({ view_id: Type.String(), updated_count: Type.Integer(), status: Type.Literal('ok') }), ...errors, 422: ErrorBody } },
  }, async (request) => {
    const { view } = request.params;
    const driver = viewFor(request, view, false);
    const updates: { path: string; mtime: number }[] = [];
    request.body.updates.forEach((u, i) => {
      checkPath(u.path, `body.updates[${i}].path`);
      const mtime = u.mtime ?? u.current_mtime;
      if (mtime !== undefined) updates.push({ path: u.path, mtime });
    });
    return { view_id: view, updated_count: driver.suspectEvidence(updates), status: 'ok' as const };
  });

  app.get('/api/v1/views/:view/sessions', {
    schema: { tags, summary: 'Agent sessions feeding the view', params: ViewParams, response: { 200: SessionsResult, ...errors } },
  }, async (request) => {
    const { view } = request.params;
    viewFor(request, view, false);
    const active = gw.sessionsOfView(view);
    return { view_id: view, active_sessions: active, count: active.length };
  });

  app.get('/api/v1/views/:view/jobs', {
    schema: { tags, summary: 'On-demand scan jobs', params: ViewParams, response: { 200: Type.Object({ jobs: Type.Array(Job) }), ...errors } },
  }, async (request) => {
    const { view } = request.params;
    viewFor(request, view, false);
    return { jobs: gw.ingest.jobs.list(view) };
  });

  app.get('/api/v1/views/:view/jobs/:job_id', {
    schema: { tags, summary: 'One on-demand scan job', params: JobParams, response: { 200: Job, ...errors } },
  }, async (request) => {
    const { view, job_id } = request.params;
    viewFor(request, view, false);
    const job = gw.ingest.jobs.get(view, job_id);
    if (job === undefined) throw notFound(`Job '${job_id}' not found in view ${view}`);
    return job;
  });

  app.delete('/api/v1/views/:view/reset', {
    schema: { tags, summary: 'Clear the view (admin keys); its agents reconnect and snapshot again', params: ViewParams, response: { 204: Type.Null(), ...errors } },
  }, async (request, reply) => {
    const { view } = request.params;
    requireAdminKey(request, view, exists);
    gw.resetView(view);
    return reply.code(204).send(null);
  });
}

/** Add fields to the JSON object carried by `chunks` (it ends with `}`), without re-encoding it. */
function appendFields(chunks: string[], fields: Record<string, unknown>): void {
  const encoded = Object.entries(fields).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',');
  for (let i = chunks.length - 1; i >= 0; i--) {
    const c = chunks[i].trimEnd();
    if (c.length === 0) continue;
    if (!c.endsWith('}')) return;
    const body = c.slice(0, -1);
    const empty = i === 0 && body.trim() === '{';
    chunks[i] = `${body}${empty ? '' : ','}${encoded}}`;
    return;
  }
}

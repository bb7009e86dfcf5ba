/**
 * The ingest API (spec 10), served on the main listener and on every receiver listener: key discovery,
 * sessions, event batches (both paths), consistency signals and pipe state. Thin: authenticate, let the
 * schema validate, call IngestService. Session-scoped routes resolve the session before the body is
 * read, so an unknown session (419) or a foreign key (403) costs no parsing.
 */
import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import { ErrorBody, EventBatch, HeartbeatRequest, HeartbeatResponse, IngestResponse, KeyDiscoveryResponse, PipeInfo, SentinelFeedback, SentinelFeedbackResponse, SentinelTasks, SessionCreateRequest, SessionCreateResponse, SessionDeleteResponse, AuditSignalResponse, pathProblem } from '../../protocol/index.ts';
import { FustorError, notFound } from '../../kernel/errors.ts';
import type { Session } from '../sessions/session-registry.ts';
import type { Gateway } from '../gateway.ts';
import type { GatewayApp } from './app.ts';
import { requirePipeKey, type ListenerScope } from './auth.ts';

declare module 'fastify' {
  interface FastifyRequest { fustorSession: Session | null }
}

const SessionParams = Type.Object({ session_id: Type.String({ minLength: 1, maxLength: 256 }) });
const PipeParams = Type.Object({ pipe_id: Type.String({ minLength: 1, maxLength: 128 }) });
const errors = { 401: ErrorBody, 403: ErrorBody, 419: ErrorBody };

export function ingestRoutes(app: GatewayApp, gw: Gateway, scope: ListenerScope): void {
  app.decorateRequest('fustorSession', null);
  const ingest = () => gw.ingest;

  /** Resolve the session named in the URL before the body is parsed (419 / 403). */
  const loadSession = async (request: FastifyRequest) => {
    const pipe = requirePipeKey(request, scope);
    const { session_id } = request.params as { session_id: string };
    const session = ingest().session(session_id, request.principal);
    // An agent may hold sessions on several pipes: the pipe it names must be this session's.
    if (session.pipeId !== pipe.pipeId) throw new FustorError('FORBIDDEN', `session ${session_id} belongs to pipe '${session.pipeId}', not to pipe '${pipe.pipeId}'`);
    request.fustorSession = session;
  };
  const sessionOf = (request: FastifyRequest): Session => {
    if (request.fustorSession === null) throw new FustorError('SESSION_OBSOLETE', 'session not resolved');
    return request.fustorSession;
  };

  app.get('/api/v1/pipe/session/', {
    schema: { tags: ['ingest'], summary: 'Key discovery: which view/pipe this key is for', response: { 200: KeyDiscoveryResponse, 401: ErrorBody } },
  }, async (request) => {
    const grant = request.grant!;
    if (grant.pipe !== null) {
      const primary = gw.config.pipes.get(grant.pipe.pipeId)?.viewIds[0] ?? grant.pipe.pipeId;
      return { view_id: primary, pipe_id: grant.pipe.pipeId, status: 'authorized' as const };
    }
    return { view_id: [...grant.views][0] ?? '', status: 'authorized' as const };
  });

  app.post('/api/v1/pipe/session/', {
    schema: { tags: ['ingest'], summary: 'Create a session (leader or follower)', body: SessionCreateRequest, response: { 200: SessionCreateResponse, ...errors, 409: ErrorBody } },
  }, async (request) => {
    const pipe = requirePipeKey(request, scope);
    return ingest().createSession(pipe.pipeId, request.principal, request.body, request.ip, request.grant!.member);
  });

  app.post('/api/v1/pipe/session/:session_id/heartbeat', {
    schema: { tags: ['ingest'], summary: 'Keep a session alive; returns its role and pending commands', params: SessionParams, body: HeartbeatRequest, response: { 200: HeartbeatResponse, ...errors } },
    onRequest: loadSession,
    // Older agents send no body at all.
    preValidation: async (request) => { request.body ??= {}; },
  }, async (request) => ingest().heartbeat(sessionOf(request), request.body));

  app.delete('/api/v1/pipe/session/:session_id', {
    schema: { tags: ['ingest'], summary: 'End a session (idempotent)', params: SessionParams, response: { 200: SessionDeleteResponse, 401: ErrorBody, 403: ErrorBody } },
  }, async (request) => {
    requirePipeKey(request, scope);
    return ingest().deleteSession(request.params.session_id, request.principal);
  });

  for (const url of ['/api/v1/pipe/ingest/:session_id/events', '/api/v1/pipe/:session_id/events']) {
    app.post(url, {
      schema: {
        tags: ['ingest'],
        summary: url.includes('/ingest/') ? 'Push a batch of events' : 'Push a batch of events (predecessor path)',
        params: SessionParams,
        body: EventBatch,
        response: { 200: IngestResponse, ...errors, 413: ErrorBody, 422: ErrorBody, 503: ErrorBody },
      },
      onRequest: loadSession,
    }, async (request) => ingest().ingest(sessionOf(request), request.body));
  }

  const pipeOfKey = (request: FastifyRequest) => requirePipeKey(request, scope).pipeId;

  app.post('/api/v1/pipe/consistency/audit/start', {
    schema: { tags: ['consistency'], summary: 'Open an audit window on the views of the key\'s pipe', response: { 200: AuditSignalResponse } },
  }, async (request) => ({ status: 'audit_started' as const, drivers_handled: await ingest().auditStart(pipeOfKey(request)) }));

  app.post('/api/v1/pipe/consistency/audit/end', {
    schema: { tags: ['consistency'], summary: 'Close the audit window after the queue drained (bounded wait)', response: { 200: AuditSignalResponse } },
  }, async (request) => ({ status: 'audit_ended' as const, drivers_handled: await ingest().auditEnd(pipeOfKey(request)) }));

  app.get('/api/v1/pipe/consistency/sentinel/tasks', {
    schema: { tags: ['consistency'], summary: 'Suspect paths the leader should stat', response: { 200: SentinelTasks } },
  }, async (request) => ingest().sentinelTasks(pipeOfKey(request)));

  app.post('/api/v1/pipe/consistency/sentinel/feedback', {
    schema: { tags: ['consistency'], summary: 'Results of the sentinel checks', body: SentinelFeedback, response: { 200: SentinelFeedbackResponse, 422: ErrorBody } },
  }, async (request) => {
    const pipeId = pipeOfKey(request);
    // A path the engine could never hold is a client bug: refuse the whole answer (nothing applied)
    // instead of skipping it silently and answering "processed".
    request.body.updates.forEach((u, i) => {
      const problem = pathProblem(u.path);
      if (problem !== null) throw new FustorError('VALIDATION', `body.updates[${i}].path: ${problem}`);
    });
    return ingest().sentinelFeedback(pipeId, request.body);
  });

  app.get('/api/v1/pipe/pipes', {
    schema: { tags: ['ingest'], summary: 'State of the pipes this key can see', response: { 200: Type.Record(Type.String(), PipeInfo) } },
  }, async (request) => Object.fromEntries(gw.visiblePipes(request.grant!).map((id) => [id, gw.pipeInfo(id)])));

  app.get('/api/v1/pipe/pipes/:pipe_id', {
    schema: { tags: ['ingest'], summary: 'State of one pipe', params: PipeParams, response: { 200: PipeInfo, 404: ErrorBody } },
  }, async (request) => {
    const id = request.params.pipe_id;
    if (!gw.visiblePipes(request.grant!).includes(id)) throw notFound('Pipe not found');
    return gw.pipeInfo(id);
  });

  app.get('/api/v1/pipe/stats', {
    schema: { tags: ['ingest'], summary: 'Counters of the key\'s pipe (predecessor shape)' },
  }, async (request) => {
    const info = gw.pipeInfo(pipeOfKey(request));
    return { events_received: info.statistics.events_received, events_processed: info.statistics.events_processed, errors: info.statistics.errors, active_sessions: info.active_sessions };
  });
}

/**
 * Error mapping of the management API, with the gateway's conventions: FustorError → `{code, message,
 * detail[, details]}` with its status; schema failures → 422 for bodies (every bad field in `details` as
 * `[{path, message}]`), 400 for query/params; broken JSON → 422; body over the limit → 413; anything
 * unexpected → 500 without a stack (the stack is logged). Installs the JSON body parser.
 */
import { isUtf8 } from 'node:buffer';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { FustorError } from '../../kernel/errors.ts';
import type { Logger } from '../../kernel/logger.ts';
import { schemaProblems, type SchemaError } from '../resources/schema-problems.ts';

export function sendError(reply: FastifyReply, err: FustorError): FastifyReply {
  return reply.code(err.httpStatus).type('application/json').send(err.toBody());
}

const MAX_DEPTH = 64;

/** Deepest `[`/`{` nesting of a JSON text (brackets inside strings do not count). */
export function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++;
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) max = Math.max(max, ++depth);
    else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return max;
}

const CONTEXT_NAMES: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

export function installErrorHandling(app: FastifyInstance, log: Logger): void {
  // JSON only: a text/plain body is a 415 naming the fix, not a string that fails a schema.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    const raw = body as Buffer;
    if (raw.length === 0) return done(new FustorError('VALIDATION', 'body: empty; send a JSON document'), undefined);
    if (!isUtf8(raw)) return done(new FustorError('VALIDATION', 'body: not valid UTF-8'), undefined);
    const text = raw.toString('utf8');
    // Bounded nesting: no legitimate document is this deep, and deep values would exhaust recursion later.
    if (nestingDepth(text) > MAX_DEPTH) return done(new FustorError('VALIDATION', `body: nested deeper than ${MAX_DEPTH} levels`), undefined);
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(new FustorError('VALIDATION', `body: invalid JSON (${(e as Error).message})`), undefined);
    }
  });

  app.setErrorHandler((error: FastifyError | FustorError, request, reply) => {
    if (error instanceof FustorError) return sendError(reply, error);
    const fe = error as FastifyError & { validation?: SchemaError[]; validationContext?: string };
    if (fe.validation !== undefined) {
      const ctx = fe.validationContext ?? 'body';
      const problems = schemaProblems(fe.validation, CONTEXT_NAMES[ctx] ?? ctx);
      const first = problems[0];
      const message = first === undefined ? fe.message : `${first.path}: ${first.message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`;
      return sendError(reply, new FustorError(ctx === 'body' ? 'VALIDATION' : 'BAD_REQUEST', message, { details: problems }));
    }
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(reply, new FustorError('PAYLOAD_TOO_LARGE', 'request body is larger than the limit: apply fewer documents at once'));
    const status = fe.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const message = fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? `unsupported Content-Type ${JSON.stringify(String(request.headers['content-type'] ?? '').slice(0, 100))}: send the body as application/json`
        : fe.message;
      return reply.code(status).type('application/json').send({ code: status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', message, detail: message });
    }
    log.error({ err: { message: fe.message, stack: fe.stack }, method: request.method, url: request.routeOptions.url }, 'unexpected error while handling a request');
    return sendError(reply, new FustorError('INTERNAL', 'internal error; the controller logged it and keeps running'));
  });

  app.setNotFoundHandler((request, reply) => sendError(reply, new FustorError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0].slice(0, 200)}`)));
}

/**
 * Error mapping for every gateway listener: FustorError → `{code, message, detail}` with its status (and
 * Retry-After on 503); schema failures → 422 for bodies, 400 for query/params, naming the first bad
 * field; broken JSON → 422; body over the limit → 413; anything unexpected → 500 without a stack (the
 * stack is logged). Also installs the JSON body parser (so broken JSON is ours to report).
 */
import { isUtf8 } from 'node:buffer';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { FustorError } from '../../kernel/errors.ts';
import type { Logger } from '../../kernel/logger.ts';
import { describeSchemaErrors, type SchemaError } from '../config/schema-errors.ts';

export function sendError(reply: FastifyReply, err: FustorError): FastifyReply {
  if (err.retryAfter !== undefined) void reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfter))));
  let body: Record<string, unknown> = err.toBody();
  // Spec 30: the tree limit answers `{error, limit, would_return, suggestion}`; keep those at the top level too.
  if (err.code === 'TOO_MANY_ITEMS' && typeof err.details === 'object' && err.details !== null) body = { ...(err.details as Record<string, unknown>), ...body };
  return reply.code(err.httpStatus).type('application/json').send(body);
}

const CONTEXT_NAMES: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

export function installErrorHandling(app: FastifyInstance, log: Logger): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    const raw = body as Buffer;
    if (raw.length === 0) return done(null, {});
    // JSON travels as UTF-8. Decoding invalid bytes would silently turn them into U+FFFD (two different
    // non-UTF-8 names would become the same name); such names travel as surrogate escapes (`\udcff`).
    if (!isUtf8(raw)) return done(new FustorError('VALIDATION', `body: not valid UTF-8 (first bad byte at offset ${firstInvalidUtf8(raw)}); send names that are not UTF-8 as surrogate escapes (\\udc80-\\udcff)`), undefined);
    const text = raw.toString('utf8');
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
      const found = describeSchemaErrors(fe.validation, CONTEXT_NAMES[ctx] ?? ctx);
      const message = found === null ? fe.message : `${found.field}: ${found.problem}`;
      return sendError(reply, new FustorError(ctx === 'body' ? 'VALIDATION' : 'BAD_REQUEST', message));
    }
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(reply, new FustorError('PAYLOAD_TOO_LARGE', 'request body is larger than the limit (max_body_bytes); send smaller batches'));
    const status = fe.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const message = fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? `unsupported Content-Type ${JSON.stringify(String(request.headers['content-type'] ?? '').slice(0, 100))}: send the body as application/json`
        : fe.message;
      return reply.code(status).type('application/json').send({ code: status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', message, detail: message });
    }
    log.error({ err: { message: fe.message, stack: fe.stack }, method: request.method, url: request.routeOptions.url }, 'unexpected error while handling a request');
    return sendError(reply, new FustorError('INTERNAL', 'internal error; the gateway logged it and keeps running'));
  });

  app.setNotFoundHandler((request, reply) => sendError(reply, new FustorError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`)));
}

/** Offset of the first byte that does not start a valid UTF-8 sequence (error path only, for the message). */
function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length;) {
    const c = b[i];
    if (c < 0x80) { i++; continue; }
    let n: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) { n = 1; min = 0x80; } else if (c >= 0xe0 && c <= 0xef) { n = 2; min = 0x800; } else if (c >= 0xf0 && c <= 0xf4) { n = 3; min = 0x10000; } else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

/**
 * Error mapping shared by every HTTP API of Fustor (gateway listeners, controller): FustorError →
 * `{code, message, detail[, details]}` with its status (and Retry-After on 503); schema failures → 422 for
 * bodies, 400 for query/params; broken JSON and invalid UTF-8 → 422; a body over the limit → 413; anything
 * unexpected → 500 without a stack (the stack is logged). Installs the JSON body parser so broken JSON is
 * ours to report. Each API supplies what differs: how schema errors read, and its own wording.
 */
import { isUtf8 } from 'node:buffer';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { FustorError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { SchemaError } from './schema-path.ts';

export type { SchemaError };

export interface JsonErrorHandling {
  log: Logger;
  /** Names the process in the 500 message ("the gateway logged it and keeps running"). */
  component: string;
  /** Schema errors of one request part (`body`, `query`, `path`, `header`) → the message and optional details. */
  describeValidation(errors: SchemaError[], part: string): { message: string; details?: unknown };
  /** An empty body is `{}` (bodies that are all optional) or refused. */
  emptyBody: 'empty-object' | 'refuse';
  /** Refuse bodies nested deeper than this many levels (no legitimate document is; deep values exhaust recursion later). */
  maxDepth?: number;
  /** Refuse text/plain bodies with 415 instead of letting a string fail a schema. */
  jsonOnly?: boolean;
  /** The 413 message, naming the fix. */
  tooLargeMessage: string;
  /** How a FustorError is written (defaults to `sendError`). */
  send?: (reply: FastifyReply, err: FustorError) => FastifyReply;
}

export function sendError(reply: FastifyReply, err: FustorError): FastifyReply {
  if (err.retryAfter !== undefined) void reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfter))));
  return reply.code(err.httpStatus).type('application/json').send(err.toBody());
}

const PART_NAMES: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

export function installJsonErrorHandling(app: FastifyInstance, opts: JsonErrorHandling): void {
  const send = opts.send ?? sendError;
  app.removeContentTypeParser(opts.jsonOnly === true ? ['application/json', 'text/plain'] : 'application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    const raw = body as Buffer;
    if (raw.length === 0) {
      if (opts.emptyBody === 'empty-object') return done(null, {});
      return done(new FustorError('VALIDATION', 'body: empty; send a JSON document'), undefined);
    }
    // JSON travels as UTF-8. Decoding invalid bytes would silently turn them into U+FFFD (two different
    // non-UTF-8 names would become the same name); such names travel as surrogate escapes (`\udcff`).
    if (!isUtf8(raw)) return done(new FustorError('VALIDATION', `body: not valid UTF-8 (first bad byte at offset ${firstInvalidUtf8(raw)}); send names that are not UTF-8 as surrogate escapes (\\udc80-\\udcff)`), undefined);
    const text = raw.toString('utf8');
    if (opts.maxDepth !== undefined && nestingDepth(text) > opts.maxDepth) return done(new FustorError('VALIDATION', `body: nested deeper than ${opts.maxDepth} levels`), undefined);
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(new FustorError('VALIDATION', `body: invalid JSON (${(e as Error).message})`), undefined);
    }
  });

  app.setErrorHandler((error: FastifyError | FustorError, request, reply) => {
    if (error instanceof FustorError) return send(reply, error);
    const fe = error as FastifyError & { validation?: SchemaError[]; validationContext?: string };
    if (fe.validation !== undefined) {
      const ctx = fe.validationContext ?? 'body';
      const { message, details } = opts.describeValidation(fe.validation, PART_NAMES[ctx] ?? ctx);
      return send(reply, new FustorError(ctx === 'body' ? 'VALIDATION' : 'BAD_REQUEST', message || fe.message, { details }));
    }
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return send(reply, new FustorError('PAYLOAD_TOO_LARGE', opts.tooLargeMessage));
    const status = fe.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const message = fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? `unsupported Content-Type ${JSON.stringify(String(request.headers['content-type'] ?? '').slice(0, 100))}: send the body as application/json`
        : fe.message;
      return reply.code(status).type('application/json').send({ code: status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', message, detail: message });
    }
    opts.log.error({ err: { message: fe.message, stack: fe.stack }, method: request.method, url: request.routeOptions.url }, 'unexpected error while handling a request');
    return send(reply, new FustorError('INTERNAL', `internal error; the ${opts.component} logged it and keeps running`));
  });

  app.setNotFoundHandler((request, reply) => send(reply, new FustorError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0].slice(0, 200)}`)));
}

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

/**
 * The gateway's use of the shared error mapping (src/kernel/http-errors.ts): schema failures name the FIRST
 * bad field (`body.events[0].rows: must be array`), an empty body is `{}` (heartbeats may have none), and the
 * tree limit's fields stay at the top level of its answer (spec 30).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { FustorError } from '../../kernel/errors.ts';
import { installJsonErrorHandling, sendError as sendKernelError } from '../../kernel/http-errors.ts';
import type { Logger } from '../../kernel/logger.ts';
import { describeSchemaErrors } from '../config/schema-errors.ts';

export function sendError(reply: FastifyReply, err: FustorError): FastifyReply {
  // Spec 30: the tree limit answers `{error, limit, would_return, suggestion}`; keep those at the top level too.
  if (err.code === 'TOO_MANY_ITEMS' && typeof err.details === 'object' && err.details !== null) {
    return reply.code(err.httpStatus).type('application/json').send({ ...(err.details as Record<string, unknown>), ...err.toBody() });
  }
  return sendKernelError(reply, err);
}

export function installErrorHandling(app: FastifyInstance, log: Logger): void {
  installJsonErrorHandling(app, {
    log,
    component: 'gateway',
    emptyBody: 'empty-object',
    tooLargeMessage: 'request body is larger than the limit (max_body_bytes); send smaller batches',
    send: sendError,
    describeValidation: (errors, part) => {
      const found = describeSchemaErrors(errors, part);
      return { message: found === null ? '' : `${found.field}: ${found.problem}` };
    },
  });
}

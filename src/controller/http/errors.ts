/**
 * The controller's use of the shared error mapping (src/kernel/http-errors.ts): schema failures list EVERY
 * bad field in `details` as `[{path, message}]` (an apply is rejected as a whole, so the operator fixes all
 * at once); bodies must be JSON documents, at most 64 levels deep.
 */
import type { FastifyInstance } from 'fastify';
import { installJsonErrorHandling, sendError } from '../../kernel/http-errors.ts';
import type { Logger } from '../../kernel/logger.ts';
import { schemaProblems } from '../resources/schema-problems.ts';

export { sendError };

export function installErrorHandling(app: FastifyInstance, log: Logger): void {
  installJsonErrorHandling(app, {
    log,
    component: 'controller',
    emptyBody: 'refuse',
    maxDepth: 64,
    jsonOnly: true,
    tooLargeMessage: 'request body is larger than the limit: apply fewer documents at once',
    describeValidation: (errors, part) => {
      const problems = schemaProblems(errors, part);
      const first = problems[0];
      const message = first === undefined ? '' : `${first.path}: ${first.message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`;
      return { message, details: problems };
    },
  });
}

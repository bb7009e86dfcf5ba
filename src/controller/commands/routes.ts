/**
 * Targeted command endpoints: `POST /api/v1/agents/{name}/commands` and `POST /api/v1/gateways/{name}/commands`
 * (operator role; 202 with the stored command), `GET /api/v1/commands[?kind=&name=&limit=]` and
 * `GET /api/v1/commands/{id}` (viewer role) to follow a command to its outcome.
 */
import { Type } from 'typebox';
import { CommandInfo, CommandList, CommandRequest, ErrorBody, MemberKind } from '../../protocol/index.ts';
import { actorOf } from '../http/auth.ts';
import type { ControllerApp } from '../http/app.ts';
import type { CommandService } from './command-service.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 422: ErrorBody };
const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) });

export function commandRoutes(app: ControllerApp, commands: CommandService): void {
  for (const kind of ['agent', 'gateway'] as const) {
    app.post(`/api/v1/${kind}s/:name/commands`, {
      config: { role: 'operator' },
      schema: {
        tags: ['fleet'], summary: `Send a targeted command to one enrolled ${kind} (${kind === 'agent' ? 'rescan, restart_pipe, renew_credential' : 'renew_credential'}); follow it with GET /api/v1/commands/{id}`,
        params: NameParams, body: CommandRequest, response: { 202: CommandInfo, ...errors },
      },
    }, async (request, reply) => reply.code(202).send(await commands.create(kind, request.params.name, request.body, actorOf(request).name)));
  }

  app.get('/api/v1/commands', {
    schema: {
      tags: ['fleet'], summary: 'Targeted commands, newest first (optionally of one member)',
      querystring: Type.Object({ kind: Type.Optional(MemberKind), name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })) }),
      response: { 200: CommandList, ...errors },
    },
  }, async (request) => ({ items: await commands.list(request.query) }));

  app.get('/api/v1/commands/:id', {
    schema: { tags: ['fleet'], summary: 'One targeted command and its outcome', params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }), response: { 200: CommandInfo, ...errors } },
  }, async (request) => commands.get(request.params.id));
}

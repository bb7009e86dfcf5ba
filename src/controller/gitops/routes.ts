/**
 * GitOps over HTTP: `GET /api/v1/gitops` (status), `POST /api/v1/sync` (operator: fetch and apply now), and
 * the guard that refuses API writes (apply, apply --prune, delete) to the Git-managed kinds with a 409.
 */
import { Type } from 'typebox';
import { ErrorBody, normalizeKind } from '../../protocol/index.ts';
import type { ControllerApp } from '../http/app.ts';
import { isGitManaged } from './apply.ts';
import type { GitOps } from './gitops.ts';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
export const GitOpsStatusSchema = Type.Object({
  repo: Type.String(), branch: Type.String(), dir: Type.String(),
  last_applied_commit: Nullable(Type.String()), last_applied_revision: Nullable(Type.Integer()),
  last_seen_commit: Nullable(Type.String()),
  last_error: Nullable(Type.Object({ commit: Nullable(Type.String()), message: Type.String(), details: Type.Array(Type.String()) })),
  last_sync_at: Nullable(Type.String()),
});
export const SyncResultSchema = Type.Object({
  outcome: Type.Union([Type.Literal('applied'), Type.Literal('up-to-date'), Type.Literal('failed')]),
  commit: Nullable(Type.String()), revision: Nullable(Type.Integer()), status: GitOpsStatusSchema,
});

export function gitopsRoutes(gitops: GitOps): (app: ControllerApp) => void {
  return (app) => {
    app.addHook('preHandler', async (request) => {
      const route = request.routeOptions.url;
      if (request.method === 'POST' && route === '/api/v1/apply') {
        const query = request.query as { prune?: boolean };
        if (query.prune === true) throw gitops.refusal('apply --prune (it would delete Git-managed resources)');
        const docs = Array.isArray(request.body) ? request.body as unknown[] : [];
        for (const d of docs) {
          const kind = (d as { kind?: unknown } | null)?.kind;
          if (typeof kind === 'string' && isGitManaged(kind)) throw gitops.refusal(kind);
        }
      } else if (request.method === 'DELETE' && route === '/api/v1/resources/:kind/:name') {
        const kind = normalizeKind((request.params as { kind: string }).kind);
        if (kind !== undefined && isGitManaged(kind)) throw gitops.refusal(kind);
      }
    });

    app.get('/api/v1/gitops', {
      schema: { tags: ['gitops'], summary: 'GitOps status: source, last applied and last seen commit, last error', response: { 200: GitOpsStatusSchema, 401: ErrorBody, 403: ErrorBody } },
    }, async () => gitops.getStatus());

    app.post('/api/v1/sync', {
      config: { role: 'operator' },
      schema: { tags: ['gitops'], summary: 'Fetch the Git branch now and apply its head commit when it moved', response: { 200: SyncResultSchema, 401: ErrorBody, 403: ErrorBody } },
    }, async () => gitops.sync('api'));
  };
}

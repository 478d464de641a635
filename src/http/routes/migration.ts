/** Operator endpoints for running Allot and Orchestrator v2 side by side: rollout, shadow mode, rollback, progress. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { MODES } from '../../migrate/routing.ts';
import type { AppDeps, Env } from '../deps.ts';
import { actorOf } from '../../service/auth.ts';
import { body, errors, json, Loose } from '../schemas.ts';

const MigrationUpdate = z
  .strictObject({
    mode: z.enum(MODES).optional().openapi({ description: "'allot': everything runs in Allot; 'v2': everything goes to Orchestrator v2; 'rollout': rollout_percent of new requests run in Allot" }),
    rollout_percent: z.number().min(0).max(100).optional().openapi({ description: 'Share of new requests Allot runs in mode rollout, by a stable hash of the request id (0.01% steps)' }),
    shadow: z.boolean().optional().openapi({ description: 'Also run new requests on the other system and record the differences' }),
    shadow_percent: z.number().min(0).max(100).optional().openapi({ description: 'Share of new requests shadow mode copies, by a stable hash of the request id independent of the rollout\'s (default 100)' }),
    rollback: z.boolean().optional().openapi({ description: 'true: new work goes to v2 at once, whatever the mode; work in flight in Allot finishes there' }),
  })
  .openapi('MigrationUpdate');

const ShadowQuery = z.object({
  differences_only: z.enum(['true', 'false']).optional().openapi({ description: 'Only comparisons where the systems differed' }),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  after: z.coerce.number().int().min(0).optional().openapi({ description: 'Only comparisons with seq above this' }),
});

export function registerMigrationRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  const m = d.migration;
  const status = async () => ({ migration: await m.status() });

  app.openapi(
    createRoute({ method: 'get', path: '/admin/migration', operationId: 'getMigration', tags: ['migration'], summary: 'Rollout, shadow differences and progress of the move off Orchestrator v2', responses: { 200: json(Loose, 'Migration status'), ...errors } }),
    async (c) => c.json(await status(), 200),
  );

  app.openapi(
    createRoute({
      method: 'put', path: '/admin/migration', operationId: 'setMigration', tags: ['migration'], summary: 'Change mode, rollout percentage, shadow mode or the rollback switch (kept across restarts)',
      request: body(MigrationUpdate), responses: { 200: json(Loose, 'The new status'), ...errors },
    }),
    async (c) => {
      const b = c.req.valid('json');
      await m.settings.update({ mode: b.mode, rolloutPercent: b.rollout_percent, shadow: b.shadow, shadowPercent: b.shadow_percent, rollback: b.rollback }, actorOf(c.get('principal')));
      return c.json(await status(), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post', path: '/admin/migration/rollback', operationId: 'rollbackMigration', tags: ['migration'], summary: 'Send all new work back to Orchestrator v2 at once; work in flight in Allot finishes in Allot',
      responses: { 200: json(Loose, 'Rolled back'), ...errors },
    }),
    async (c) => {
      await m.settings.update({ rollback: true }, actorOf(c.get('principal')));
      return c.json(await status(), 200);
    },
  );

  app.openapi(
    createRoute({ method: 'post', path: '/admin/migration/resume', operationId: 'resumeMigration', tags: ['migration'], summary: 'Undo a rollback: route new work by the mode and rollout again', responses: { 200: json(Loose, 'Resumed'), ...errors } }),
    async (c) => {
      await m.settings.update({ rollback: false }, actorOf(c.get('principal')));
      return c.json(await status(), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get', path: '/admin/migration/shadow', operationId: 'listShadowComparisons', tags: ['migration'], summary: 'Recent shadow comparisons (status, output, cost, latency of each system), newest first',
      request: { query: ShadowQuery }, responses: { 200: json(Loose, 'Comparisons and their summary'), ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const results = await m.shadowResults({ limit: q.limit ?? 100, afterSeq: q.after, differencesOnly: q.differences_only === 'true' });
      const s = await d.store.shadowSummary();
      return c.json({ summary: { total: s.total, with_differences: s.withDifferences, by_field: s.byField }, results }, 200);
    },
  );
}

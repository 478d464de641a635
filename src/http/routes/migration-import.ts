/**
 * POST /admin/migration/import: the v2 import (src/migrate/) inside a running
 * server, through its own store and registry, so that queued work it takes
 * over is queued at once (a CLI import into the same file would be seen only
 * at the next start: the scheduler rebuilds its queue from the store then).
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { AllotError } from '../../core/errors.ts';
import type { AppDeps, Env } from '../deps.ts';
import { body, errors, json, Loose } from '../schemas.ts';

const ImportBody = z
  .strictObject({
    data_base64: z.string().min(1).optional().openapi({ description: 'The v2 database (SQLite file or SQL dump), base64; bodies are limited by limits.max_body_bytes' }),
    name: z.string().max(500).optional().openapi({ description: 'What to call the upload in the report' }),
    path: z.string().min(1).optional().openapi({ description: 'Instead of data_base64: a path on the server\'s machine' }),
    dry_run: z.boolean().optional().openapi({ description: 'Report what the import would do, on a copy of the database; nothing is written' }),
  })
  .refine((b) => (b.data_base64 === undefined) !== (b.path === undefined), { message: 'give either data_base64 or path', path: ['data_base64'] })
  .openapi('MigrationImport');

export function registerMigrationImportRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  let busy = false;
  app.openapi(
    createRoute({
      method: 'post', path: '/admin/migration/import', operationId: 'importV2Database', tags: ['admin'],
      summary: 'Import an Orchestrator v2 database (idempotent; dry_run writes nothing) and return the validation report',
      request: body(ImportBody), responses: { 200: json(Loose, 'Validation report'), 409: json(Loose, 'An import is running'), ...errors },
    }),
    async (c) => {
      const b = c.req.valid('json');
      if (busy) throw new AllotError('CONFLICT', 'An import is already running; wait for its report');
      busy = true;
      try {
        const report = await d.v2Import({ base64: b.data_base64, path: b.path, name: b.name, dryRun: b.dry_run ?? false });
        return c.json(report as unknown as Record<string, unknown>, 200);
      } finally {
        busy = false;
      }
    },
  );
}

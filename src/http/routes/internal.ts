/** Worker-to-Allot endpoints. Progress is authorized by the per-run progress token. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { AllotError } from '../../core/errors.ts';
import type { AppDeps, Env } from '../deps.ts';
import { body, errors, json, Loose, RequestIdParam } from '../schemas.ts';

const ProgressBody = z
  .strictObject({ progress: z.number().min(0).max(100), message: z.string().max(1000).optional() })
  .openapi('Progress');

export function registerInternalRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  app.openapi(
    createRoute({
      method: 'post', path: '/internal/progress/{requestId}', tags: ['internal'], summary: 'A worker reports progress (Bearer: the progress token it was given)',
      request: { params: RequestIdParam, ...body(ProgressBody) },
      responses: { 200: json(Loose, 'Recorded'), 409: json(Loose, 'Not running under that token any more'), ...errors },
    }),
    async (c) => {
      const id = c.req.valid('param').requestId;
      const auth = c.req.header('authorization');
      const lease = auth?.startsWith('Bearer ') ? d.progressTokens.verify(id, auth.slice(7).trim()) : null;
      if (lease === null) throw new AllotError('UNAUTHORIZED', 'A valid progress token for this request is required');
      const b = c.req.valid('json');
      const ok = await d.scheduler.progress(id, lease, b.progress, b.message);
      if (!ok) throw new AllotError('LEASE_LOST', `Request ${id} is not running under this token any more`);
      return c.json({ recorded: true }, 200);
    },
  );
}

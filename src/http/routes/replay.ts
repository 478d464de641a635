/** POST /admin/requests/resubmit: replay the audit log to submit ended requests again (src/service/resubmit.ts). */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { AllotError } from '../../core/errors.ts';
import { resubmit } from '../../service/resubmit.ts';
import type { AppDeps, Env } from '../deps.ts';
import { actorOf } from '../../service/auth.ts';
import { body, errors, json, Loose } from '../schemas.ts';

const ResubmitBody = z
  .strictObject({
    request_ids: z.array(z.string().min(1)).min(1).max(1000).optional().openapi({ description: 'These requests (each must have ended)' }),
    state: z.enum(['FAILED', 'CANCELLED']).optional().openapi({ description: 'Without request_ids: requests the audit log shows entering this state (default FAILED)' }),
    since: z.iso.datetime({ offset: true }).optional().openapi({ description: 'Without request_ids (then required): from this time' }),
    until: z.iso.datetime({ offset: true }).optional().openapi({ description: 'Up to this time (exclusive; default now)' }),
    template: z.string().min(1).optional(),
    client_id: z.string().min(1).optional(),
    limit: z.number().int().min(1).max(1000).optional().openapi({ description: 'At most this many (default 100)' }),
    dry_run: z.boolean().optional().openapi({ description: 'Say what would be submitted; submit nothing' }),
  })
  .openapi('Resubmit');

export function registerReplayRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  app.openapi(
    createRoute({
      method: 'post', path: '/admin/requests/resubmit', operationId: 'resubmitRequests', tags: ['admin'],
      summary: 'Replay the audit log: submit requests that ended (FAILED by default) again, as new requests of the same client, template, input and parameters; idempotent per original',
      request: body(ResubmitBody), responses: { 200: json(Loose, 'What was submitted'), ...errors },
    }),
    async (c) => {
      const b = c.req.valid('json');
      if (!b.request_ids && !b.since) throw new AllotError('VALIDATION_ERROR', 'since: required without request_ids (which window of the audit log to replay)', { details: { field: 'since' } });
      const dryRun = b.dry_run ?? false;
      const results = await resubmit(d, {
        requestIds: b.request_ids, state: b.state ?? 'FAILED', since: b.since ? Date.parse(b.since) : undefined, until: b.until ? Date.parse(b.until) : undefined,
        template: b.template, clientId: b.client_id, limit: b.limit ?? 100,
      }, { dryRun });
      const count = (k: string): number => results.filter((r) => r.outcome === k).length;
      if (!dryRun) {
        await d.store.appendAudit({
          at: d.clock.now(), requestId: null, clientId: null, kind: 'admin', from: null, to: null, actor: actorOf(c.get('principal')),
          data: { action: 'requests:resubmit', submitted: count('submitted'), existing: count('existing'), refused: count('refused'), originals: results.map((r) => r.original) },
        });
      }
      return c.json({
        dry_run: dryRun, selected: results.length,
        counts: { submitted: count('submitted'), existing: count('existing'), would_submit: count('would_submit'), refused: count('refused') },
        results: results.map((r) => ({ original: r.original, client_id: r.clientId, template: r.template, outcome: r.outcome, request_id: r.requestId ?? null, error: r.error ?? null })),
      }, 200);
    },
  );
}

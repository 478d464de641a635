/**
 * Worker-to-Allot endpoints. Progress is authorized by the per-run progress
 * token; reserve/consume/release by the worker's own token.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { AllotError } from '../../core/errors.ts';
import type { AppDeps, Env } from '../deps.ts';
import type { UnitReservation } from '../../scheduler/worker-reservations.ts';
import { body, errors, json, Loose, RequestIdParam } from '../schemas.ts';
import { bearerToken } from '../../service/auth.ts';
import { units } from '../../config/bounds.ts';

const ReserveBody = z
  .strictObject({
    resource: z.string().min(1).openapi({ example: 'email' }),
    amount: units().positive(),
    ttl_ms: z.number().int().positive().max(600_000).optional().openapi({ description: 'How long the units are held before they return by themselves. Default 30000' }),
  })
  .openapi('ReserveUnits');
const ConsumeBody = z
  .strictObject({
    reservation_id: z.string().min(1).optional(),
    resource: z.string().min(1).optional(),
    amount: units().optional().openapi({ description: 'Units used: with a reservation, default all of it (fewer go back, more are debited); without one, required' }),
  })
  .openapi('ConsumeUnits');
const ReleaseBody = z.strictObject({ reservation_id: z.string().min(1) }).openapi('ReleaseUnits');

const ProgressBody = z
  .strictObject({ progress: z.number().min(0).max(100), message: z.string().max(1000).optional() })
  .openapi('Progress');

const view = (r: UnitReservation) => ({
  reservation_id: r.id, resource: r.resource, amount: r.amount, created_at: new Date(r.createdAt).toISOString(), expires_at: new Date(r.expiresAt).toISOString(),
});

const insufficient = (resource: string, waitMs: number): AllotError =>
  new AllotError('INSUFFICIENT_RESOURCES', `Not enough "${resource}" available now; retry in ${Math.ceil(waitMs / 1000)} s`, {
    retryAfterS: waitMs / 1000, details: { resource, retry_after_ms: waitMs },
  });

export function registerInternalRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  const worker = (c: Context<Env>): string => {
    const p = c.get('principal');
    if (p.kind !== 'worker') throw new AllotError('FORBIDDEN', 'This endpoint needs a worker token');
    return p.worker.name;
  };

  app.openapi(
    createRoute({
      method: 'post', path: '/internal/reserve', operationId: 'reserveResources', tags: ['internal'], summary: 'A worker holds units of a resource for itself (Bearer: its worker token)',
      request: body(ReserveBody), responses: { 200: json(Loose, 'Held'), 429: json(Loose, 'INSUFFICIENT_RESOURCES, with Retry-After'), ...errors },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const r = await d.scheduler.units.reserve(worker(c), b.resource, b.amount, b.ttl_ms ?? 30_000);
      if (!r.ok) throw insufficient(b.resource, r.waitMs);
      return c.json({ success: true, ...view(r.reservation) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post', path: '/internal/consume', operationId: 'consumeResources', tags: ['internal'], summary: 'Settle a reservation at what was used, or take units at once without one',
      request: body(ConsumeBody), responses: { 200: json(Loose, 'Consumed'), 429: json(Loose, 'INSUFFICIENT_RESOURCES, with Retry-After'), ...errors },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const w = worker(c);
      if (b.reservation_id !== undefined) {
        if (b.resource !== undefined) throw new AllotError('VALIDATION_ERROR', 'resource: give either reservation_id or resource, not both');
        const r = await d.scheduler.units.consume(w, b.reservation_id, b.amount);
        return c.json({ success: true, reservation_id: r.reservation.id, resource: r.reservation.resource, used: r.used, returned: r.returned }, 200);
      }
      if (b.resource === undefined || b.amount === undefined) throw new AllotError('VALIDATION_ERROR', 'reservation_id, or resource with amount, is required');
      const r = await d.scheduler.units.consumeNow(w, b.resource, b.amount);
      if (!r.ok) throw insufficient(b.resource, r.waitMs);
      return c.json({ success: true, resource: b.resource, used: b.amount, returned: 0 }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post', path: '/internal/release', operationId: 'releaseResources', tags: ['internal'], summary: 'Give a whole reservation back',
      request: body(ReleaseBody), responses: { 200: json(Loose, 'Released'), ...errors },
    }),
    async (c) => {
      const r = await d.scheduler.units.release(worker(c), c.req.valid('json').reservation_id);
      return c.json({ success: true, released: true, ...view(r) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get', path: '/api/data/{refId}', operationId: 'getPayloadReference', tags: ['internal'], summary: 'A worker fetches a payload by reference (Bearer: its token; X-Worker-ID: its name)',
      request: { params: z.object({ refId: z.string().min(1).max(100).openapi({ param: { name: 'refId', in: 'path' } }) }) },
      responses: { 200: json(Loose, 'The payload'), ...errors },
    }),
    async (c) => {
      const name = worker(c);
      const claimed = c.req.header('x-worker-id');
      if (claimed !== name) throw new AllotError('FORBIDDEN', claimed === undefined ? 'X-Worker-ID is required' : `X-Worker-ID "${claimed}" does not match the token's worker`);
      return c.json((await d.references.read(c.req.valid('param').refId, name)) as Record<string, unknown>, 200);
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/internal/reservations', operationId: 'listReservations', tags: ['internal'], summary: "The calling worker's reservations", responses: { 200: json(Loose, 'Reservations'), ...errors } }),
    (c) => c.json({ reservations: d.scheduler.units.list(worker(c)).map(view) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'post', path: '/internal/progress/{requestId}', operationId: 'reportProgress', tags: ['internal'], summary: 'A worker reports progress (Bearer: the progress token it was given)',
      request: { params: RequestIdParam, ...body(ProgressBody) },
      responses: { 200: json(Loose, 'Recorded'), 409: json(Loose, 'Not running under that token any more'), ...errors },
    }),
    async (c) => {
      const id = c.req.valid('param').requestId;
      const token = bearerToken(c.req.header('authorization'));
      const issued = token ? d.progressTokens.verify(id, token) : null;
      if (issued === null) throw new AllotError('UNAUTHORIZED', 'A valid progress token for this request is required');
      const b = c.req.valid('json');
      const ok = await d.scheduler.progress(id, issued.lease, b.progress, b.message, issued.stage);
      if (!ok) throw new AllotError('LEASE_LOST', `Request ${id} is not running under this token any more`);
      return c.json({ recorded: true }, 200);
    },
  );
}

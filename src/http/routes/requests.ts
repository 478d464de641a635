/** Submitting and following requests: queue, execute, execution, cancel, position. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { AllotError } from '../../core/errors.ts';
import { CANCELLABLE_STATES, isTerminal } from '../../core/states.ts';
import type { AppDeps, Env } from '../deps.ts';
import { callerClient, visibleRequest } from '../guards.ts';
import { BatchItem, BatchSubmitBody, body, errors, ExecuteBody, Execution, json, Loose, MAX_BATCH_ITEMS, RequestIdParam, SubmitBody } from '../schemas.ts';
import { validationError } from '../errors.ts';
import { submitBulk } from '../../service/bulk-submit.ts';
import { estimateView, executionView } from '../views.ts';

const IdempotencyHeader = z.object({
  // Header names are case-insensitive; Hono hands them over lower-cased.
  'idempotency-key': z.string().min(1).max(200).optional().openapi({ description: 'Idempotency-Key: retries with the same key return the original request' }),
});

const Accepted = z
  .looseObject({ success: z.literal(true), request_id: z.string(), status: z.string(), estimate: Loose, status_url: z.string() })
  .openapi('Accepted');

const BatchResults = z
  .looseObject({
    results: z.array(z.looseObject({
      request_id: z.string().optional(), status: z.string().optional(), created: z.boolean().optional(), estimate: Loose.optional(),
      error: z.looseObject({ code: z.string(), message: z.string() }).optional(),
    })),
  })
  .openapi('BatchSubmitResults');

export function registerRequestRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  const accepted = (r: Parameters<typeof executionView>[0]) => ({
    success: true as const,
    request_id: r.id,
    status: r.state,
    template: r.template,
    estimate: estimateView(r.estimate),
    status_url: `/api/execution/${r.id}`,
  });

  app.openapi(
    createRoute({
      method: 'post', path: '/api/queue/enqueue', operationId: 'enqueueRequest', tags: ['queue'], summary: 'Queue a request',
      request: { ...body(SubmitBody), headers: IdempotencyHeader },
      responses: { 202: json(Accepted, 'Accepted and durably queued'), 200: json(Accepted, 'Repeated Idempotency-Key: the original request'), 402: json(Loose, 'BUDGET_EXCEEDED'), 422: json(Loose, 'IDEMPOTENCY_MISMATCH'), 503: json(Loose, 'QUEUE_BACKUP'), ...errors },
    }),
    async (c) => {
      const client = callerClient(c);
      const { request, created } = await d.admission.submit(client, c.req.valid('json'), c.req.valid('header')['idempotency-key']);
      return c.json(accepted(request), created ? 202 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post', path: '/api/queue/enqueue/batch', operationId: 'enqueueRequests', tags: ['queue'],
      summary: `Queue up to ${MAX_BATCH_ITEMS} requests at once; one result per item, in order (a refused item gets its own error, the others go on)`,
      request: body(BatchSubmitBody),
      responses: { 200: json(BatchResults, 'One result per item: the accepted request, or its error'), ...errors },
    }),
    async (c) => {
      const client = callerClient(c);
      const results = await submitBulk(d.admission, client, c.req.valid('json').requests, BatchItem, (e, where) => validationError(e, where, where));
      return c.json({
        results: results.map((r) => r.ok
          ? { request_id: r.request.id, status: r.request.state, created: r.created, estimate: estimateView(r.request.estimate), status_url: `/api/execution/${r.request.id}` }
          : { error: { code: r.error.code, message: r.error.message, ...(r.error.details ? { details: r.error.details } : {}), ...(r.error.retryAfterS ? { retry_after_s: r.error.retryAfterS } : {}) } }),
      }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post', path: '/api/execute', operationId: 'executeRequest', tags: ['execution'], summary: 'Submit and wait for the result (up to wait_ms)',
      request: { ...body(ExecuteBody), headers: IdempotencyHeader },
      responses: { 200: json(Execution, 'Finished (COMPLETED, FAILED or CANCELLED)'), 202: json(Accepted, 'Still running after wait_ms'), 402: json(Loose, 'BUDGET_EXCEEDED'), ...errors },
    }),
    async (c) => {
      const client = callerClient(c);
      const { wait_ms: waitMs, ...submit } = c.req.valid('json');
      const { request } = await d.admission.submit(client, submit, c.req.valid('header')['idempotency-key']);
      if (isTerminal(request.state)) return c.json(executionView(request, d.scheduler), 200);
      const ms = Math.min(waitMs ?? d.config.executeWaitMs, d.config.maxExecuteWaitMs);
      // It may have ended already (its event fired while the submit was being answered, or on another instance).
      const ended = ms > 0 ? await d.waiters.waitFor(request.id, ms, { state: () => d.store.getRequestState(request.id), read: () => d.store.getRequest(request.id) }) : null;
      const now = ended ?? (await d.store.getRequest(request.id)) ?? request;
      if (isTerminal(now.state)) return c.json(executionView(now, d.scheduler), 200);
      return c.json(accepted(now), 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'get', path: '/api/execution/{requestId}', operationId: 'getExecution', tags: ['execution'], summary: 'Status, attempts, progress, output, usage and cost',
      request: { params: RequestIdParam }, responses: { 200: json(Execution, 'The request'), ...errors },
    }),
    async (c) => c.json(executionView(await visibleRequest(c, d.store, c.req.valid('param').requestId), d.scheduler), 200),
  );

  app.openapi(
    createRoute({
      method: 'get', path: '/api/executions', operationId: 'listExecutions', tags: ['execution'], summary: "The caller's requests, newest first",
      request: {
        query: z.object({
          status: z.string().optional().openapi({ description: 'Comma-separated states' }),
          template: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(1000).optional(),
          before: z.string().optional().openapi({ description: 'Request id to page after' }),
        }),
      },
      responses: { 200: json(z.looseObject({ requests: z.array(Execution) }), 'Requests'), ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const p = c.get('principal');
      const states = q.status?.split(',').filter(Boolean);
      const bad = states?.find((s) => !['PENDING', 'PREPARING', 'RUNNING', 'COMPLETED', 'FAILED', 'WAITING_RETRY', 'CANCELLED'].includes(s));
      if (bad) throw new AllotError('VALIDATION_ERROR', `status: unknown state "${bad}"`);
      // Paging from another client's request answers as from an id that does not exist: what is listed
      // must tell neither that it exists nor when it was made.
      if (q.before !== undefined && p.kind === 'client' && (await d.store.getRequest(q.before))?.clientId !== p.client.id) return c.json({ requests: [], next_before: null }, 200);
      const list = await d.store.listRequests({
        clientId: p.kind === 'client' ? p.client.id : undefined, states: states as never, template: q.template, limit: q.limit ?? 100, before: q.before,
      });
      return c.json({ requests: list.map((r) => executionView(r, d.scheduler)), next_before: list.length ? (list.at(-1)?.id ?? null) : null }, 200);
    },
  );

  const cancel = async (id: string, actor: string, onlyQueued: boolean) => {
    const r = await d.store.getRequest(id);
    if (!r) throw new AllotError('NOT_FOUND', `No request ${id}`);
    if (onlyQueued && !(r.state === 'PENDING' || r.state === 'WAITING_RETRY')) {
      throw new AllotError('CONFLICT', `Request ${id} is ${r.state}, no longer queued; use POST /api/execution/${id}/cancel`, { details: { status: r.state } });
    }
    if (!CANCELLABLE_STATES.includes(r.state)) throw new AllotError('CONFLICT', `Request ${id} is already ${r.state}`, { details: { status: r.state } });
    const done = await d.scheduler.cancel(id, actor);
    if (!done) {
      const now = await d.store.getRequest(id);
      throw new AllotError('CONFLICT', `Request ${id} ended as ${now?.state} before it could be cancelled`, { details: { status: now?.state } });
    }
    return done;
  };

  app.openapi(
    createRoute({
      method: 'post', path: '/api/execution/{requestId}/cancel', operationId: 'cancelExecution', tags: ['execution'], summary: 'Cancel from any unfinished state; releases holds and reservations at once',
      request: { params: RequestIdParam }, responses: { 200: json(Execution, 'Cancelled'), 409: json(Loose, 'Already finished'), ...errors },
    }),
    async (c) => {
      const r = await visibleRequest(c, d.store, c.req.valid('param').requestId);
      const p = c.get('principal');
      return c.json(executionView(await cancel(r.id, p.kind === 'client' ? `client:${p.client.id}` : 'admin', false), d.scheduler), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete', path: '/api/queue/{requestId}', operationId: 'removeQueuedRequest', tags: ['queue'], summary: 'Remove a queued (not yet running) request',
      request: { params: RequestIdParam }, responses: { 200: json(Execution, 'Removed (CANCELLED)'), 409: json(Loose, 'Not queued any more'), ...errors },
    }),
    async (c) => {
      const r = await visibleRequest(c, d.store, c.req.valid('param').requestId);
      const p = c.get('principal');
      return c.json(executionView(await cancel(r.id, p.kind === 'client' ? `client:${p.client.id}` : 'admin', true), d.scheduler), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get', path: '/api/queue/position/{requestId}', operationId: 'getQueuePosition', tags: ['queue'], summary: 'Where a queued request stands',
      request: { params: RequestIdParam },
      responses: { 200: json(z.looseObject({ request_id: z.string(), status: z.string(), position: z.number().nullable(), queue_depth: z.number() }), 'Position (1 = next)'), ...errors },
    }),
    async (c) => {
      const r = await visibleRequest(c, d.store, c.req.valid('param').requestId);
      const ahead = r.state === 'PENDING' ? d.scheduler.position(r.id) : undefined;
      const live = d.scheduler.liveScore(r);
      return c.json({
        request_id: r.id, status: r.state, position: ahead === undefined ? null : ahead + 1, ahead: ahead ?? null, queue_depth: d.scheduler.queueDepth,
        level: live.level, priority: { score: live.total, parts: live.parts },
        next_attempt_at: r.runAt === null ? null : new Date(r.runAt).toISOString(),
      }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get', path: '/api/queue/status', operationId: 'getQueueStatus', tags: ['queue'], summary: 'Queue depth and oldest wait per level',
      responses: { 200: json(Loose, 'Queue status'), ...errors },
    }),
    async (c) => {
      const p = c.get('principal');
      const levels = d.scheduler.queueStats();
      return c.json({
        levels: Object.fromEntries(Object.entries(levels).map(([k, v]) => [k, { depth: v.depth, oldest_wait_ms: v.oldestWaitMs }])),
        queued: d.scheduler.queueDepth,
        running: d.scheduler.runningCount,
        waiting_retry: d.scheduler.waitingRetries(),
        scheduler: d.scheduler.paused ? 'paused' : 'running',
        ...(p.kind === 'client' ? { client: { running: d.scheduler.runningFor(p.client.id) } } : {}),
      }, 200);
    },
  );
}

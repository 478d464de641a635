/**
 * Following a request as it runs (SPEC section 6: progress can be polled or
 * streamed): `GET /api/execution/{requestId}/events` is a Server-Sent Events
 * stream. It opens with a `status` event (the request as GET
 * /api/execution/{requestId} shows it), then sends `progress` events
 * ({ percent, message }) as the worker reports, `status` events when the
 * state changes (a retry, a start), and ends with an `end` event carrying
 * the final view (COMPLETED with its output, FAILED with its error, or
 * CANCELLED), after which the server closes the stream. A comment line
 * every 15 s keeps proxies from closing an idle stream.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { isTerminal } from '../../core/states.ts';
import type { WorkRequest } from '../../model.ts';
import type { AppDeps, Env } from '../deps.ts';
import { visibleRequest } from '../guards.ts';
import { errors, RequestIdParam } from '../schemas.ts';
import { executionView } from '../views.ts';

/** @default 15 seconds */
const KEEPALIVE_MS = 15_000;

export function registerStreamRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  app.openapi(
    createRoute({
      method: 'get', path: '/api/execution/{requestId}/events', operationId: 'streamExecutionEvents', tags: ['execution'],
      summary: 'Follow a request as Server-Sent Events: status, progress, and a final end event with the result',
      request: { params: RequestIdParam },
      responses: { 200: { content: { 'text/event-stream': { schema: z.string() } }, description: 'event: status | progress | end; data: JSON' }, ...errors },
    }),
    async (c) => {
      const first = await visibleRequest(c, d.store, c.req.valid('param').requestId);
      const id = first.id;
      return streamSSE(c, async (stream) => {
        const send = (event: string, data: unknown): Promise<void> => stream.writeSSE({ event, data: JSON.stringify(data) });
        const view = (r: WorkRequest) => executionView(r, d.scheduler);
        let resolveEnd = (): void => {};
        const ended = new Promise<void>((r) => (resolveEnd = r));
        let done = false;
        // Writes go out in order, one after another.
        let chain = Promise.resolve();
        const queue = (fn: () => Promise<void>): void => {
          chain = chain.then(fn).catch(() => resolveEnd());
        };
        const finish = (r: WorkRequest): void => {
          if (done || r.id !== id) return;
          done = true;
          queue(() => send('end', view(r)));
          queue(async () => resolveEnd());
        };
        const onProgress = (rid: string, percent: number, message: string | undefined): void => {
          if (rid === id && !done) queue(() => send('progress', { percent, message: message ?? null }));
        };
        const onState = (r: WorkRequest): void => {
          if (r.id === id && !done) queue(() => send('status', view(r)));
        };
        const { events } = d;
        const stateEvents = ['request:claimed', 'request:retrying'] as const;
        const endEvents = ['request:completed', 'request:failed', 'request:cancelled'] as const;
        // Changed on another instance (scale-out mode): re-read from the shared store by the cluster relay.
        const onChanged = (r: WorkRequest): void => (isTerminal(r.state) ? finish(r) : onState(r));
        events.on('request:progress', onProgress);
        for (const e of stateEvents) events.on(e, onState);
        for (const e of endEvents) events.on(e, finish);
        events.on('request:changed', onChanged);
        const keepalive = setInterval(() => queue(() => stream.write(': keep-alive\n\n').then(() => undefined)), KEEPALIVE_MS);
        stream.onAbort(() => resolveEnd());
        // What it is now: it may have ended between the first read and the subscription. Queued before
        // anything the subscription brings, so that the status opens the stream even when progress comes
        // in while the request is read (the store may take a while: PostgreSQL).
        queue(async () => {
          const now = (await d.store.getRequest(id)) ?? first;
          if (isTerminal(now.state)) finish(now);
          else if (!done) await send('status', view(now));
        });
        try {
          await ended;
          await chain;
        } finally {
          clearInterval(keepalive);
          events.off('request:progress', onProgress);
          for (const e of stateEvents) events.off(e, onState);
          for (const e of endEvents) events.off(e, finish);
          events.off('request:changed', onChanged);
        }
      });
    },
  );
}

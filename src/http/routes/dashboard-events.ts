/**
 * The dashboard's push channel: `GET /admin/dashboard/events` is a
 * Server-Sent Events stream of `snapshot` events, each the whole of what
 * `GET /admin/dashboard` answers. One is sent at once, then one after
 * anything the dashboard shows changes (a request's state or progress, a
 * breaker, an alert, an admin action), at most one per THROTTLE_MS: changes
 * within that time share the next snapshot. A comment line every 15 s keeps
 * proxies from closing an idle stream.
 *
 * Authentication is the admin key in the Authorization header, like every
 * /admin route: the dashboard reads the stream with fetch(), not
 * EventSource (which cannot send headers), so the key never appears in a
 * URL or an access log.
 *
 * Scaled out, an instance hears of requests changed elsewhere through the
 * cluster relay (`request:changed`), and of a pause, a resource change or a
 * breaker order made through another instance when it re-reads them
 * (`admin:reloaded`, `worker:breaker`). Other admin changes made elsewhere
 * (clients, workers, templates) show in the next snapshot this one sends.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import type { EventMap } from '../../events.ts';
import type { AppDeps, Env } from '../deps.ts';
import { dashboardSnapshot } from '../dashboard-snapshot.ts';
import { errors } from '../schemas.ts';
import { HoursQuery } from './dashboard.ts';

/** @default 500 ms */
export const THROTTLE_MS = 500;
/** @default 15 seconds */
const KEEPALIVE_MS = 15_000;

/** What the dashboard shows changes on these. */
const CHANGES = [
  'request:accepted', 'request:claimed', 'request:started', 'request:progress', 'request:completed', 'request:retrying', 'request:failed', 'request:cancelled',
  'request:changed', 'worker:breaker', 'worker:transport', 'alert:fired', 'alert:escalated', 'alert:resolved', 'admin:action', 'admin:reloaded',
] as const satisfies readonly (keyof EventMap)[];

export function registerDashboardEventRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  app.openapi(
    createRoute({
      method: 'get', path: '/admin/dashboard/events', operationId: 'streamDashboard', tags: ['admin'],
      summary: 'Server-Sent Events: the dashboard snapshot at once, then again whenever what it shows changes (at most one per 500 ms)',
      request: { query: z.object({ hours: HoursQuery }) },
      responses: { 200: { content: { 'text/event-stream': { schema: z.string() } }, description: 'event: snapshot; data: the GET /admin/dashboard answer' }, ...errors },
    }),
    (c) => {
      const hours = c.req.valid('query').hours ?? 24;
      return streamSSE(c, async (stream) => {
        let resolveEnd = (): void => {};
        const ended = new Promise<void>((r) => (resolveEnd = r));
        let seq = 0;
        let sending = false;
        let dirty = false;
        let lastSent = 0;
        let timer: NodeJS.Timeout | undefined;
        const send = async (): Promise<void> => {
          if (sending || stream.aborted) return;
          sending = true;
          dirty = false;
          try {
            const snapshot = await dashboardSnapshot(d, hours);
            await stream.writeSSE({ event: 'snapshot', id: String(++seq), data: JSON.stringify(snapshot) });
          } catch {
            resolveEnd();
          } finally {
            sending = false;
            lastSent = performance.now();
          }
          // A change arrived while this one was being built: it gets the next one.
          if (dirty) schedule();
        };
        const schedule = (): void => {
          dirty = true;
          if (timer || sending) return;
          const wait = Math.max(0, lastSent + THROTTLE_MS - performance.now());
          timer = setTimeout(() => {
            timer = undefined;
            void send();
          }, wait);
        };
        const onChange = (): void => schedule();
        for (const e of CHANGES) d.events.on(e, onChange);
        const keepalive = setInterval(() => void stream.write(': keep-alive\n\n').catch(() => resolveEnd()), KEEPALIVE_MS);
        stream.onAbort(() => resolveEnd());
        try {
          await send();
          await ended;
        } finally {
          clearInterval(keepalive);
          clearTimeout(timer);
          for (const e of CHANGES) d.events.off(e, onChange);
        }
      });
    },
  );
}

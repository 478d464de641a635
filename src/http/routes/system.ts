/** Unauthenticated service endpoints: root, health, status, metrics. */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppDeps, Env } from '../deps.ts';
import { json, Loose } from '../schemas.ts';

export function registerSystemRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  app.openapi(createRoute({ method: 'get', path: '/', operationId: 'getServiceInfo', tags: ['system'], summary: 'Service identity and links', responses: { 200: json(Loose, 'About') } }), (c) =>
    c.json({ service: 'allot', version: d.version, status: 'ok', docs: '/openapi.json', health: '/health', status_url: '/status', metrics: '/metrics' }, 200),
  );

  app.openapi(createRoute({ method: 'get', path: '/health', operationId: 'getHealth', tags: ['system'], summary: 'Liveness and storage check', responses: { 200: json(Loose, 'Healthy'), 503: json(Loose, 'Unhealthy') } }), async (c) => {
    let storage = 'ok';
    try {
      await d.store.getSetting('schema');
    } catch (err) {
      storage = `error: ${(err as Error).message}`;
    }
    const healthy = storage === 'ok';
    return c.json({
      status: healthy ? 'healthy' : 'unhealthy', version: d.version, uptime_s: Math.round((d.clock.now() - d.startedAt) / 1000),
      checks: { storage, scheduler: d.scheduler.paused ? 'paused' : 'running' }, timestamp: new Date(d.clock.now()).toISOString(),
    }, healthy ? 200 : 503);
  });

  app.openapi(createRoute({ method: 'get', path: '/status', operationId: 'getStatus', tags: ['system'], summary: 'Queues, requests by state, resources', responses: { 200: json(Loose, 'Status') } }), async (c) => {
    const levels = d.scheduler.queueStats();
    const buckets = d.scheduler.bucketLevels();
    // /status needs no key: which resources are held, yes; for which request (some client's id), only to the admin.
    const admin = (await d.auth.principal(c.req.header('authorization')).catch(() => null))?.kind === 'admin';
    const holds = d.scheduler.holds();
    return c.json({
      scheduler: d.scheduler.paused ? 'paused' : 'running',
      // Which instance answered, whether it schedules, and (scaled out) the others it shares the database with.
      instance: {
        id: d.cluster.id, mode: d.cluster.shared ? 'scale-out' : 'embedded', leader: d.scheduler.leading,
        ...(d.cluster.shared
          ? { instances: (await d.cluster.instances()).map((i) => ({ id: i.id, alive: i.alive, version: i.version, seen_at: new Date(i.seenAt).toISOString(), ...(admin ? { url: i.url } : {}) })) }
          : {}),
      },
      queue: {
        depth: d.scheduler.queueDepth, running: d.scheduler.runningCount, waiting_retry: d.scheduler.waitingRetries(), levels,
        holds: Object.keys(holds), ...(admin ? { hold_requests: holds } : {}),
      },
      deferred: (() => {
        const s = d.scheduler.deferredStatus();
        return { allowed: s.allowed, reason: s.reason, next_window_at: s.nextWindowAt === null ? null : new Date(s.nextWindowAt).toISOString() };
      })(),
      requests: await d.store.countByState(),
      resources: Object.fromEntries([...buckets].map(([k, v]) => [k, { available: Math.floor(Math.max(0, v.level)), capacity: v.capacity, utilization: Number((1 - Math.max(0, v.level) / v.capacity).toFixed(4)) }])),
      workers: d.registry.workers().map((w) => ({ name: w.name, transport: w.transport, running: d.scheduler.runningOnWorker(w.name), max_concurrency: w.maxConcurrency })),
    }, 200);
  });

  app.get('/metrics', async (c) => c.body(await d.metrics.text(), 200, { 'content-type': d.metrics.contentType }));
}

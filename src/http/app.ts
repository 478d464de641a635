/**
 * buildApp(deps): the HTTP application, with no listen() and no environment
 * reading, so tests can call it in-process with `app.request()`.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { AllotError } from '../core/errors.ts';
import type { AppDeps, Env } from './deps.ts';
import { readBody } from './body.ts';
import { bearerToken } from '../service/auth.ts';
import { hashSecret, safeEqualHex } from '../service/ids.ts';
import { envelope, errorResponse, toAllotError, validationError } from './errors.ts';
import { registerAdminRoutes } from './routes/admin.ts';
import { registerKeyRoutes } from './routes/keys.ts';
import { registerDashboardRoutes } from './routes/dashboard.ts';
import { registerDashboardEventRoutes } from './routes/dashboard-events.ts';
import { registerReplayRoutes } from './routes/replay.ts';
import { registerStreamRoutes } from './routes/stream.ts';
import { registerInternalRoutes } from './routes/internal.ts';
import { registerJobRoutes } from './routes/jobs.ts';
import { registerMigrationImportRoutes } from './routes/migration-import.ts';
import { registerMigrationRoutes } from './routes/migration.ts';
import { registerOptimizeRoutes } from './routes/optimize.ts';
import { registerRequestRoutes } from './routes/requests.ts';
import { registerResourceRoutes } from './routes/resources.ts';
import { registerSystemRoutes } from './routes/system.ts';
import { registerUsageRoutes } from './routes/usage.ts';

/**
 * Whether the request came with a body that was not read. Whatever the method: Node drains an
 * unread body to keep the connection alive, so a GET declaring a megabyte held it open until the
 * request timeout.
 */
const unreadBody = (c: Context<Env>): boolean =>
  !c.get('bodyRead') && (c.req.header('transfer-encoding') !== undefined || Number(c.req.header('content-length') ?? 0) > 0);

/** One line of the access log: a request answered. */
export interface AccessLogEntry {
  /** The caller's X-Request-Id (letters, digits, `-_.:`, at most 128), else one made here; answered as X-Request-Id. */
  readonly req_id: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** Until the answer's head was ready (a stream's body may go on). */
  readonly ms: number;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function buildApp(d: AppDeps, opts: { onInternalError?: ((err: unknown) => void) | undefined; accessLog?: ((e: AccessLogEntry) => void) | undefined } = {}): OpenAPIHono<Env> {
  const app = new OpenAPIHono<Env>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target);
    },
  });

  // First, so that it sees every answer, errors included, and times all of it.
  app.use('*', async (c, next) => {
    const t0 = performance.now();
    const given = c.req.header('x-request-id');
    const reqId = given !== undefined && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    await next();
    c.res.headers.set('x-request-id', reqId);
    opts.accessLog?.({ req_id: reqId, method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round((performance.now() - t0) * 100) / 100 });
  });

  app.onError((err, c) => {
    const e = toAllotError(err);
    if (e.code === 'INTERNAL_ERROR') opts.onInternalError?.(err);
    // Refused before its body was read (no key, too large, too much buffered): close the
    // connection rather than read on, so an unauthenticated upload costs neither memory nor time.
    if (unreadBody(c)) c.header('Connection', 'close');
    return errorResponse(c, e);
  });
  app.notFound((c) => {
    if (unreadBody(c)) c.header('Connection', 'close');
    return c.json(envelope('NOT_FOUND', `No route ${c.req.method} ${c.req.path}`), 404);
  });

  // Nothing leaves before what it reflects is committed: every acknowledgement waits for the group commit.
  app.use('*', async (_c, next) => {
    await next();
    await d.store.durable();
  });

  // Who is calling is decided from the headers alone, before any body is read.
  const MESSAGES = { api: 'Client endpoints need a client API key (or the admin key to read)', admin: 'Admin endpoints need the admin key', worker: 'This endpoint needs a worker token' } as const;
  const authenticate = (area: 'api' | 'admin' | 'worker'): MiddlewareHandler<Env> => async (c, next) => {
    const p = await d.auth.principal(c.req.header('authorization'));
    if (!p) throw new AllotError('UNAUTHORIZED', 'Send "Authorization: Bearer <key>" with a valid key');
    const allowed = area === 'api' ? p.kind === 'client' || p.kind === 'admin' : area === 'admin' ? p.kind === 'admin' : p.kind === 'worker';
    if (!allowed) throw new AllotError('FORBIDDEN', MESSAGES[area]);
    if (p.kind === 'admin' && p.role === 'read-only' && c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      throw new AllotError('FORBIDDEN', `This admin key (${p.keyId}) is read-only: it may GET, not ${c.req.method}`);
    }
    c.set('principal', p);
    await next();
  };
  const apiAuth = authenticate('api');
  const workerAuth = authenticate('worker');
  // /api/data is where workers fetch payloads by reference, with their own tokens.
  app.use('/api/*', (c, next) => (c.req.path.startsWith('/api/data/') ? workerAuth(c, next) : apiAuth(c, next)));
  app.use('/admin/*', authenticate('admin'));
  // Every change an admin makes is announced (the cluster relay tells the other instances to re-read it).
  // A change runs alone against re-reads of what admins change (scaled out, a re-read that began before it and
  // ended after would put back what it replaced). Imports and resubmissions change none of that: they do not wait.
  app.use('/admin/*', async (c, next) => {
    const writes = c.req.method !== 'GET' && c.req.method !== 'HEAD';
    const long = c.req.path === '/admin/migration/import' || c.req.path === '/admin/requests/resubmit';
    if (writes && !long) await d.adminChanges.run(() => next());
    else await next();
    if (writes && c.res.status < 400) d.events.emit('admin:action', `${c.req.method} ${c.req.routePath}`, {});
  });
  for (const path of ['/internal/reserve', '/internal/consume', '/internal/release', '/internal/reservations', '/internal/jobs/*']) app.use(path, authenticate('worker'));
  // Progress reports carry the per-run token they were issued (checked again, with its lease, by the route).
  app.use('/internal/progress/:requestId', async (c, next) => {
    const token = bearerToken(c.req.header('authorization'));
    if (!token || !d.progressTokens.verify(decodeURIComponent(c.req.param('requestId')), token)) {
      throw new AllotError('UNAUTHORIZED', 'A valid progress token for this request is required');
    }
    await next();
  });
  // Metrics name every client and its costs: the admin key, or the scrape token ALLOT_METRICS_TOKEN.
  const metricsToken = d.config.metricsToken === undefined ? null : hashSecret(d.config.metricsToken);
  app.use('/metrics', async (c, next) => {
    const header = c.req.header('authorization');
    const token = bearerToken(header);
    if (metricsToken !== null && token !== null && safeEqualHex(hashSecret(token), metricsToken)) return next();
    const p = await d.auth.principal(header);
    if (!p) throw new AllotError('UNAUTHORIZED', 'Metrics need the admin key or the metrics token (ALLOT_METRICS_TOKEN) as "Authorization: Bearer <token>"');
    if (p.kind !== 'admin') throw new AllotError('FORBIDDEN', 'Metrics need the admin key or the metrics token');
    await next();
  });

  // Bodies only on the routes that take them, all authenticated above by now.
  const bodies = readBody(d.config.maxBodyBytes, d.config.maxBufferedBodyBytes);
  for (const prefix of ['/api/*', '/admin/*', '/internal/*']) app.use(prefix, bodies);

  registerSystemRoutes(app, d);
  registerRequestRoutes(app, d);
  registerResourceRoutes(app, d);
  registerUsageRoutes(app, d);
  registerOptimizeRoutes(app, d);
  registerAdminRoutes(app, d);
  registerKeyRoutes(app, d);
  registerDashboardRoutes(app, d);
  registerDashboardEventRoutes(app, d);
  registerReplayRoutes(app, d);
  registerStreamRoutes(app, d);
  registerMigrationRoutes(app, d);
  registerInternalRoutes(app, d);
  registerJobRoutes(app, d);
  registerMigrationImportRoutes(app, d);

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Allot', version: d.version, description: 'Resource manager for AI workloads: rate limits, fair priority queues, budgets, dispatch, cost.' },
    security: [{ bearer: [] }],
  });
  return app;
}

/**
 * The pull protocol (src/workers/pull-transport.ts): a worker registered
 * with `transport: "pull"` asks for work and sends results back, with its
 * own bearer token.
 *
 * - POST /internal/jobs/poll `{ worker, max_jobs, wait_ms }`: up to
 *   `max_jobs` jobs (the direct protocol's fields plus `lease_token`),
 *   waiting at most `wait_ms` for the first;
 * - POST /internal/jobs/results `{ results: [ { request_id, lease_token,
 *   …the standard response } ] }`: one answer per item, `accepted` once the
 *   result is recorded, or refused (a lease that is no longer its own: not
 *   charged);
 * - POST /internal/jobs/heartbeat `{ worker, jobs: [ { request_id,
 *   lease_token } ] }`: renews the worker's lease on each job it still holds
 *   (`scheduler.pull_lease_ms` more, never past the job's deadline) and says
 *   which it no longer holds (cancelled, or taken back: stop them).
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { ServerResponse } from 'node:http';
import type { Context } from 'hono';
import { AllotError } from '../../core/errors.ts';
import type { Events } from '../../events.ts';
import { parseStandardResponse } from '../../workers/transport.ts';
import type { AppDeps, Env } from '../deps.ts';
import { body, errors, json, Loose } from '../schemas.ts';

/** Most jobs one poll may ask for, and the longest it may wait. */
export const MAX_POLL_JOBS = 1_000;
export const MAX_POLL_WAIT_MS = 60_000;

const PollBody = z
  .strictObject({
    worker: z.string().min(1).max(64),
    max_jobs: z.number().int().min(1).max(MAX_POLL_JOBS).optional().openapi({ description: 'Default 1' }),
    wait_ms: z.number().int().min(0).max(MAX_POLL_WAIT_MS).optional().openapi({ description: 'How long to wait for the first job. Default 0: answer at once' }),
  })
  .openapi('PollJobs');

const ResultItem = z.looseObject({
  request_id: z.string().min(1).max(100),
  lease_token: z.number().int().min(0),
  success: z.boolean(),
}).openapi('JobResult');

const ResultsBody = z.strictObject({ results: z.array(ResultItem).min(1).max(MAX_POLL_JOBS) }).openapi('JobResults');

const HeartbeatBody = z
  .strictObject({
    worker: z.string().min(1).max(64),
    jobs: z.array(z.strictObject({ request_id: z.string().min(1).max(100), lease_token: z.number().int().min(0) })).max(MAX_POLL_JOBS),
  })
  .openapi('JobHeartbeat');

/**
 * Resolves with whether the result of `id` under `token` was recorded: the
 * request completed, failed or went to retry (true), or the store refused it
 * as stale (false). Listening starts before the result is handed over.
 */
function whenRecorded(events: Events, id: string, token: number): { recorded: Promise<boolean>; stop: () => void } {
  let stop = (): void => {};
  const recorded = new Promise<boolean>((resolve) => {
    const ended = (r: { id: string }): void => {
      if (r.id === id) done(true);
    };
    const stale = (rid: string, t: number): void => {
      if (rid === id && t === token) done(false);
    };
    const done = (v: boolean): void => {
      stop();
      resolve(v);
    };
    stop = () => {
      events.off('request:completed', ended);
      events.off('request:failed', ended);
      events.off('request:retrying', ended);
      events.off('request:stale-result', stale);
    };
    events.on('request:completed', ended);
    events.on('request:failed', ended);
    events.on('request:retrying', ended);
    events.on('request:stale-result', stale);
  });
  return { recorded, stop };
}

/**
 * Aborts when the worker hangs up before it is answered (a poll given up):
 * the request's own signal, and the Node response closing unfinished.
 */
function hangup(c: Context<Env>): AbortSignal {
  const out = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  if (!out) return c.req.raw.signal;
  const gone = new AbortController();
  out.once('close', () => {
    if (!out.writableFinished) gone.abort();
  });
  return AbortSignal.any([c.req.raw.signal, gone.signal]);
}

export function registerJobRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  const pull = d.transports.pull;
  /** The calling worker. */
  const caller = (c: Context<Env>) => {
    const p = c.get('principal');
    if (p.kind !== 'worker') throw new AllotError('FORBIDDEN', 'This endpoint needs a worker token');
    return p.worker;
  };
  /** The calling worker, which must be the one named and a pull worker. */
  const puller = (c: Context<Env>, named: string): string => {
    const w = caller(c);
    if (w.name !== named) throw new AllotError('FORBIDDEN', `worker: "${named}" is not the worker this token belongs to`);
    if (w.transport !== 'pull') throw new AllotError('VALIDATION_ERROR', `worker: "${named}" is registered with transport "${w.transport}", not "pull"`);
    return named;
  };
  /**
   * Scaled out, only the scheduling instance hands out work and takes results:
   * elsewhere the call is passed on to it as it came (a redirect would lose
   * the worker's Authorization header, which clients drop across origins),
   * or the worker is told to come back when no instance schedules now.
   */
  app.use('/internal/jobs/*', async (c, next) => {
    if (d.scheduler.leading) return next();
    const url = await d.cluster.leaderUrl().catch(() => null);
    if (!url) throw new AllotError('QUEUE_BACKUP', 'No instance schedules at the moment; retry shortly', { retryAfterS: 1, details: { scheduling: false } });
    let r: Response;
    try {
      r = await fetch(new URL(c.req.path, url), {
        method: 'POST', body: await c.req.text(), signal: hangup(c),
        headers: { 'content-type': 'application/json', authorization: c.req.header('authorization') ?? '', 'x-allot-forwarded-by': d.cluster.id },
      });
    } catch (err) {
      throw new AllotError('QUEUE_BACKUP', `The instance that schedules (${url}) could not be reached: ${(err as Error).message}; retry shortly`, { retryAfterS: 1, details: { scheduling: false } });
    }
    return new Response(await r.arrayBuffer(), { status: r.status, headers: { 'content-type': r.headers.get('content-type') ?? 'application/json' } });
  });

  app.openapi(
    createRoute({
      method: 'post', path: '/internal/jobs/poll', operationId: 'pollJobs', tags: ['internal'], summary: 'A pull worker asks for up to max_jobs jobs, waiting at most wait_ms for the first',
      request: body(PollBody), responses: { 200: json(z.looseObject({ jobs: z.array(Loose) }), 'Jobs (possibly none)'), ...errors },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const worker = puller(c, b.worker);
      const gone = hangup(c);
      const jobs = await pull.poll(worker, b.max_jobs ?? 1, b.wait_ms ?? 0, gone);
      // Hung up as the answer went out: its jobs go to the next poll rather than wait out their lease.
      if (jobs.length > 0) gone.addEventListener('abort', () => pull.giveBack(worker, jobs), { once: true });
      return c.json({ jobs }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post', path: '/internal/jobs/results', operationId: 'submitJobResults', tags: ['internal'], summary: 'A pull worker sends results: one answer per item, accepted or refused',
      request: body(ResultsBody), responses: { 200: json(z.looseObject({ results: z.array(Loose) }), 'One answer per item, in order'), ...errors },
    }),
    async (c) => {
      const worker = caller(c).name;
      const results = await Promise.all(c.req.valid('json').results.map(async ({ request_id: id, lease_token: token, ...response }) => {
        const watch = whenRecorded(d.events, id, token);
        const taken = pull.deliver(worker, id, token, parseStandardResponse(response));
        if (!taken.taken) {
          watch.stop();
          return { request_id: id, accepted: false, error: { code: 'LEASE_LOST', message: taken.reason } };
        }
        // A pipeline stage's answer does not end the request: taken is all there is to say.
        if (!taken.endsRequest) {
          watch.stop();
          return { request_id: id, accepted: true };
        }
        return (await watch.recorded)
          ? { request_id: id, accepted: true }
          : { request_id: id, accepted: false, error: { code: 'LEASE_LOST', message: `Request ${id} is no longer running under lease ${token}` } };
      }));
      return c.json({ results }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post', path: '/internal/jobs/heartbeat', operationId: 'heartbeatJobs', tags: ['internal'], summary: 'A pull worker renews its leases; each job: still its own (lease renewed) or not (cancelled or taken back: stop it)',
      request: body(HeartbeatBody), responses: { 200: json(z.looseObject({ jobs: z.array(Loose) }), 'Each job: still yours or not'), ...errors },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const worker = puller(c, b.worker);
      const now = d.clock.now();
      const jobs = await Promise.all(b.jobs.map(async (j) => {
        const job = pull.held(worker, j.request_id, j.lease_token);
        // Renewed for another pull_lease_ms, never past the job's deadline (and its grace).
        const until = job ? Math.min(job.deadline_ms, now + d.config.pullLeaseMs) + d.config.leaseGraceMs : 0;
        const active = job !== null && (await d.store.extendLease(j.request_id, j.lease_token, until));
        return { request_id: j.request_id, lease_token: j.lease_token, active, ...(active ? { lease_expires_in_ms: until - now } : {}) };
      }));
      return c.json({ jobs }, 200);
    },
  );
}

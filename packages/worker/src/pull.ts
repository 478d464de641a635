/**
 * A worker that asks Allot for work (a worker registered with
 * `transport: "pull"`), for workers that cannot or should not serve HTTP:
 * behind a firewall or NAT, or many jobs at once with fewer round trips.
 *
 *   const runner = runPull(worker, { url: 'http://allot:8787', token, concurrency: 20 });
 *   …
 *   await runner.stop(); // stops asking, lets the jobs it has finish and sends their results
 *
 * It long-polls POST /internal/jobs/poll for as many jobs as it has room
 * for, runs each with the same handler (deadline, usage, progress,
 * dedupe) as `serveHttp`, and sends the results back in batches to POST
 * /internal/jobs/results, retrying while Allot cannot be reached (until a
 * job's deadline: past that Allot has taken it back anyway).
 */
import { parseJobEnvelope } from './job.ts';
import { httpProgressSink } from './progress.ts';
import { failureFromError, emptyUsage, type StandardResponse } from './response.ts';
import { runEnvelope, type Worker } from './worker.ts';

export interface RunPullOptions {
  /** Allot's base URL, e.g. http://127.0.0.1:8787 */
  readonly url: string;
  /** The worker's bearer token (as registered). */
  readonly token: string;
  /** Jobs run at once. @default 10 */
  readonly concurrency?: number;
  /** How long one poll waits for work, in ms. @default 20000 */
  readonly waitMs?: number;
  /** The name it is registered under. @default the worker's own name */
  readonly name?: string;
  /**
   * How often it renews its leases on the jobs it runs (POST /internal/jobs/heartbeat), in ms; a job
   * Allot says it no longer holds (cancelled, or taken back) is aborted. Keep it well under Allot's
   * `scheduler.pull_lease_ms` (30 s by default). @default 10000
   */
  readonly heartbeatMs?: number;
  /** Told of what went wrong talking to Allot (it keeps trying). @default stderr */
  readonly onError?: (err: Error) => void;
}

export interface PullRunner {
  /** Jobs running now. */
  readonly running: number;
  /** Stop asking for work; resolves once the jobs it has are done and their results sent. */
  stop(): Promise<void>;
}

interface Pending {
  readonly body: Record<string, unknown>;
  /** performance.now() after which Allot no longer wants it (the job's deadline). */
  readonly until: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function runPull(worker: Worker, opts: RunPullOptions): PullRunner {
  const base = opts.url.replace(/\/+$/, '');
  const name = opts.name ?? worker.name;
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 10));
  const waitMs = Math.max(0, Math.min(60_000, Math.floor(opts.waitMs ?? 20_000)));
  const onError = opts.onError ?? ((err: Error) => process.stderr.write(`[${name} pull] ${err.message}\n`));
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${opts.token}` };
  const stopping = new AbortController();
  let running = 0;
  let roomFreed: () => void = () => {};
  const jobs = new Set<Promise<void>>();
  /** Jobs running, by request id: their lease and how to stop them. */
  const held = new Map<string, { readonly lease_token: unknown; readonly abort: AbortController }>();
  let outbox: Pending[] = [];
  let sending: Promise<void> | null = null;

  const post = async (path: string, body: unknown, signal?: AbortSignal): Promise<unknown> => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(body), ...(signal ? { signal } : {}) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as unknown;
  };

  /** Send what is in the outbox, in batches, until it is empty; a failed send is tried again (until each job's deadline). */
  const flush = (): Promise<void> => {
    sending ??= (async () => {
      let backoff = 100;
      while (outbox.length > 0) {
        const batch = outbox.slice(0, 1_000);
        try {
          await post('/internal/jobs/results', { results: batch.map((p) => p.body) });
          outbox = outbox.slice(batch.length);
          for (const p of batch) held.delete(String(p.body.request_id));
          backoff = 100;
        } catch (err) {
          onError(err as Error);
          const now = performance.now();
          for (const p of outbox) if (p.until <= now) held.delete(String(p.body.request_id));
          outbox = outbox.filter((p) => p.until > now);
          await sleep(backoff);
          backoff = Math.min(5_000, backoff * 2);
        }
      }
    })().finally(() => {
      sending = null;
    });
    return sending;
  };

  const run = async (raw: unknown, receivedAt: number): Promise<void> => {
    const r = raw as Record<string, unknown>;
    let result: StandardResponse;
    let until = Number.POSITIVE_INFINITY;
    const abort = new AbortController();
    const id = String(r.request_id);
    held.set(id, { lease_token: r.lease_token, abort });
    try {
      const envelope = parseJobEnvelope(raw, receivedAt);
      if (envelope.budgetMs !== null) until = receivedAt + envelope.budgetMs;
      result = await runEnvelope(worker, envelope, { progressSink: envelope.progress === null ? null : httpProgressSink(envelope.progress), signal: abort.signal });
    } catch (err) {
      result = failureFromError(err, emptyUsage());
    }
    // Taken back or cancelled meanwhile: Allot would refuse the result.
    if (abort.signal.aborted) {
      held.delete(id);
      return;
    }
    // Still held (and heartbeated) until its result is delivered: under load that can outlast a lease.
    outbox.push({ body: { request_id: r.request_id, lease_token: r.lease_token, ...result }, until });
    // Results of jobs that end in the same turn go in one call.
    setImmediate(() => void flush());
  };

  const heartbeat = setInterval(() => {
    if (held.size === 0) return;
    const list = [...held].map(([id, h]) => ({ request_id: id, lease_token: h.lease_token }));
    post('/internal/jobs/heartbeat', { worker: name, jobs: list }).then(
      (answer) => {
        for (const j of (answer as { jobs?: { request_id: string; active: boolean }[] }).jobs ?? []) if (!j.active) held.get(j.request_id)?.abort.abort();
      },
      (err: unknown) => onError(err as Error),
    );
  }, Math.max(100, opts.heartbeatMs ?? 10_000));
  heartbeat.unref();

  const loop = (async () => {
    let backoff = 100;
    while (!stopping.signal.aborted) {
      const room = concurrency - running;
      if (room <= 0) {
        await new Promise<void>((r) => (roomFreed = r));
        continue;
      }
      let got: unknown[];
      try {
        const answer = (await post('/internal/jobs/poll', { worker: name, max_jobs: room, wait_ms: waitMs }, stopping.signal)) as { jobs?: unknown[] };
        got = Array.isArray(answer.jobs) ? answer.jobs : [];
        backoff = 100;
      } catch (err) {
        if (stopping.signal.aborted) break;
        onError(err as Error);
        await sleep(backoff);
        backoff = Math.min(5_000, backoff * 2);
        continue;
      }
      const receivedAt = performance.now();
      for (const raw of got) {
        running++;
        const p = run(raw, receivedAt).finally(() => {
          running--;
          jobs.delete(p);
          roomFreed();
        });
        jobs.add(p);
      }
    }
  })();

  return {
    get running() {
      return running;
    },
    async stop() {
      stopping.abort();
      roomFreed();
      await loop;
      await Promise.allSettled(jobs);
      clearInterval(heartbeat);
      await flush();
    },
  };
}

/**
 * The scheduling simulator's engine: the real Allot wiring (`buildAllot`:
 * SQLite store on a temp file, registry, admission, scheduler, ledger, run
 * queue) under a virtual clock (FakeClock).
 *
 * Time only moves when the simulation moves it: each step submits the step's
 * arrivals through the real admission path, kicks the scheduler and waits
 * until it is quiescent (nothing claimed, dispatched or settling), then
 * advances the clock. Whatever real timers the scheduler arms (wake-up,
 * reaper, retries) may fire in between; they see the same virtual time, so
 * the results do not depend on them.
 *
 * The worker is an SDK worker (`serveHttp`) on loopback that answers at once
 * and reports as used a fixed fraction (default all) of the `max_tokens` it
 * was allowed: a ZERO-SERVICE-TIME simulated worker. Dispatch and completion
 * happen within one virtual instant, so per-client and per-worker concurrency
 * limits never bind in virtual time (clients are given a high max_concurrent
 * so that only buckets, priority and fairness decide). The HTTP transport
 * cannot follow a virtual clock, and `buildAllot` creates the transports
 * itself, so an in-process simulated transport cannot be injected without a
 * change in src/ (see run.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { defineWorker, serveHttp, type HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { buildAllot, type Allot } from '../../src/boot.ts';
import { resolveConfig } from '../../src/config/resolve.ts';
import { FakeClock } from '../../src/core/clock.ts';
import { AllotError } from '../../src/core/errors.ts';
import type { Urgency } from '../../src/core/priority.ts';
import type { Client, WorkRequest } from '../../src/model.ts';

const ADMIN_KEY = 'sim-admin-key-0123456789abcdef';

/** One request as the simulation saw it. Times are virtual ms since the simulation began. */
export interface Rec {
  readonly id: string;
  readonly clientId: string;
  readonly template: string;
  /** Units reserved per resource at admission (the estimate). */
  readonly needs: Readonly<Record<string, number>>;
  readonly createdAt: number;
  /** When the scheduler claimed it (reserved its resources and dispatched it). */
  claimedAt: number | null;
  /** Units actually used per resource (tokens of the model resource), once completed. */
  used: Record<string, number> | null;
  costNano: number;
  state: 'PENDING' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'RETRYING';
}

export interface SimOptions {
  /** The config file's `scheduler` section (starvation_ms, hold_after_ms, fairness_half_life_ms...). */
  readonly scheduler?: Record<string, unknown>;
  /** The config file's `resources` section. */
  readonly resources: Record<string, Record<string, unknown>>;
  /**
   * Templates: the config file's template fields, plus `use`, the share of
   * `max_tokens` the simulated worker reports as used (default 1). Each
   * template runs on a worker of its own name unless `worker` is given.
   */
  readonly templates: Record<string, Record<string, unknown> & { use?: number }>;
  /** Virtual start. @default 15 January next year, 09:00 UTC (ahead of real time: the SDK worker checks deadlines against it). */
  readonly start?: number;
  /** Seed of the arrival-order shuffle. @default 1 */
  readonly seed?: number;
}

export interface Arrival {
  readonly client: Client;
  readonly template: string;
  readonly maxTokens?: number;
  readonly urgency?: Urgency;
}

export type SubmitResult = { readonly ok: true; readonly id: string } | { readonly ok: false; readonly code: string };

/** mulberry32: a small seeded PRNG, so runs repeat. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const immediate = (): Promise<void> => new Promise((r) => setImmediate(r));

export class Sim {
  readonly clock: FakeClock;
  readonly allot: Allot;
  readonly t0: number;
  readonly records = new Map<string, Rec>();
  /** Worker failures and retries seen (the simulated worker never fails, so any is a simulator fault). */
  readonly failures: string[] = [];
  readonly random: () => number;
  readonly #worker: HttpWorkerServer;
  readonly #dir: string;
  #claimed = 0;
  #settled = 0;
  #lastReapAt: number;

  private constructor(clock: FakeClock, allot: Allot, worker: HttpWorkerServer, dir: string, seed: number) {
    this.clock = clock;
    this.allot = allot;
    this.#worker = worker;
    this.#dir = dir;
    this.t0 = clock.now();
    this.#lastReapAt = this.t0;
    this.random = prng(seed);
    const ev = allot.events;
    ev.on('request:accepted', (r) => {
      this.records.set(r.id, {
        id: r.id, clientId: r.clientId, template: r.template, needs: r.estimate.resources, createdAt: r.createdAt - this.t0, claimedAt: null, used: null, costNano: 0, state: 'PENDING',
      });
    });
    ev.on('request:claimed', (r) => {
      this.#claimed++;
      const rec = this.records.get(r.id);
      if (rec) {
        rec.claimedAt = (r.startedAt ?? this.clock.now()) - this.t0;
        rec.state = 'RUNNING';
      }
    });
    ev.on('request:completed', (r) => {
      this.#settled++;
      const rec = this.records.get(r.id);
      if (rec) {
        rec.state = 'COMPLETED';
        rec.used = this.#usedOf(r);
        rec.costNano = r.costNano;
      }
    });
    ev.on('request:failed', (r) => {
      this.#settled++;
      this.failures.push(`${r.id} failed: ${r.error?.code} ${r.error?.message}`);
      const rec = this.records.get(r.id);
      if (rec) rec.state = 'FAILED';
    });
    ev.on('request:retrying', (r, e) => {
      this.#settled++;
      this.failures.push(`${r.id} retrying: ${e.code} ${e.message}`);
      const rec = this.records.get(r.id);
      if (rec) rec.state = 'RETRYING';
    });
  }

  static async start(opts: SimOptions): Promise<Sim> {
    const worker = await serveHttp(
      defineWorker({
        name: 'sim-worker',
        dedupe: false,
        handler: (job, ctx) => {
          const use = typeof job.parameters.sim_use === 'number' ? job.parameters.sim_use : 1;
          const max = typeof job.parameters.max_tokens === 'number' ? job.parameters.max_tokens : 0;
          ctx.addUsage({ inputTokens: 0, outputTokens: Math.round(max * use) });
          return {};
        },
      }),
    );
    const workers: Record<string, unknown> = {};
    const templates: Record<string, unknown> = {};
    for (const [name, t] of Object.entries(opts.templates)) {
      const { use, worker: w, parameters, ...rest } = t as Record<string, unknown> & { use?: number; worker?: string; parameters?: Record<string, unknown> };
      const wname = w ?? `w-${name}`;
      workers[wname] = { transport: 'http', url: worker.url, max_concurrency: 1_000 };
      templates[name] = { ...rest, worker: wname, timeout_ms: 60_000, max_attempts: 1, parameters: { ...parameters, sim_use: use ?? 1 } };
    }
    const dir = mkdtempSync(join(tmpdir(), 'allot-sim-'));
    const start = opts.start ?? Date.UTC(new Date().getUTCFullYear() + 1, 0, 15, 9, 0, 0);
    const clock = new FakeClock(start);
    try {
      const file = join(dir, 'allot.json');
      writeFileSync(file, JSON.stringify({ scheduler: { max_queue_depth: 1_000_000, ...opts.scheduler }, resources: opts.resources, workers, templates }, null, 2));
      const config = resolveConfig({ ALLOT_CONFIG: file, ALLOT_DB: join(dir, 'allot.db'), ALLOT_ADMIN_KEY: ADMIN_KEY });
      const allot = await buildAllot(config, { clock, logger: pino({ level: 'silent' }) });
      // Nothing listens there: the simulated worker never reports progress.
      allot.setPublicUrl('http://127.0.0.1:9');
      await allot.start();
      return new Sim(clock, allot, worker, dir, opts.seed ?? 1);
    } catch (err) {
      await worker.close();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Virtual ms since the simulation began. */
  now(): number {
    return this.clock.now() - this.t0;
  }

  /** Call an admin route of the in-process app; throws unless it answers 2xx. */
  async admin(method: string, path: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await this.allot.app.request(path, {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status < 200 || res.status > 299) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  }

  /** A client created through the real admin route; `max_concurrent` defaults high (service time is zero). */
  async client(name: string, tier: string, extra: { monthly_budget_usd?: number; max_concurrent?: number } = {}): Promise<Client> {
    const body = (await this.admin('POST', '/admin/clients', { name, tier, max_concurrent: 10_000, ...extra })) as { client?: { id: string } };
    if (!body.client) throw new Error(`creating client ${name}: no client in the answer`);
    const c = this.allot.deps.registry.client(body.client.id);
    if (!c) throw new Error(`client ${name} is not in the registry`);
    return c;
  }

  /** Submit through the real admission path (estimate, budget check and hold, enqueue). */
  async submit(a: Arrival): Promise<SubmitResult> {
    try {
      const { request } = await this.allot.deps.admission.submit(
        a.client,
        { template: a.template, input: {}, ...(a.maxTokens === undefined ? {} : { max_tokens: a.maxTokens }), ...(a.urgency ? { urgency: a.urgency } : {}) },
        undefined,
      );
      return { ok: true, id: request.id };
    } catch (err) {
      if (err instanceof AllotError) return { ok: false, code: err.code };
      throw err;
    }
  }

  /**
   * Submit arrivals that happen at the same virtual instant, all at once
   * (none is scheduled before all are queued), in a seeded random order so
   * that no client is always first.
   */
  async submitAll(arrivals: readonly Arrival[]): Promise<SubmitResult[]> {
    const order = arrivals.map((a, i) => ({ a, i, k: this.random() })).toSorted((x, y) => x.k - y.k);
    const results = await Promise.all(order.map((o) => this.submit(o.a)));
    const out: SubmitResult[] = Array.from({ length: arrivals.length });
    order.forEach((o, j) => (out[o.i] = results[j] as SubmitResult));
    return out;
  }

  /**
   * Let the scheduler run to quiescence at the current virtual time: every
   * claim dispatched and settled, and the pass that follows each settlement
   * run. Throws if that takes more than `limitMs` of real time.
   */
  async settle(limitMs = 30_000): Promise<void> {
    const s = this.allot.scheduler;
    s.kick();
    const until = performance.now() + limitMs;
    for (;;) {
      await immediate();
      if (s.runningCount === 0 && this.#claimed === this.#settled) {
        // The settlement's kick queues a pass: let it run and see whether it started anything.
        await immediate();
        if (s.runningCount === 0 && this.#claimed === this.#settled) return;
      }
      if (performance.now() > until) {
        throw new Error(`simulator: not quiescent after ${limitMs} ms (running ${s.runningCount}, claimed ${this.#claimed}, settled ${this.#settled})`);
      }
    }
  }

  /** Settle, then move the clock by `ms` (running the reaper once per virtual second, as its timer would). */
  async advance(ms: number): Promise<void> {
    await this.settle();
    this.clock.advance(ms);
    if (this.clock.now() - this.#lastReapAt >= 1_000) {
      this.#lastReapAt = this.clock.now();
      await this.allot.scheduler.reap();
    }
  }

  /**
   * Run from now for `durationMs` in steps of `stepMs`: at each step, submit
   * what `arrivals(t)` returns (t = virtual ms since the simulation began),
   * let the scheduler run, advance. `until` may end the run early.
   */
  async run(durationMs: number, stepMs: number, arrivals: (t: number) => readonly Arrival[], until?: () => boolean): Promise<void> {
    const end = this.now() + durationMs;
    while (this.now() < end) {
      const batch = arrivals(this.now());
      if (batch.length) await this.submitAll(batch);
      await this.settle();
      if (until?.()) return;
      await this.advance(stepMs);
    }
    await this.settle();
  }

  /** Units used per resource as the settlement counts them (model tokens in the model's resource). */
  #usedOf(r: WorkRequest): Record<string, number> {
    const out: Record<string, number> = {};
    if (!r.usage) return out;
    for (const [k, v] of Object.entries(r.usage.resources)) out[k] = (out[k] ?? 0) + v;
    const model = r.model ? this.allot.deps.registry.modelResource(r.model) : undefined;
    if (model) out[model.name] = (out[model.name] ?? 0) + r.usage.tokens.input + r.usage.tokens.output;
    return out;
  }

  async close(): Promise<void> {
    try {
      await this.allot.stop(2_000);
    } finally {
      await this.#worker.close();
      rmSync(this.#dir, { recursive: true, force: true });
    }
  }
}

/**
 * Deterministic fluid arrivals: each source submits `rate` requests per
 * virtual second, as whole requests when its credit reaches one.
 */
export interface Source {
  /** Requests per virtual second. */
  readonly rate: number;
  readonly make: () => Arrival;
  /** Extra requests submitted at the start, on top of the first one. @default 0 */
  readonly burst?: number;
}

export class FluidArrivals {
  readonly sources: readonly Source[];
  readonly #credit: number[];
  readonly #last: number[];
  /** @param startMs when the sources begin (each submits one request, plus its burst, then). */
  constructor(sources: readonly Source[], startMs = 0) {
    this.sources = sources;
    this.#credit = sources.map((x) => 1 + (x.burst ?? 0));
    this.#last = sources.map(() => startMs);
  }
  at(t: number): Arrival[] {
    const out: Arrival[] = [];
    this.sources.forEach((s, i) => {
      this.#credit[i] = (this.#credit[i] as number) + (s.rate * (t - (this.#last[i] as number))) / 1000;
      this.#last[i] = t;
      while ((this.#credit[i] as number) >= 1) {
        this.#credit[i] = (this.#credit[i] as number) - 1;
        out.push(s.make());
      }
    });
    return out;
  }
}

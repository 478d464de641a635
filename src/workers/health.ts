/**
 * Worker health (SPEC section 6): every HTTP and v2 worker's GET /health is
 * probed on an interval, and each worker has a circuit breaker
 * (src/core/breaker.ts) fed by those probes and by dispatch outcomes read
 * from the event bus. An open breaker takes the worker out of rotation
 * (`available`, which the scheduler asks through the registry) and raises
 * the worker_unhealthy alert. After the cool-down one trial decides: for a
 * probed worker the trial is a probe (sent as soon as the cool-down ends),
 * for a subprocess worker, which has nothing to probe, it is one dispatch.
 *
 * A probe fails when /health does not answer in time, answers 5xx, or says
 * `status: "unhealthy"`; any other answer means the worker is up (a 404 is a
 * worker without a health endpoint, not a dead one). A dispatch fails with
 * WORKER_UNAVAILABLE or REQUEST_TIMEOUT; any other worker error still means
 * the worker answered and counts as a success; cancellations and Allot's own
 * errors count as neither.
 *
 * Probes also re-check the protocol: a worker whose transport was detected
 * (registered without one) is switched when its /health claims another one,
 * through the registry as actor 'health-probe' (so it is audited); a worker
 * registered as "v2" explicitly keeps it and gets a warning instead.
 *
 * An operator may take a worker out of rotation by hand (`order`, from POST
 * /admin/workers/{name}/breaker): its breaker is held open (no cool-down, no
 * trial, probes and dispatch outcomes ignored) until an operator closes it,
 * which also clears the failure streaks. Orders carry the time they were
 * given: each instance applies an order once, so instances sharing a store
 * converge on the latest one as they re-read it (src/workers/breaker-orders.ts).
 */
import { closedBreaker, reopensAt, settle, step, takeTrial, type Breaker, type BreakerEvent, type BreakerState } from '../core/breaker.ts';
import type { Clock } from '../core/clock.ts';
import type { ResolvedConfig } from '../config/resolve.ts';
import type { Events } from '../events.ts';
import type { RequestError, WorkRequest, WorkerDef } from '../model.ts';
import type { Registry } from '../service/registry.ts';
import { claimsV2Handshake, fetchHealth, transportFromHealth, type HealthBody } from './detect.ts';

export type HealthOptions = ResolvedConfig['workerHealth'];

const FAILURE_CODES: ReadonlySet<string> = new Set(['WORKER_UNAVAILABLE', 'REQUEST_TIMEOUT']);
const NEUTRAL_CODES: ReadonlySet<string> = new Set(['CANCELLED', 'INTERNAL_ERROR', 'LEASE_LOST']);

/** A worker's health as the admin views and alerts show it. */
export interface HealthView {
  readonly status: 'healthy' | 'unhealthy' | 'unknown';
  /** Whether the scheduler may send it work now. */
  readonly available: boolean;
  readonly breaker: BreakerState;
  /** Open: when the cool-down ends and one trial is allowed. */
  readonly reopensAt: number | null;
  readonly lastCheckedAt: number | null;
  readonly lastError: string | null;
  readonly lastErrorAt: number | null;
  /** Consecutive failed probes. */
  readonly consecutiveFailures: number;
  /** Consecutive failed dispatches (WORKER_UNAVAILABLE, REQUEST_TIMEOUT). */
  readonly dispatchFailures: number;
  /** The protocol its last /health claimed; null before one answered. */
  readonly detected: 'http' | 'v2' | null;
  readonly warning: string | null;
  /** Held open by an operator: only an operator closes it. */
  readonly held: boolean;
}

/** An operator's order for a worker's breaker, and when it was given (ms since the epoch). */
export interface BreakerOrder {
  readonly state: 'open' | 'closed';
  readonly at: number;
  readonly reason?: string | undefined;
}

interface HealthRecord {
  /** The url or command this is about: a worker pointed elsewhere starts afresh. */
  readonly target: string;
  breaker: Breaker;
  probeOk: boolean | null;
  lastCheckedAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  consecutiveFailures: number;
  dispatchFailures: number;
  detected: 'http' | 'v2' | null;
  warning: string | null;
}

const probed = (w: WorkerDef): boolean => w.transport !== 'subprocess' && Boolean(w.url);
const targetOf = (w: WorkerDef): string => w.url ?? w.command?.join(' ') ?? '';
const messageOf = (err: unknown): string => (err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err));

export class WorkerHealth {
  readonly #d: { readonly registry: Registry; readonly events: Events; readonly clock: Clock };
  readonly #o: HealthOptions;
  readonly #records = new Map<string, HealthRecord>();
  readonly #inflight = new Map<string, Promise<void>>();
  /** Per worker: the probe (or re-check) due when its breaker's cool-down ends. */
  readonly #trialTimers = new Map<string, NodeJS.Timeout>();
  /** Workers whose breaker an operator holds open. */
  readonly #held = new Set<string>();
  /** Per worker: when the last operator order applied here was given. */
  readonly #ordered = new Map<string, number>();
  readonly #stopping = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #stopped: Promise<void> | undefined;

  constructor(d: { registry: Registry; events: Events; clock: Clock }, o: HealthOptions) {
    this.#d = d;
    this.#o = o;
    d.events.on('worker:error', this.#onError);
    d.events.on('request:completed', this.#onCompleted);
    d.events.on('worker:answered', this.#onAnswered);
  }

  /** Probe now and then every `intervalMs` (timer unref'd). Idempotent. */
  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setInterval(() => void this.probeAll(), this.#o.intervalMs);
    this.#timer.unref();
    void this.probeAll();
  }

  /** Stop probing, abort probes under way and wait for them. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      clearInterval(this.#timer);
      for (const t of this.#trialTimers.values()) clearTimeout(t);
      this.#trialTimers.clear();
      this.#stopping.abort();
      this.#d.events.off('worker:error', this.#onError);
      this.#d.events.off('request:completed', this.#onCompleted);
      this.#d.events.off('worker:answered', this.#onAnswered);
      await Promise.allSettled(this.#inflight.values());
    })();
    return this.#stopped;
  }

  /** Probe every HTTP and v2 worker whose breaker allows it (the interval calls this). */
  async probeAll(): Promise<void> {
    const names = new Set<string>();
    const work: Promise<void>[] = [];
    for (const w of this.#d.registry.workers()) {
      names.add(w.name);
      if (probed(w)) work.push(this.#probeOnce(w.name, false));
      else this.#record(w, this.#d.clock.now());
    }
    for (const name of this.#records.keys()) if (!names.has(name)) this.#forget(name);
    await Promise.all(work);
  }

  /**
   * Probe one worker now, even while its breaker is open: an operator's
   * trial (a subprocess worker's next dispatch becomes the trial). Its
   * health afterwards; undefined for an unknown worker.
   */
  async probe(name: string): Promise<HealthView | undefined> {
    const w = this.#d.registry.worker(name);
    if (!w) return undefined;
    if (probed(w)) await this.#probeOnce(name, true);
    else {
      const now = this.#d.clock.now();
      this.#apply(w.name, this.#record(w, now), { type: 'force_trial' }, 'trial requested by an operator', now);
    }
    return this.view(name);
  }

  /**
   * Whether the scheduler may send this worker work now. For a half-open
   * subprocess worker this hands out the single trial: ask only when about
   * to dispatch.
   */
  available(name: string): boolean {
    if (this.#held.has(name)) return false;
    if (!this.#records.has(name)) return true;
    const w = this.#d.registry.worker(name);
    if (!w) return true;
    const now = this.#d.clock.now();
    const r = this.#record(w, now);
    if (r.breaker.state === 'closed') return true;
    if (r.breaker.state === 'open' || probed(w)) return false;
    const t = takeTrial(r.breaker, this.#o, now);
    r.breaker = t.breaker;
    return t.granted;
  }

  /** A worker's health now (does not take a trial); undefined for an unknown worker. */
  view(name: string): HealthView | undefined {
    const w = this.#d.registry.worker(name);
    if (!w) return undefined;
    const now = this.#d.clock.now();
    const r = this.#record(w, now);
    const b = r.breaker;
    const status = b.state !== 'closed' || r.probeOk === false ? 'unhealthy' : !probed(w) || r.probeOk ? 'healthy' : 'unknown';
    return {
      status, available: b.state === 'closed' || (b.state === 'half_open' && !probed(w) && b.trialAt === null), breaker: b.state, reopensAt: this.#held.has(name) ? null : reopensAt(b, this.#o, now),
      lastCheckedAt: r.lastCheckedAt, lastError: r.lastError, lastErrorAt: r.lastErrorAt, consecutiveFailures: r.consecutiveFailures, dispatchFailures: r.dispatchFailures,
      detected: r.detected, warning: r.warning, held: this.#held.has(name),
    };
  }

  /**
   * An operator's order: 'open' holds the breaker open until an order to
   * close it; 'closed' closes it (whatever opened it) and clears the failure
   * streaks. An order no newer than the last one applied here is ignored
   * (false), so re-reading the same order changes nothing. Unknown worker:
   * ignored (false).
   */
  order(name: string, o: BreakerOrder): boolean {
    const w = this.#d.registry.worker(name);
    if (!w || o.at <= (this.#ordered.get(name) ?? -Infinity)) return false;
    this.#ordered.set(name, o.at);
    const now = this.#d.clock.now();
    const r = this.#record(w, now);
    const before = r.breaker.state;
    const why = o.reason ? `${o.state === 'open' ? 'opened' : 'closed'} by an operator: ${o.reason}` : `${o.state === 'open' ? 'opened' : 'closed'} by an operator`;
    clearTimeout(this.#trialTimers.get(name));
    this.#trialTimers.delete(name);
    if (o.state === 'open') {
      this.#held.add(name);
      r.breaker = { state: 'open', streaks: {}, openedAt: now, trialAt: null };
    } else {
      this.#held.delete(name);
      r.breaker = closedBreaker;
      r.consecutiveFailures = 0;
      r.dispatchFailures = 0;
    }
    if (r.breaker.state !== before) this.#d.events.emit('worker:breaker', name, r.breaker.state, why);
    return true;
  }

  /**
   * No order is kept for this worker any more (it was deleted): forget the
   * last one applied here, and release a hold (the breaker closes).
   */
  dropOrder(name: string): void {
    this.#ordered.delete(name);
    if (!this.#held.delete(name)) return;
    const r = this.#records.get(name);
    if (!r) return;
    r.breaker = closedBreaker;
    this.#d.events.emit('worker:breaker', name, 'closed', 'its operator order was dropped');
  }

  // ---- probes -------------------------------------------------------------------

  /** One probe per worker at a time: a second ask while one runs waits for it. */
  #probeOnce(name: string, manual: boolean): Promise<void> {
    const running = this.#inflight.get(name);
    if (running) return running;
    const p = this.#runProbe(name, manual)
      .catch((err: unknown) => {
        this.#d.events.emit('worker:error', name, { code: 'INTERNAL_ERROR', message: `health probe: ${messageOf(err)}`, retryable: true });
      })
      .finally(() => this.#inflight.delete(name));
    this.#inflight.set(name, p);
    return p;
  }

  async #runProbe(name: string, manual: boolean): Promise<void> {
    const { registry, clock } = this.#d;
    const w = registry.worker(name);
    if (!w?.url || !probed(w) || this.#stopping.signal.aborted) return;
    const now = clock.now();
    if (this.#held.has(name)) return; // Held open by an operator: nothing it answers would change that.
    const rec = this.#record(w, now);
    if (manual) this.#apply(name, rec, { type: 'force_trial' }, 'probe requested by an operator', now);
    const trial = takeTrial(rec.breaker, this.#o, now);
    rec.breaker = trial.breaker;
    if (!trial.granted) return; // Open and cooling down, or its one trial is already out.

    let body: HealthBody | null = null;
    let error: string | null = null;
    try {
      const r = await fetchHealth(w.url, { timeoutMs: this.#o.timeoutMs, token: w.token, signal: this.#stopping.signal });
      if (r.httpStatus >= 500) error = `GET /health answered HTTP ${r.httpStatus}`;
      else if (r.body?.status === 'unhealthy') error = 'GET /health reports status "unhealthy"';
      else if (r.httpStatus < 300) body = r.body;
    } catch (err) {
      error = `GET /health: ${messageOf(err)}`;
    }
    if (this.#stopping.signal.aborted) return;
    const cur = registry.worker(name);
    if (!cur || targetOf(cur) !== targetOf(w)) return; // Deleted or re-pointed meanwhile: the answer is about something else.
    const at = clock.now();
    const r = this.#record(cur, at);
    r.lastCheckedAt = at;
    r.probeOk = error === null;
    if (error === null) {
      r.consecutiveFailures = 0;
      this.#apply(name, r, { type: 'success', kind: 'probe' }, 'health probe answered', at);
      if (body) await this.#recheckProtocol(cur, r, body);
    } else {
      r.consecutiveFailures++;
      r.lastError = error;
      r.lastErrorAt = at;
      this.#apply(name, r, { type: 'failure', kind: 'probe' }, error, at);
    }
  }

  /** What the worker's /health now claims, against the transport it was given or detected with. */
  async #recheckProtocol(w: WorkerDef, r: HealthRecord, body: HealthBody): Promise<void> {
    const claimed = transportFromHealth(body);
    r.detected = claimed;
    if (w.transportDetected) {
      r.warning = null;
      if (claimed === w.transport || this.#stopping.signal.aborted) return;
      try {
        await this.#d.registry.putWorker({ ...w, transport: claimed }, 'health-probe');
        this.#d.events.emit('worker:transport', w.name, w.transport, claimed);
      } catch (err) {
        r.warning = `GET /health claims transport "${claimed}", but switching from "${w.transport}" failed: ${messageOf(err)}`;
      }
    } else if (w.transport === 'v2') {
      r.warning = claimsV2Handshake(body) ? null : 'GET /health no longer claims the v2 handshake (capabilities.protocol_version 2.x with supports_handshake: true); the transport stays "v2" as registered';
    }
  }

  // ---- dispatch outcomes ----------------------------------------------------------

  readonly #onError = (worker: string, e: RequestError): void => {
    if (NEUTRAL_CODES.has(e.code)) return;
    const w = this.#d.registry.worker(worker);
    if (!w) return;
    const now = this.#d.clock.now();
    const r = this.#record(w, now);
    if (!FAILURE_CODES.has(e.code)) {
      this.#dispatchOk(w.name, r, now);
      return;
    }
    r.dispatchFailures++;
    r.lastError = `${e.code}: ${e.message}`;
    r.lastErrorAt = now;
    this.#apply(w.name, r, { type: 'failure', kind: 'dispatch' }, `dispatch failed with ${e.code}`, now);
  };

  readonly #onCompleted = (req: WorkRequest): void => {
    if (req.optimization?.cache?.hit) return; // Answered from the cache: no worker was involved.
    if (req.policy.stages) return; // Each stage's worker was credited as it answered ('worker:answered').
    this.#onAnswered(req.policy.worker);
  };

  readonly #onAnswered = (worker: string): void => {
    const w = this.#d.registry.worker(worker);
    if (!w) return;
    const now = this.#d.clock.now();
    this.#dispatchOk(w.name, this.#record(w, now), now);
  };

  #dispatchOk(name: string, r: HealthRecord, now: number): void {
    r.dispatchFailures = 0;
    this.#apply(name, r, { type: 'success', kind: 'dispatch' }, 'a dispatch succeeded', now);
  }

  // ---- records and breaker transitions ----------------------------------------------

  /** The worker's record with its breaker settled to `now` (cool-down over → half_open, announced). */
  #record(w: WorkerDef, now: number): HealthRecord {
    let r = this.#records.get(w.name);
    if (!r || r.target !== targetOf(w)) {
      const wasOut = r !== undefined && r.breaker.state !== 'closed' && !this.#held.has(w.name);
      r = {
        target: targetOf(w), breaker: this.#held.has(w.name) ? { state: 'open', streaks: {}, openedAt: now, trialAt: null } : closedBreaker, probeOk: null, lastCheckedAt: null, lastError: null, lastErrorAt: null,
        consecutiveFailures: 0, dispatchFailures: 0, detected: null, warning: null,
      };
      this.#records.set(w.name, r);
      clearTimeout(this.#trialTimers.get(w.name));
      this.#trialTimers.delete(w.name);
      if (wasOut) this.#d.events.emit('worker:breaker', w.name, 'closed', 'pointed at a new url or command');
    }
    if (this.#held.has(w.name)) return r; // No cool-down ends an operator's hold.
    const before = r.breaker.state;
    r.breaker = settle(r.breaker, this.#o, now);
    if (r.breaker.state !== before) this.#d.events.emit('worker:breaker', w.name, r.breaker.state, 'cool-down over: one trial allowed');
    return r;
  }

  #apply(name: string, r: HealthRecord, e: BreakerEvent, reason: string, now: number): void {
    if (this.#held.has(name)) return;
    const before = r.breaker.state;
    r.breaker = step(r.breaker, e, this.#o, now);
    if (r.breaker.state === before) return;
    this.#d.events.emit('worker:breaker', name, r.breaker.state, reason);
    if (r.breaker.state === 'open') this.#armTrial(name);
  }

  /**
   * When the cool-down ends: probe (the trial), or announce the half-open
   * state so the scheduler tries a dispatch. Timers run on the monotonic clock
   * and the breaker on the injected one: a timer that fires a little before
   * the breaker's cool-down is over is armed again for the rest, or the
   * worker would wait out of rotation until the next interval probe.
   */
  #armTrial(name: string, delayMs: number = this.#o.cooldownMs): void {
    clearTimeout(this.#trialTimers.get(name));
    if (this.#stopped) return;
    const t = setTimeout(() => {
      this.#trialTimers.delete(name);
      const w = this.#d.registry.worker(name);
      if (!w) return;
      const now = this.#d.clock.now();
      const r = this.#record(w, now);
      const at = reopensAt(r.breaker, this.#o, now);
      if (at !== null) return this.#armTrial(name, Math.max(1, at - now));
      if (probed(w)) void this.#probeOnce(name, false);
    }, delayMs);
    t.unref();
    this.#trialTimers.set(name, t);
  }

  #forget(name: string): void {
    this.#records.delete(name);
    this.#held.delete(name);
    this.#ordered.delete(name);
    clearTimeout(this.#trialTimers.get(name));
    this.#trialTimers.delete(name);
  }
}

/**
 * Admission (SPEC section 4, steps 1-4): estimate, budget check and hold,
 * priority, enqueue. The budget check and hold, the idempotency lookup and
 * the insert are one store transaction; the request is handed to the
 * scheduler only after it is durable.
 */
import type { Clock } from '../core/clock.ts';
import { AllotError } from '../core/errors.ts';
import { periodOf } from '../core/budget.ts';
import { usdToNano } from '../core/money.ts';
import { score, URGENCY_POINTS, type Urgency } from '../core/priority.ts';
import type { Events } from '../events.ts';
import type { Client, Estimate, ExecutingSystem, TemplateDef, WorkRequest } from '../model.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { Store } from '../store/store.ts';
import { estimateRequest } from './estimate.ts';
import { bodyHash, cacheKey, uuidv7 } from './ids.ts';
import type { Registry } from './registry.ts';
import type { TokenCounter } from './tokenizer.ts';

export interface SubmitBody {
  readonly template: string;
  readonly input: Record<string, unknown>;
  readonly urgency?: Urgency | undefined;
  readonly max_tokens?: number | undefined;
  readonly parameters?: Record<string, unknown> | undefined;
  readonly queue?: 'batch' | 'deferred' | undefined;
  /** false: no optimization for this request (no cache). */
  readonly optimize?: boolean | undefined;
}

export interface AdmissionDeps {
  readonly store: Store;
  readonly registry: Registry;
  readonly scheduler: Scheduler;
  readonly events: Events;
  readonly clock: Clock;
  readonly countTokens: TokenCounter;
  readonly budgetTimeZone: string;
  readonly starvationMs: number;
  readonly maxQueueDepth: number;
  /** Which system runs a new request, by its id (src/migrate/routing.ts); absent: always Allot. */
  readonly route?: ((requestId: string) => ExecutingSystem) | undefined;
}

export class Admission {
  readonly #d: AdmissionDeps;

  constructor(deps: AdmissionDeps) {
    this.#d = deps;
  }

  template(name: string): TemplateDef {
    const t = this.#d.registry.template(name);
    if (!t) {
      const known = this.#d.registry.templates().map((x) => x.name);
      throw new AllotError('VALIDATION_ERROR', `template: no template named "${name}"${known.length ? ` (known: ${known.join(', ')})` : ''}`, { details: { field: 'template' } });
    }
    return t;
  }

  /** Estimate without admitting (used by the estimate endpoints too). */
  estimate(body: Pick<SubmitBody, 'template' | 'input' | 'max_tokens'>): { template: TemplateDef; maxTokens: number; estimate: Estimate } {
    const t = this.template(body.template);
    if (body.max_tokens !== undefined && !t.model) {
      throw new AllotError('VALIDATION_ERROR', `max_tokens: template "${t.name}" does not use a model`, { details: { field: 'max_tokens' } });
    }
    if (body.max_tokens !== undefined && body.max_tokens > t.maxTokens) {
      throw new AllotError('VALIDATION_ERROR', `max_tokens: ${body.max_tokens} is above the template's cap of ${t.maxTokens}`, { details: { field: 'max_tokens', cap: t.maxTokens } });
    }
    const maxTokens = body.max_tokens ?? t.maxTokens;
    return { template: t, maxTokens, estimate: estimateRequest(t, body.input, maxTokens, this.#d.registry, this.#d.countTokens) };
  }

  /** The client's budget limit in nano-USD, or null for none. */
  budgetLimitNano(c: Client): number | null {
    const usd = this.#d.registry.budgetUsd(c);
    return usd === null ? null : usdToNano(usd);
  }

  currentPeriod(): string {
    return periodOf(this.#d.clock.now(), this.#d.budgetTimeZone);
  }

  /**
   * Admit a request. One routed to Orchestrator v2 is held and stored like
   * any other but skips Allot's optimizations and queue: the migration
   * forwarder takes it on 'request:accepted'. `shadowOf`: an Allot copy of
   * that request, run by shadow mode only to compare (never routed).
   */
  async submit(client: Client, body: SubmitBody, idempotencyKey: string | undefined, opts: { readonly shadowOf?: string } = {}): Promise<{ request: WorkRequest; created: boolean }> {
    const { store, registry, scheduler, events, clock } = this.#d;
    const hash = idempotencyKey === undefined ? null : bodyHash(body);
    if (idempotencyKey !== undefined) {
      const prior = await store.findByIdempotencyKey(client.id, idempotencyKey);
      if (prior) return { request: this.#sameBody(prior, hash), created: false };
    }
    const asked = this.estimate(body);
    const now = clock.now();
    const id = uuidv7(now);
    const toV2 = !opts.shadowOf && this.#d.route?.(id) === 'v2';
    const urgencyAsked = body.urgency ?? 'normal';
    const on = (s: 'cache' | 'downgrade' | 'batching' | 'offpeak'): boolean => !toV2 && body.optimize !== false && client.optimizations?.[s] !== false;
    const downgrade = !on('downgrade') || urgencyAsked === 'critical' ? null : await this.#downgrade(client, asked.template, asked.estimate, now);
    const { template, maxTokens, estimate } = downgrade ?? asked;
    const parameters = { ...template.parameters, ...body.parameters };
    // Result caching: an identical request (template, normalized input, parameters, model) answered within the TTL.
    const key = template.cacheTtlS > 0 && on('cache') ? cacheKey(template.name, body.input, parameters, template.model, maxTokens) : null;
    const hit = key === null ? null : await store.lookupCache(key, now);
    if (!hit && !toV2 && scheduler.queueDepth >= this.#d.maxQueueDepth) {
      throw new AllotError('QUEUE_BACKUP', `The queue holds ${scheduler.queueDepth} requests, its limit; retry later`, { retryAfterS: 5 });
    }
    const tier = registry.tier(client.tier);
    const urgency = body.urgency ?? 'normal';
    // Off-peak scheduling: low-urgency work of a template that allows it waits for off-peak, up to its deadline.
    const offpeak = !hit && template.offpeak.allowed && urgency === 'low' && on('offpeak') && body.queue === undefined
      ? { deadlineAt: now + template.offpeak.deadlineMs }
      : null;
    const s = score(tier.priorityPoints, urgency, 0, this.#d.starvationMs, 10);
    const request: WorkRequest = {
      id, clientId: client.id, template: template.name, state: hit ? 'COMPLETED' : 'PENDING', urgency,
      klass: body.queue === 'deferred' || offpeak ? 2 : body.queue === 'batch' ? 1 : 0,
      basePoints: tier.priorityPoints + URGENCY_POINTS[urgency], priority: s, model: template.model, maxTokens,
      input: body.input, parameters,
      policy: {
        worker: template.worker, ...(template.stages ? { stages: template.stages } : {}), timeoutMs: template.timeoutMs, cacheTtlS: key === null ? 0 : template.cacheTtlS,
        batch: on('batching') && !template.stages ? template.batch : undefined,
        retry: { baseDelayMs: template.retry.baseDelayMs, maxDelayMs: template.retry.maxDelayMs, factor: template.retry.factor },
      },
      estimate, holdNano: hit ? 0 : estimate.maxCostNano, period: periodOf(now, this.#d.budgetTimeZone),
      reserved: null, attempts: 0, maxAttempts: template.retry.maxAttempts, leaseToken: 0, leaseOwner: null, leaseExpiresAt: null,
      deadlineAt: null, runAt: null, progress: hit ? { percent: 100, message: 'answered from cache', at: now } : null,
      output: hit ? hit.output : null, error: null, usage: hit ? { tokens: { input: 0, output: 0 }, resources: {} } : null, costNano: 0,
      idempotencyKey: idempotencyKey ?? null, bodyHash: hash, createdAt: now, updatedAt: now, startedAt: null, completedAt: hit ? now : null,
      optimization: key === null && !downgrade && !offpeak ? null : {
        ...(offpeak ? { offpeak } : {}),
        ...(downgrade ? { downgrade: { requested: asked.template.model as string, used: template.model as string, reason: downgrade.reason } } : {}),
        ...(key === null ? {} : { cache: { key, hit: Boolean(hit), sourceRequestId: hit?.sourceRequestId } }),
      },
      ...(toV2 ? { system: 'v2' as const } : {}),
      ...(opts.shadowOf ? { shadowOf: opts.shadowOf } : {}),
    };
    const res = await store.enqueue({ request, budgetLimitNano: this.budgetLimitNano(client) });
    if (res.kind === 'existing') return { request: this.#sameBody(res.request, hash), created: false };
    events.emit('request:accepted', res.request);
    if (hit) {
      events.emit('request:completed', res.request, 0);
      const source = await store.getRequest(hit.sourceRequestId);
      await store.recordSaving({
        at: now, requestId: res.request.id, clientId: client.id, template: template.name, strategy: 'cache', usdNano: source?.costNano ?? 0, calls: 1, bytes: 0,
        method: 'the cost of the request whose result was reused',
      });
    }
    else if (!toV2) scheduler.enqueued(res.request);
    return { request: res.request, created: true };
  }

  /**
   * Model downgrade (SPEC section 5): a non-critical request of a template
   * with fallback models moves to the first cheaper one when its client has
   * used `downgradeBudgetThreshold` of its budget, or when the model's bucket
   * is expected to take longer than `downgradeMaxWaitMs`.
   */
  async #downgrade(client: Client, t: TemplateDef, estimate: Estimate, now: number): Promise<(ReturnType<Admission['estimate']> & { reason: 'budget' | 'congestion' }) | null> {
    if (t.critical || t.fallbackModels.length === 0 || !t.model) return null;
    let reason: 'budget' | 'congestion' | null = null;
    const limit = this.budgetLimitNano(client);
    if (limit !== null && limit > 0) {
      const b = await this.#d.store.getBudget(client.id, periodOf(now, this.#d.budgetTimeZone));
      if ((b.spentNano + b.heldNano) / limit >= t.downgradeBudgetThreshold) reason = 'budget';
    }
    const primary = this.#d.registry.modelResource(t.model);
    if (!reason && primary && this.#d.scheduler.expectedWaitMs(primary.name, estimate.resources[primary.name] ?? 0) > t.downgradeMaxWaitMs) reason = 'congestion';
    if (!reason) return null;
    const cheaper: TemplateDef = { ...t, model: t.fallbackModels[0] };
    const maxTokens = estimate.maxOutputTokens || t.maxTokens;
    return { template: cheaper, maxTokens, estimate: estimateRequest(cheaper, undefined, maxTokens, this.#d.registry, () => estimate.inputTokens), reason };
  }

  #sameBody(prior: WorkRequest, hash: string | null): WorkRequest {
    if (prior.bodyHash !== hash) {
      throw new AllotError('IDEMPOTENCY_MISMATCH', 'Idempotency-Key was already used with a different request body', { details: { request_id: prior.id } });
    }
    return prior;
  }
}

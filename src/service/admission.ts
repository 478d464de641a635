/**
 * Admission (SPEC section 4, steps 1-4): estimate, budget check and hold,
 * priority, enqueue. The budget check and hold, the idempotency lookup and
 * the insert are one store transaction; the request is handed to the
 * scheduler only after it is durable.
 */
import type { Clock } from '../core/clock.ts';
import { Coalescer } from '../core/coalesce.ts';
import { AllotError } from '../core/errors.ts';
import { periodOf } from '../core/budget.ts';
import { usdToNano } from '../core/money.ts';
import { score, URGENCY_POINTS, type Urgency } from '../core/priority.ts';
import type { Events } from '../events.ts';
import type { Client, Estimate, ExecutingSystem, TemplateDef, WorkRequest } from '../model.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { EnqueueInput, EnqueueResult, Store } from '../store/store.ts';
import { estimateRequest, modelOf } from './estimate.ts';
import { bodyHash, cacheKey, uuidv7 } from './ids.ts';
import type { Registry } from './registry.ts';
import { inputText, type Encoding } from './tokenizer.ts';
import type { Measured } from './token-counter.ts';
import { LARGE_PAYLOAD_BYTES, largeWork } from './turns.ts';
import { DEFAULT_MAX_JSON_DEPTH, jsonSize } from '../config/bounds.ts';

/**
 * Counts input tokens, and serializes large inputs, off the event loop
 * (token-counter.ts); `owner` (a client id) is whose turn it is when that waits.
 */
export interface InputCounter {
  count(owner: string, text: string, encoding: Encoding): number | Promise<number>;
  /** Whether measuring an input of about `chars` characters of JSON goes to a thread (and may wait its turn). */
  large(chars: number): boolean;
  measure(owner: string, input: unknown, encoding: Encoding | null, serialize?: boolean, size?: number): Measured | Promise<Measured>;
}

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
  readonly tokens: InputCounter;
  readonly budgetTimeZone: string;
  readonly starvationMs: number;
  readonly maxQueueDepth: number;
  /** Inputs and parameters may nest objects and arrays at most this deep (limits.max_json_depth). @default 64 */
  readonly maxJsonDepth?: number | undefined;
  /** Which system runs a new request, by its id (src/migrate/routing.ts); absent: always Allot. */
  readonly route?: ((requestId: string) => ExecutingSystem) | undefined;
}

export class Admission {
  readonly #d: AdmissionDeps;

  /**
   * Submissions that reach the store in the same turn (a bulk submit's
   * items, or single ones arriving together) are stored as one operation
   * (Store.enqueueMany); each still gets its own answer.
   */
  readonly #enqueues = new Coalescer<EnqueueInput, EnqueueResult | AllotError>((inputs) => {
    const one = inputs[0];
    if (inputs.length === 1 && one) return this.#d.store.enqueue(one).then((r) => [r], (err: unknown) => (err instanceof AllotError ? [err] : Promise.reject(err)));
    return this.#d.store.enqueueMany(inputs);
  });

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

  /**
   * Estimate without admitting (used by the estimate endpoints too). The
   * cheap checks come first: the template, `max_tokens`, whether the request
   * could fit its buckets even with an empty input, and (with `client`)
   * whether the budget could cover even that; only then is the input counted,
   * which for a large input takes a while (off the event loop).
   */
  async estimate(
    body: Pick<SubmitBody, 'template' | 'input' | 'max_tokens'>, owner: string, client?: Client, size: number = this.#inputSize(body),
  ): Promise<{ template: TemplateDef; maxTokens: number; estimate: Estimate; inputJson?: Uint8Array | undefined; inputZstd?: Uint8Array | undefined }> {
    const t = this.template(body.template);
    if (body.max_tokens !== undefined && !t.model) {
      throw new AllotError('VALIDATION_ERROR', `max_tokens: template "${t.name}" does not use a model`, { details: { field: 'max_tokens' } });
    }
    if (body.max_tokens !== undefined && body.max_tokens > t.maxTokens) {
      throw new AllotError('VALIDATION_ERROR', `max_tokens: ${body.max_tokens} is above the template's cap of ${t.maxTokens}`, { details: { field: 'max_tokens', cap: t.maxTokens } });
    }
    const maxTokens = body.max_tokens ?? t.maxTokens;
    const reg = this.#d.registry;
    // Counting a large input takes a while: first make sure it could be admitted at all (its bucket, its
    // client's budget), with an empty input as a lower bound. A small one is counted at once.
    const floor = this.#d.tokens.large(size) ? estimateRequest(t, 0, maxTokens, reg) : null;
    if (floor && client) {
      // A lower bound: an empty input, on the cheapest model a downgrade could move it to.
      let floorNano = floor.maxCostNano;
      for (const m of t.fallbackModels) {
        if (reg.modelResource(m)) floorNano = Math.min(floorNano, estimateRequest({ ...t, model: m }, 0, maxTokens, reg).maxCostNano);
      }
      await this.#budgetCovers(client, floorNano);
    }
    const model = modelOf(t, reg);
    const m = await this.#d.tokens.measure(owner, body.input, model ? (model.tokenizer ?? 'cl100k_base') : null, true, size);
    // Threads answer several at once: storing each large input (compressed, written) takes a turn of its own.
    if (m.json && m.json.length >= LARGE_PAYLOAD_BYTES) await largeWork.next();
    return { template: t, maxTokens, estimate: estimateRequest(t, m.tokens, maxTokens, reg), inputJson: m.json, inputZstd: m.zstd };
  }

  /**
   * About how many characters of JSON the input has; 400 naming the field
   * when the input or parameters nest deeper than limits.max_json_depth.
   */
  #inputSize(body: Pick<SubmitBody, 'input' | 'parameters'>): number {
    const max = this.#d.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH;
    const tooDeep = (field: 'input' | 'parameters'): AllotError =>
      new AllotError('VALIDATION_ERROR', `${field}: nests objects and arrays more than ${max} deep (limits.max_json_depth)`, { details: { field, max_depth: max } });
    const size = jsonSize(body.input, max);
    if (size < 0) throw tooDeep('input');
    if (body.parameters !== undefined && jsonSize(body.parameters, max) < 0) throw tooDeep('parameters');
    return size;
  }

  /** Refuse at once (402) what the remaining budget cannot cover even at `floorNano`; the real check is the atomic hold. */
  async #budgetCovers(client: Client, floorNano: number): Promise<void> {
    const limit = this.budgetLimitNano(client);
    if (limit === null || floorNano <= 0) return;
    const period = this.currentPeriod();
    const b = await this.#d.store.getBudget(client.id, period);
    if (b.spentNano + b.heldNano + floorNano <= limit) return;
    throw new AllotError('BUDGET_EXCEEDED', `Estimated worst-case cost does not fit the remaining budget of client ${client.id}`, {
      details: { required_nano: floorNano, required_is_lower_bound: true, remaining_nano: Math.max(0, limit - b.spentNano - b.heldNano), spent_nano: b.spentNano, held_nano: b.heldNano, limit_nano: limit, period },
    });
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
    // Before anything walks or serializes them: a value nested thousands deep overflows the stack of JSON.stringify.
    const size = this.#inputSize(body);
    const hash = idempotencyKey === undefined ? null : bodyHash(body);
    if (idempotencyKey !== undefined) {
      const prior = await store.findByIdempotencyKey(client.id, idempotencyKey);
      if (prior) return { request: this.#sameBody(prior, hash), created: false };
    }
    const asked = await this.estimate(body, client.id, client, size);
    const now = clock.now();
    const id = uuidv7(now);
    const toV2 = !opts.shadowOf && this.#d.route?.(id) === 'v2';
    const urgencyAsked = body.urgency ?? 'normal';
    const on = (s: 'cache' | 'downgrade' | 'batching' | 'offpeak'): boolean => !toV2 && body.optimize !== false && client.optimizations?.[s] !== false;
    const downgrade = !on('downgrade') || urgencyAsked === 'critical' ? null : await this.#downgrade(client, body, asked, now);
    const { template, maxTokens, estimate } = downgrade ?? asked;
    const parameters = { ...template.parameters, ...body.parameters };
    // Result caching: an identical request (template, normalized input, parameters, model) answered within the TTL.
    const key = template.cacheTtlS > 0 && on('cache') ? cacheKey(template.name, body.input, parameters, template.model, maxTokens) : null;
    const hit = key === null ? null : await store.lookupCache(key, now);
    const source = hit ? await store.getRequest(hit.sourceRequestId) : null;
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
        // The request whose result is reused is named only to its own client: ids are never shown across clients.
        ...(key === null ? {} : { cache: { key, hit: Boolean(hit), sourceRequestId: source?.clientId === client.id ? hit?.sourceRequestId : undefined } }),
      },
      ...(toV2 ? { system: 'v2' as const } : {}),
      ...(opts.shadowOf ? { shadowOf: opts.shadowOf } : {}),
    };
    const res = await this.#enqueues.add({ request, budgetLimitNano: this.budgetLimitNano(client), inputJson: asked.inputJson, inputZstd: asked.inputZstd });
    if (res instanceof AllotError) throw res;
    if (res.kind === 'existing') return { request: this.#sameBody(res.request, hash), created: false };
    events.emit('request:accepted', res.request);
    if (hit) {
      events.emit('request:completed', res.request, 0);
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
  async #downgrade(
    client: Client, body: SubmitBody, asked: { template: TemplateDef; maxTokens: number; estimate: Estimate }, now: number,
  ): Promise<({ template: TemplateDef; maxTokens: number; estimate: Estimate } & { reason: 'budget' | 'congestion' }) | null> {
    const { template: t, maxTokens, estimate } = asked;
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
    // The cheaper model may read text in another encoding: count again in its own when it does.
    const reg = this.#d.registry;
    const enc = (r: ReturnType<typeof modelOf>): Encoding => r?.tokenizer ?? 'cl100k_base';
    const to = modelOf(cheaper, reg);
    const counted = to && enc(to) !== enc(primary) ? await this.#d.tokens.count(client.id, inputText(body.input), enc(to)) : estimate.inputTokens;
    return { template: cheaper, maxTokens, estimate: estimateRequest(cheaper, counted, maxTokens, reg), reason };
  }

  #sameBody(prior: WorkRequest, hash: string | null): WorkRequest {
    if (prior.bodyHash !== hash) {
      throw new AllotError('IDEMPOTENCY_MISMATCH', 'Idempotency-Key was already used with a different request body', { details: { request_id: prior.id } });
    }
    return prior;
  }
}

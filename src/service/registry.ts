/**
 * In-memory view of the slowly changing entities (tiers, resources, workers,
 * templates, clients) so that the hot path never reads them from storage.
 * Every admin change goes through here: it writes the store first, then
 * updates the cache, so the cache never shows what is not durable.
 */
import { AllotError } from '../core/errors.ts';
import type { Price } from '../core/cost.ts';
import type { Client, Resource, TemplateDef, Tier, WorkerDef } from '../model.ts';
import type { Store } from '../store/store.ts';
import { hashSecret } from './ids.ts';
import { Secrets } from './secrets.ts';

export class Registry {
  readonly #tiers: Map<string, Tier>;
  readonly #resources: Map<string, Resource>;
  readonly #byModel = new Map<string, Resource>();
  readonly #workers = new Map<string, WorkerDef>();
  /** sha256(worker token) → worker name, for authenticating workers' calls to /internal. */
  readonly #workerByTokenHash = new Map<string, string>();
  readonly #templates = new Map<string, TemplateDef>();
  readonly #clients = new Map<string, Client>();
  readonly #store: Store;
  readonly #secrets: Secrets | undefined;

  /** @param secrets seals worker tokens at rest; without it (tests of other things) they are stored as given */
  constructor(store: Store, tiers: ReadonlyMap<string, Tier>, resources: ReadonlyMap<string, Resource>, secrets?: Secrets) {
    this.#store = store;
    this.#secrets = secrets;
    this.#tiers = new Map(tiers);
    this.#resources = new Map(resources);
    for (const r of resources.values()) if (r.model) this.#byModel.set(r.model, r);
  }

  /** Tiers, as last changed by an operator (else as configured). */
  get tiers(): ReadonlyMap<string, Tier> {
    return this.#tiers;
  }

  /** Change a tier and keep the change (settings key `tier:<name>`). */
  async setTier(t: Tier, actor: string): Promise<Tier> {
    if (!this.#tiers.has(t.name)) throw new AllotError('NOT_FOUND', `No tier "${t.name}"`);
    await this.#store.putSetting(`tier:${t.name}`, JSON.stringify({ priority_points: t.priorityPoints, max_concurrent: t.maxConcurrent, monthly_budget_usd: t.monthlyBudgetUsd }), actor);
    this.#tiers.set(t.name, t);
    return t;
  }

  /**
   * Change a resource's capacity, refill rate or prices (a provider raised a
   * limit, or changed its prices) and keep the change (settings key
   * `resource:<name>`). Its pools keep their shares of the new capacity.
   */
  async setLimits(
    name: string, l: { capacity: number; refillPerS: number; price: Resource['price']; tokenizer?: Resource['tokenizer']; inputOverheadTokens?: number | undefined }, actor: string,
  ): Promise<Resource> {
    const r = this.#resources.get(name);
    if (!r) throw new AllotError('NOT_FOUND', `No resource "${name}"`);
    const tokenizer = l.tokenizer ?? r.tokenizer;
    const inputOverheadTokens = l.inputOverheadTokens ?? r.inputOverheadTokens;
    const stored = {
      capacity: l.capacity, refill_per_s: l.refillPerS, cost_per_unit_usd: l.price.costPerUnitUsd,
      input_cost_per_unit_usd: l.price.inputCostPerUnitUsd ?? null, output_cost_per_unit_usd: l.price.outputCostPerUnitUsd ?? null,
      tokenizer: tokenizer ?? null, input_overhead_tokens: inputOverheadTokens ?? null,
    };
    await this.#store.putSetting(`resource:${name}`, JSON.stringify(stored), actor);
    const next = { ...r, capacity: l.capacity, refillPerS: l.refillPerS, price: l.price, tokenizer, inputOverheadTokens };
    this.#setResource(next);
    return next;
  }

  /** Resources, with pools as last set by an operator (else as configured). */
  get resources(): ReadonlyMap<string, Resource> {
    return this.#resources;
  }

  /** Replace a resource's pools and keep the change (settings key `pools:<resource>`). */
  async setPools(name: string, pools: Resource['pools'], actor: string): Promise<Resource> {
    const r = this.#resources.get(name);
    if (!r) throw new AllotError('NOT_FOUND', `No resource "${name}"`);
    await this.#store.putSetting(`pools:${name}`, JSON.stringify(pools ?? []), actor);
    const next = { ...r, pools: pools ?? [] };
    this.#setResource(next);
    return next;
  }

  #setResource(r: Resource): void {
    this.#resources.set(r.name, r);
    if (r.model) this.#byModel.set(r.model, r);
  }

  async load(): Promise<void> {
    for (const t of this.#tiers.values()) {
      const saved = await this.#store.getSetting(`tier:${t.name}`);
      if (saved === null) continue;
      const v = JSON.parse(saved) as { priority_points: number; max_concurrent: number; monthly_budget_usd: number | null };
      this.#tiers.set(t.name, { name: t.name, priorityPoints: v.priority_points, maxConcurrent: v.max_concurrent, monthlyBudgetUsd: v.monthly_budget_usd });
    }
    for (const r of this.#resources.values()) {
      const saved = await this.#store.getSetting(`resource:${r.name}`);
      if (saved === null) continue;
      const v = JSON.parse(saved) as {
        capacity: number; refill_per_s: number; cost_per_unit_usd: number; input_cost_per_unit_usd: number | null; output_cost_per_unit_usd: number | null;
        tokenizer?: Resource['tokenizer'] | null; input_overhead_tokens?: number | null;
      };
      this.#setResource({
        ...r, capacity: v.capacity, refillPerS: v.refill_per_s,
        price: { costPerUnitUsd: v.cost_per_unit_usd, inputCostPerUnitUsd: v.input_cost_per_unit_usd ?? undefined, outputCostPerUnitUsd: v.output_cost_per_unit_usd ?? undefined },
        // Saved before these could be changed at runtime: the configured ones stand.
        tokenizer: v.tokenizer ?? r.tokenizer, inputOverheadTokens: v.input_overhead_tokens ?? r.inputOverheadTokens,
      });
    }
    for (const r of this.#resources.values()) {
      const saved = await this.#store.getSetting(`pools:${r.name}`);
      if (saved !== null) this.#setResource({ ...r, pools: JSON.parse(saved) as Resource['pools'] });
    }
    for (const stored of await this.#store.listWorkers()) {
      let w = stored;
      if (w.token && this.#secrets) {
        if (Secrets.isSealed(w.token)) {
          const { plain, stale } = this.#secrets.openAny(w.token);
          w = { ...w, token: plain };
          // Sealed with the key file's key before ALLOT_SECRET_KEY was set: sealed again under it.
          if (stale) await this.#store.putWorker(this.#sealed(w), 'secrets-migration');
        }
        // Stored in plain text by an earlier version: sealed now, once.
        else await this.#store.putWorker(this.#sealed(w), 'secrets-migration');
      }
      this.#setWorker(w);
      const req = await this.#store.getSetting(`requirements:${w.name}`);
      if (req !== null) this.#requirements.set(w.name, JSON.parse(req) as Record<string, number>);
    }
    for (const t of await this.#store.listTemplates()) this.#templates.set(t.name, t);
    for (const c of await this.#store.listClients()) this.#clients.set(c.id, c);
  }

  // ---- what workers declare they use per job ---------------------------------
  readonly #requirements = new Map<string, Readonly<Record<string, number>>>();

  /**
   * Resources a worker declared it uses per job (a v2 worker's handshake
   * `resource_requirements.api_calls`), kept for the resources Allot
   * manages: later requests for the worker reserve them up front.
   * Persisted (and audited) only when they change.
   */
  async noteRequirements(worker: string, declared: Readonly<Record<string, number>>): Promise<void> {
    const known: Record<string, number> = {};
    for (const [name, amount] of Object.entries(declared)) if (this.#resources.has(name) && amount > 0) known[name] = amount;
    const prior = this.#requirements.get(worker) ?? {};
    if (JSON.stringify(Object.entries(prior).toSorted()) === JSON.stringify(Object.entries(known).toSorted())) return;
    this.#requirements.set(worker, known);
    await this.#store.putSetting(`requirements:${worker}`, JSON.stringify(known), 'handshake');
  }

  requirementsOf(worker: string): Readonly<Record<string, number>> {
    return this.#requirements.get(worker) ?? {};
  }

  /** A token resource by its model name or its own name. */
  modelResource(model: string): Resource | undefined {
    return this.#byModel.get(model) ?? (this.resources.get(model)?.kind === 'tokens' ? this.resources.get(model) : undefined);
  }

  priceOf = (resource: string): Price | undefined => this.resources.get(resource)?.price;

  tier(name: string): Tier {
    const t = this.tiers.get(name);
    if (!t) throw new AllotError('VALIDATION_ERROR', `Unknown tier "${name}"; known: ${[...this.tiers.keys()].join(', ')}`);
    return t;
  }

  // ---- workers ------------------------------------------------------------
  #available: (name: string) => boolean = () => true;

  /** Whether a worker may be sent work now: false while its circuit breaker is open. @default true */
  workerAvailable(name: string): boolean {
    return this.#available(name);
  }
  /** Install what answers `workerAvailable` (boot wires the worker health checks in here). */
  setAvailability(fn: (name: string) => boolean): void {
    this.#available = fn;
  }

  worker(name: string): WorkerDef | undefined {
    return this.#workers.get(name);
  }
  workers(): WorkerDef[] {
    return [...this.#workers.values()];
  }
  async putWorker(w: WorkerDef, actor: string): Promise<void> {
    await this.#store.putWorker(this.#sealed(w), actor);
    this.#setWorker(w);
  }

  /** The worker as stored: its token sealed (src/service/secrets.ts), when there is a key. */
  #sealed(w: WorkerDef): WorkerDef {
    return w.token && this.#secrets ? { ...w, token: this.#secrets.seal(w.token) } : w;
  }

  #setWorker(w: WorkerDef): void {
    const prior = this.#workers.get(w.name);
    if (prior?.token) this.#workerByTokenHash.delete(hashSecret(prior.token));
    this.#workers.set(w.name, w);
    if (w.token) this.#workerByTokenHash.set(hashSecret(w.token), w.name);
  }

  /** The worker whose token hashes to `hash`. */
  workerByTokenHash(hash: string): WorkerDef | undefined {
    const name = this.#workerByTokenHash.get(hash);
    return name === undefined ? undefined : this.#workers.get(name);
  }
  async deleteWorker(name: string, actor: string): Promise<boolean> {
    const users = [...this.#templates.values()].filter((t) => t.worker === name || t.stages?.some((st) => st.worker === name)).map((t) => t.name);
    if (users.length) throw new AllotError('CONFLICT', `Worker "${name}" is used by templates: ${users.join(', ')}`);
    const ok = await this.#store.deleteWorker(name, actor);
    const prior = this.#workers.get(name);
    if (prior?.token) this.#workerByTokenHash.delete(hashSecret(prior.token));
    this.#workers.delete(name);
    return ok;
  }

  // ---- templates ----------------------------------------------------------
  template(name: string): TemplateDef | undefined {
    return this.#templates.get(name);
  }
  templates(): TemplateDef[] {
    return [...this.#templates.values()];
  }
  async putTemplate(t: TemplateDef, actor: string): Promise<void> {
    await this.#store.putTemplate(t, actor);
    this.#templates.set(t.name, t);
  }
  async deleteTemplate(name: string, actor: string, inFlight: number): Promise<boolean> {
    if (inFlight > 0) throw new AllotError('CONFLICT', `Template "${name}" has ${inFlight} requests in flight; cancel them or let them finish first`);
    const ok = await this.#store.deleteTemplate(name, actor);
    this.#templates.delete(name);
    return ok;
  }

  // ---- clients --------------------------------------------------------------
  client(id: string): Client | undefined {
    return this.#clients.get(id);
  }
  clients(): Client[] {
    return [...this.#clients.values()];
  }
  cacheClient(c: Client): void {
    this.#clients.set(c.id, c);
  }
  forgetClient(id: string): void {
    this.#clients.delete(id);
  }

  /** The client's effective monthly budget in USD (null = unlimited). */
  budgetUsd(c: Client): number | null {
    return c.monthlyBudgetUsd ?? this.tier(c.tier).monthlyBudgetUsd;
  }

  maxConcurrent(c: Client): number {
    return c.maxConcurrent ?? this.tier(c.tier).maxConcurrent;
  }
}

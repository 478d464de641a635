/** Operator endpoints: clients and keys, workers, templates, tiers, resources, scheduler, audit, dead letters, alerts. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { toTemplateDef, toWorkerDef, templateView, workerView } from '../../config/entities.ts';
import { poolInput, templateInput, tierInput, workerInput } from '../../config/schema.ts';
import { PAUSED_SETTING } from '../../scheduler/scheduler.ts';
import { MAX_UNIT_PRICE_USD, units, usd } from '../../config/bounds.ts';
import { validatePools } from '../../core/pools.ts';
import { detectTransport } from '../../workers/detect.ts';
import { dropBreakerOrder, saveBreakerOrder } from '../../workers/breaker-orders.ts';
import { AllotError } from '../../core/errors.ts';
import { ENCODINGS, type Client, type WorkerDef } from '../../model.ts';
import { clientId as newClientId, newSecret } from '../../service/ids.ts';
import { actorOf } from '../../service/auth.ts';
import { alertView } from '../../service/alert-monitor.ts';
import type { AppDeps, Env } from '../deps.ts';
import { body, ClientCreate, ClientUpdate, errors, IdParam, json, Loose, NameParam } from '../schemas.ts';
import { clientView, executionView, poolView, workerHealthView } from '../views.ts';

const WorkerBody = workerInput
  .extend({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
    transport: z.enum(['http', 'subprocess', 'v2', 'pull']).optional().openapi({ description: 'Omitted: detected from the worker\'s GET /health (v2 handshake or direct HTTP); pull: the worker asks for work at /internal/jobs/poll' }),
  })
  .openapi('Worker');
const WorkerPatch = workerInput.partial().openapi('WorkerUpdate');
const WorkerHealthOut = z
  .object({
    status: z.enum(['healthy', 'unhealthy', 'unknown']),
    available: z.boolean().openapi({ description: 'Whether the scheduler sends it work now (false while its circuit breaker is open)' }),
    breaker: z.enum(['closed', 'open', 'half_open']),
    reopens_at: z.string().nullable().openapi({ description: 'Open breaker: when one trial is allowed' }),
    last_checked_at: z.string().nullable(),
    last_error: z.string().nullable(),
    last_error_at: z.string().nullable(),
    consecutive_failures: z.number().int().openapi({ description: 'Consecutive failed GET /health probes' }),
    dispatch_failures: z.number().int().openapi({ description: 'Consecutive dispatches that ended WORKER_UNAVAILABLE or REQUEST_TIMEOUT' }),
    detected_transport: z.enum(['http', 'v2']).nullable().openapi({ description: 'The protocol its last GET /health claimed' }),
    warning: z.string().nullable(),
    held: z.boolean().openapi({ description: 'Opened by an operator (POST /admin/workers/{name}/breaker): stays open, with no trials, until an operator closes it' }),
  })
  .openapi('WorkerHealth');
const BreakerOrderBody = z
  .strictObject({
    state: z.enum(['open', 'closed']).openapi({ description: 'open: take the worker out of rotation until an operator closes it; closed: put it back now and clear its failure streaks' }),
    reason: z.string().max(500).optional().openapi({ description: 'Why, for the audit log and the logs' }),
  })
  .openapi('BreakerOrder');
const WorkerProbe = z
  .object({ worker: z.string(), transport: z.enum(['http', 'subprocess', 'v2', 'pull']), transport_detected: z.boolean(), health: WorkerHealthOut })
  .openapi('WorkerProbe');
const TemplateBody = templateInput.extend({ name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/) }).openapi('Template');
const TemplatePatch = templateInput.partial().openapi('TemplateUpdate');

export function registerAdminRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  const view = (c: Client) => clientView(c, d.registry.budgetUsd(c), d.registry.maxConcurrent(c));
  const getClient = (id: string) => {
    const c = d.registry.client(id);
    if (!c) throw new AllotError('NOT_FOUND', `No client ${id}`);
    return c;
  };

  // ---- clients -----------------------------------------------------------------
  app.openapi(
    createRoute({ method: 'post', path: '/admin/clients', operationId: 'createClient', tags: ['admin'], summary: 'Create a client; its API key is shown once', request: body(ClientCreate), responses: { 201: json(Loose, 'Created, with api_key'), ...errors } }),
    async (c) => {
      const b = c.req.valid('json');
      d.registry.tier(b.tier);
      const now = d.clock.now();
      const client: Client = { id: newClientId(), name: b.name, tier: b.tier, monthlyBudgetUsd: b.monthly_budget_usd ?? null, maxConcurrent: b.max_concurrent ?? null, optimizations: b.optimizations, createdAt: now, updatedAt: now };
      const key = newSecret('ak');
      await d.store.createClient(client, key.hash, key.prefix, actorOf(c.get('principal')));
      d.registry.cacheClient(client);
      return c.json({ client: view(client), api_key: key.key, note: 'Store this key now: it is not shown again.' }, 201);
    },
  );
  app.openapi(
    createRoute({ method: 'get', path: '/admin/clients', operationId: 'listClients', tags: ['admin'], summary: 'List clients', responses: { 200: json(Loose, 'Clients'), ...errors } }),
    (c) => c.json({ clients: d.registry.clients().map(view) }, 200),
  );
  app.openapi(
    createRoute({ method: 'get', path: '/admin/clients/{id}', operationId: 'getClient', tags: ['admin'], summary: 'Read a client', request: { params: IdParam }, responses: { 200: json(Loose, 'Client'), ...errors } }),
    (c) => c.json({ client: view(getClient(c.req.valid('param').id)) }, 200),
  );
  app.openapi(
    createRoute({ method: 'patch', path: '/admin/clients/{id}', operationId: 'updateClient', tags: ['admin'], summary: 'Update name, tier, budget or max concurrency', request: { params: IdParam, ...body(ClientUpdate) }, responses: { 200: json(Loose, 'Updated'), ...errors } }),
    async (c) => {
      const cur = getClient(c.req.valid('param').id);
      const b = c.req.valid('json');
      if (b.tier !== undefined) d.registry.tier(b.tier);
      const next: Client = {
        ...cur, name: b.name ?? cur.name, tier: b.tier ?? cur.tier,
        monthlyBudgetUsd: b.monthly_budget_usd === undefined ? cur.monthlyBudgetUsd : b.monthly_budget_usd,
        maxConcurrent: b.max_concurrent === undefined ? cur.maxConcurrent : b.max_concurrent, updatedAt: d.clock.now(),
        optimizations: b.optimizations === undefined ? cur.optimizations : { ...cur.optimizations, ...b.optimizations },
      };
      await d.store.updateClient(next, actorOf(c.get('principal')));
      d.registry.cacheClient(next);
      return c.json({ client: view(next) }, 200);
    },
  );
  app.openapi(
    createRoute({ method: 'delete', path: '/admin/clients/{id}', operationId: 'deleteClient', tags: ['admin'], summary: 'Delete a client with no work in flight', request: { params: IdParam }, responses: { 200: json(Loose, 'Deleted'), 409: json(Loose, 'Work in flight'), ...errors } }),
    async (c) => {
      const id = getClient(c.req.valid('param').id).id;
      await d.store.deleteClient(id, actorOf(c.get('principal')));
      d.registry.forgetClient(id);
      d.auth.forgetClient(id);
      return c.json({ deleted: id }, 200);
    },
  );
  // A client's keys: routes/keys.ts.

  // ---- workers -----------------------------------------------------------------
  /** `detected`: the transport came from its GET /health, so health probes may switch it. */
  const putWorker = async (name: string, input: z.output<typeof workerInput>, status: 200 | 201, detected: boolean, actor: string) => {
    const { def, issues } = toWorkerDef(name, input, 'api');
    if (issues.length) throw new AllotError('VALIDATION_ERROR', issues.join('; '), { details: { fields: issues } });
    const stored = detected ? { ...def, transportDetected: true } : def;
    await d.registry.putWorker(stored, actor);
    return { body: { worker: workerOut(stored) }, status };
  };
  const workerOut = (w: WorkerDef) => {
    const h = d.health.view(w.name);
    return { ...workerView(w), transport_detected: w.transportDetected === true, running: d.scheduler.runningOnWorker(w.name), health: h ? workerHealthView(h) : null };
  };
  app.openapi(
    createRoute({ method: 'post', path: '/admin/workers', operationId: 'createWorker', tags: ['admin'], summary: 'Register a worker (http url or subprocess command)', request: body(WorkerBody), responses: { 201: json(Loose, 'Registered'), 409: json(Loose, 'Exists'), ...errors } }),
    async (c) => {
      const { name, transport, ...rest } = c.req.valid('json');
      if (d.registry.worker(name)) throw new AllotError('CONFLICT', `Worker "${name}" exists; PATCH /admin/workers/${name} to change it`);
      if (!transport && !rest.url) throw new AllotError('VALIDATION_ERROR', 'transport: required without a url to detect it from');
      // Its bearer token for /api/data and /internal: given, or made here and shown this once.
      const made = rest.token === undefined ? newSecret('wk').key : undefined;
      const r = await putWorker(name, { ...rest, token: rest.token ?? made, transport: transport ?? (await detectTransport(rest.url as string)) }, 201, transport === undefined, actorOf(c.get('principal')));
      return c.json(made ? { ...r.body, token: made, token_note: 'Generated: shown only now. The worker presents it to /api/data and /internal, and Allot sends it to the worker.' } : r.body, 201);
    },
  );
  app.openapi(
    createRoute({
      method: 'post', path: '/admin/workers/{name}/token', operationId: 'issueWorkerToken', tags: ['admin'], summary: "Replace a worker's bearer token with a new one (shown once); the old one stops working at once",
      request: { params: NameParam }, responses: { 201: json(Loose, 'New token'), ...errors },
    }),
    async (c) => {
      const name = c.req.valid('param').name;
      const w = d.registry.worker(name);
      if (!w) throw new AllotError('NOT_FOUND', `No worker "${name}"`);
      const token = newSecret('wk').key;
      await d.registry.putWorker({ ...w, token }, actorOf(c.get('principal')));
      return c.json({ worker: name, token }, 201);
    },
  );
  app.openapi(
    createRoute({ method: 'get', path: '/admin/workers', operationId: 'listWorkers', tags: ['admin'], summary: 'List workers', responses: { 200: json(Loose, 'Workers'), ...errors } }),
    (c) => c.json({ workers: d.registry.workers().map(workerOut) }, 200),
  );
  app.openapi(
    createRoute({ method: 'get', path: '/admin/workers/{name}', operationId: 'getWorker', tags: ['admin'], summary: 'Read a worker', request: { params: NameParam }, responses: { 200: json(Loose, 'Worker'), ...errors } }),
    (c) => {
      const w = d.registry.worker(c.req.valid('param').name);
      if (!w) throw new AllotError('NOT_FOUND', `No worker "${c.req.valid('param').name}"`);
      return c.json({ worker: workerOut(w) }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'post', path: '/admin/workers/{name}/probe', operationId: 'probeWorker', tags: ['admin'],
      summary: "Probe a worker's GET /health now, even while its circuit breaker is open (a success puts it back in rotation); for a subprocess worker, let its next dispatch be the trial",
      request: { params: NameParam }, responses: { 200: json(WorkerProbe, 'Its health after the probe'), ...errors },
    }),
    async (c) => {
      const name = c.req.valid('param').name;
      if (!d.registry.worker(name)) throw new AllotError('NOT_FOUND', `No worker "${name}"`);
      const h = await d.health.probe(name);
      const w = d.registry.worker(name); // The probe may have switched its transport.
      if (!w || !h) throw new AllotError('NOT_FOUND', `No worker "${name}"`);
      await d.store.appendAudit({ at: d.clock.now(), requestId: null, clientId: null, kind: 'admin', from: null, to: null, actor: 'admin', data: { action: 'worker:probe', name, status: h.status, breaker: h.breaker } });
      return c.json({ worker: name, transport: w.transport, transport_detected: w.transportDetected === true, health: workerHealthView(h) }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'post', path: '/admin/workers/{name}/breaker', operationId: 'setWorkerBreaker', tags: ['admin'],
      summary: "Open a worker's circuit breaker by hand (held open, no trials, until closed here) or close it; kept, and applied by every instance sharing the store",
      request: { params: NameParam, ...body(BreakerOrderBody) }, responses: { 200: json(WorkerProbe, 'Its health after the order'), ...errors },
    }),
    async (c) => {
      const name = c.req.valid('param').name;
      const w = d.registry.worker(name);
      if (!w) throw new AllotError('NOT_FOUND', `No worker "${name}"`);
      const { state, reason } = c.req.valid('json');
      const order = await saveBreakerOrder(d.store, name, { state, reason }, d.clock.now(), actorOf(c.get('principal')));
      d.health.order(name, order);
      const h = d.health.view(name);
      if (!h) throw new AllotError('NOT_FOUND', `No worker "${name}"`);
      await d.store.appendAudit({ at: d.clock.now(), requestId: null, clientId: null, kind: 'admin', from: null, to: null, actor: 'admin', data: { action: 'worker:breaker', name, state, ...(reason === undefined ? {} : { reason }) } });
      return c.json({ worker: name, transport: w.transport, transport_detected: w.transportDetected === true, health: workerHealthView(h) }, 200);
    },
  );
  app.openapi(
    createRoute({ method: 'patch', path: '/admin/workers/{name}', operationId: 'updateWorker', tags: ['admin'], summary: 'Update a worker', request: { params: NameParam, ...body(WorkerPatch) }, responses: { 200: json(Loose, 'Updated'), ...errors } }),
    async (c) => {
      const name = c.req.valid('param').name;
      const w = d.registry.worker(name);
      if (!w) throw new AllotError('NOT_FOUND', `No worker "${name}"`);
      const cur = { transport: w.transport, url: w.url, command: w.command ? [...w.command] : undefined, max_concurrency: w.maxConcurrency, token: w.token, capabilities: [...w.capabilities], env: w.env ? { ...w.env } : undefined };
      const patch = c.req.valid('json');
      const merged = { ...cur, ...patch };
      if (patch.transport === 'http' && !patch.command) merged.command = undefined;
      if (patch.transport === 'subprocess' && !patch.url) merged.url = undefined;
      // A transport that was detected stays detected (probes may switch it) until one is given.
      const r = await putWorker(name, merged, 200, patch.transport === undefined && w.transportDetected === true, actorOf(c.get('principal')));
      return c.json(r.body, 200);
    },
  );
  app.openapi(
    createRoute({ method: 'delete', path: '/admin/workers/{name}', operationId: 'deleteWorker', tags: ['admin'], summary: 'Remove a worker no template uses', request: { params: NameParam }, responses: { 200: json(Loose, 'Deleted'), 409: json(Loose, 'In use'), ...errors } }),
    async (c) => {
      const name = c.req.valid('param').name;
      if (!d.registry.worker(name)) throw new AllotError('NOT_FOUND', `No worker "${name}"`);
      await d.registry.deleteWorker(name, actorOf(c.get('principal')));
      await dropBreakerOrder(d.store, name, actorOf(c.get('principal')));
      d.health.dropOrder(name);
      return c.json({ deleted: name }, 200);
    },
  );

  // ---- templates ---------------------------------------------------------------
  const putTemplate = async (name: string, input: z.output<typeof templateInput>, actor: string) => {
    const { def, issues } = toTemplateDef(name, input, 'api', { resources: d.registry.resources, workerExists: (w) => Boolean(d.registry.worker(w)) });
    if (issues.length) throw new AllotError('VALIDATION_ERROR', issues.join('; '), { details: { fields: issues } });
    await d.registry.putTemplate(def, actor);
    return { template: templateView(def) };
  };
  app.openapi(
    createRoute({ method: 'post', path: '/admin/templates', operationId: 'createTemplate', tags: ['admin'], summary: 'Create a template', request: body(TemplateBody), responses: { 201: json(Loose, 'Created'), 409: json(Loose, 'Exists'), ...errors } }),
    async (c) => {
      const { name, ...input } = c.req.valid('json');
      if (d.registry.template(name)) throw new AllotError('CONFLICT', `Template "${name}" exists; PATCH /admin/templates/${name} to change it`);
      return c.json(await putTemplate(name, input, actorOf(c.get('principal'))), 201);
    },
  );
  app.openapi(
    createRoute({ method: 'get', path: '/admin/templates', operationId: 'listTemplates', tags: ['admin'], summary: 'List templates', responses: { 200: json(Loose, 'Templates'), ...errors } }),
    (c) => c.json({ templates: d.registry.templates().map(templateView) }, 200),
  );
  app.openapi(
    createRoute({ method: 'get', path: '/admin/templates/{name}', operationId: 'getTemplate', tags: ['admin'], summary: 'Read a template', request: { params: NameParam }, responses: { 200: json(Loose, 'Template'), ...errors } }),
    (c) => {
      const t = d.registry.template(c.req.valid('param').name);
      if (!t) throw new AllotError('NOT_FOUND', `No template "${c.req.valid('param').name}"`);
      return c.json({ template: templateView(t) }, 200);
    },
  );
  app.openapi(
    createRoute({ method: 'patch', path: '/admin/templates/{name}', operationId: 'updateTemplate', tags: ['admin'], summary: 'Update a template (applies to requests admitted from now on)', request: { params: NameParam, ...body(TemplatePatch) }, responses: { 200: json(Loose, 'Updated'), ...errors } }),
    async (c) => {
      const name = c.req.valid('param').name;
      const t = d.registry.template(name);
      if (!t) throw new AllotError('NOT_FOUND', `No template "${name}"`);
      const cur: z.output<typeof templateInput> = {
        ...(t.stages
          ? { stages: t.stages.map((st) => ({ worker: st.worker, parameters: { ...st.parameters }, timeout_ms: st.timeoutMs, max_attempts: st.maxAttempts })) }
          : { worker: t.worker }),
        model: t.model, max_tokens: t.model ? t.maxTokens : undefined, resources: { ...t.resources }, timeout_ms: t.timeoutMs,
        max_attempts: t.retry.maxAttempts, retry: { base_delay_ms: t.retry.baseDelayMs, max_delay_ms: t.retry.maxDelayMs, factor: t.retry.factor },
        parameters: { ...t.parameters }, description: t.description, cache_ttl_s: t.cacheTtlS, fallback_models: [...t.fallbackModels], critical: t.critical,
        downgrade: { budget_threshold: t.downgradeBudgetThreshold, max_wait_ms: t.downgradeMaxWaitMs },
        offpeak: { allowed: t.offpeak.allowed, deadline_ms: t.offpeak.deadlineMs },
        batch: t.batch ? { key: t.batch.key, window_ms: t.batch.windowMs, max_size: t.batch.maxSize } : undefined,
      };
      const patch = c.req.valid('json');
      // A patch that names a worker makes it a single-worker template, and stages make it a pipeline.
      if (patch.worker !== undefined) delete cur.stages;
      if (patch.stages !== undefined) delete cur.worker;
      return c.json(await putTemplate(name, { ...cur, ...patch, retry: { ...cur.retry, ...patch.retry }, downgrade: { ...cur.downgrade, ...patch.downgrade } }, actorOf(c.get('principal'))), 200);
    },
  );
  app.openapi(
    createRoute({ method: 'delete', path: '/admin/templates/{name}', operationId: 'deleteTemplate', tags: ['admin'], summary: 'Delete a template with no work in flight', request: { params: NameParam }, responses: { 200: json(Loose, 'Deleted'), 409: json(Loose, 'In flight'), ...errors } }),
    async (c) => {
      const name = c.req.valid('param').name;
      if (!d.registry.template(name)) throw new AllotError('NOT_FOUND', `No template "${name}"`);
      const inFlight = await d.store.listRequests({ template: name, states: ['PENDING', 'PREPARING', 'RUNNING', 'WAITING_RETRY'], limit: 10_000 });
      await d.registry.deleteTemplate(name, actorOf(c.get('principal')), inFlight.length);
      return c.json({ deleted: name }, 200);
    },
  );

  app.openapi(
    createRoute({ method: 'delete', path: '/admin/templates/{name}/cache', operationId: 'purgeTemplateCache', tags: ['admin'], summary: "Forget a template's cached results", request: { params: NameParam }, responses: { 200: json(Loose, 'Purged'), ...errors } }),
    async (c) => {
      const name = c.req.valid('param').name;
      if (!d.registry.template(name)) throw new AllotError('NOT_FOUND', `No template "${name}"`);
      return c.json({ template: name, removed: await d.store.purgeCache(name, d.clock.now(), actorOf(c.get('principal'))) }, 200);
    },
  );

  // ---- tiers, resources ----------------------------------------------------------
  app.openapi(
    createRoute({ method: 'get', path: '/admin/tiers', operationId: 'listTiers', tags: ['admin'], summary: 'Tiers (from config)', responses: { 200: json(Loose, 'Tiers'), ...errors } }),
    (c) => c.json({ tiers: [...d.registry.tiers.values()].map(tierOut) }, 200),
  );
  app.openapi(
    createRoute({ method: 'get', path: '/admin/resources', operationId: 'listResources', tags: ['admin'], summary: 'Resources (from config) with live levels', responses: { 200: json(Loose, 'Resources'), ...errors } }),
    (c) => {
      const lv = d.scheduler.bucketLevels();
      return c.json({
        resources: [...d.registry.resources.values()].map((r) => ({
          name: r.name, kind: r.kind, model: r.model ?? null, unit: r.unit, capacity: r.capacity, refill_per_s: r.refillPerS, level: lv.get(r.name)?.level ?? null,
          pools: poolView(d, r.name),
          cost_per_unit_usd: r.price.costPerUnitUsd, input_cost_per_unit_usd: r.price.inputCostPerUnitUsd ?? null, output_cost_per_unit_usd: r.price.outputCostPerUnitUsd ?? null,
        })),
      }, 200);
    },
  );

  const tierOut = (t: { name: string; priorityPoints: number; maxConcurrent: number; monthlyBudgetUsd: number | null }) => ({
    name: t.name, priority_points: t.priorityPoints, max_concurrent: t.maxConcurrent, monthly_budget_usd: t.monthlyBudgetUsd,
  });
  const TierPatch = tierInput.partial().openapi('TierUpdate');
  app.openapi(
    createRoute({
      method: 'patch', path: '/admin/tiers/{name}', operationId: 'updateTier', tags: ['admin'], summary: "Change a tier's priority points, max concurrency or monthly budget (applies at once; kept across restarts)",
      request: { params: NameParam, ...body(TierPatch) }, responses: { 200: json(Loose, 'Tier'), ...errors },
    }),
    async (c) => {
      const name = c.req.valid('param').name;
      const cur = d.registry.tiers.get(name);
      if (!cur) throw new AllotError('NOT_FOUND', `No tier "${name}"; known: ${[...d.registry.tiers.keys()].join(', ')}`);
      const p = c.req.valid('json');
      const next = {
        name, priorityPoints: p.priority_points ?? cur.priorityPoints, maxConcurrent: p.max_concurrent ?? cur.maxConcurrent,
        monthlyBudgetUsd: p.monthly_budget_usd === undefined ? cur.monthlyBudgetUsd : p.monthly_budget_usd,
      };
      await d.registry.setTier(next, actorOf(c.get('principal')));
      d.scheduler.kick(); // A higher max concurrency may let waiting requests start.
      return c.json({ tier: tierOut(next) }, 200);
    },
  );

  const LimitsPatch = z
    .strictObject({
      capacity: units().positive().optional(),
      refill_per_s: units().optional(),
      cost_per_unit_usd: usd(MAX_UNIT_PRICE_USD).optional(),
      input_cost_per_unit_usd: usd(MAX_UNIT_PRICE_USD).nullable().optional(),
      output_cost_per_unit_usd: usd(MAX_UNIT_PRICE_USD).nullable().optional(),
      tokenizer: z.enum(ENCODINGS).optional().openapi({ description: 'Token resources: the encoding input is counted in' }),
      input_overhead_tokens: z.number().int().min(0).max(100_000).optional().openapi({ description: 'Token resources: tokens billed per request beyond the counted text' }),
      force: z.boolean().optional().openapi({ description: 'Lower the capacity below what a queued request needs (it then fails only if cancelled: it can never fit)' }),
    })
    .openapi('ResourceUpdate');
  app.openapi(
    createRoute({
      method: 'patch', path: '/admin/resources/{name}', operationId: 'updateResource', tags: ['admin'],
      summary: "Change a resource's capacity, refill rate or prices (a provider's new limits); its pools keep their shares; applies at once and is kept across restarts",
      request: { params: NameParam, ...body(LimitsPatch) }, responses: { 200: json(Loose, 'Resource'), 409: json(Loose, 'A queued request needs more'), ...errors },
    }),
    async (c) => {
      const name = c.req.valid('param').name;
      const r = d.registry.resources.get(name);
      if (!r) throw new AllotError('NOT_FOUND', `No resource "${name}"`);
      const p = c.req.valid('json');
      const capacity = p.capacity ?? r.capacity;
      const need = d.scheduler.largestQueuedNeed(name);
      if (capacity < need && !p.force) {
        throw new AllotError('CONFLICT', `capacity: a queued request needs ${need} ${r.unit}s of "${name}", more than ${capacity}; it could never run (give force: true to lower it anyway)`, {
          details: { field: 'capacity', largest_queued_need: need },
        });
      }
      const price = {
        costPerUnitUsd: p.cost_per_unit_usd ?? r.price.costPerUnitUsd,
        inputCostPerUnitUsd: p.input_cost_per_unit_usd === undefined ? r.price.inputCostPerUnitUsd : (p.input_cost_per_unit_usd ?? undefined),
        outputCostPerUnitUsd: p.output_cost_per_unit_usd === undefined ? r.price.outputCostPerUnitUsd : (p.output_cost_per_unit_usd ?? undefined),
      };
      if (r.kind !== 'tokens' && (p.tokenizer !== undefined || p.input_overhead_tokens !== undefined)) {
        throw new AllotError('VALIDATION_ERROR', `${p.tokenizer !== undefined ? 'tokenizer' : 'input_overhead_tokens'}: only token resources have one ("${name}" is kind "${r.kind}")`, {
          details: { field: p.tokenizer !== undefined ? 'tokenizer' : 'input_overhead_tokens' },
        });
      }
      const next = await d.registry.setLimits(name, { capacity, refillPerS: p.refill_per_s ?? r.refillPerS, price, tokenizer: p.tokenizer, inputOverheadTokens: p.input_overhead_tokens }, actorOf(c.get('principal')));
      await d.scheduler.reconfigureResource(name, { action: 'limits', resource: name, capacity: next.capacity, refill_per_s: next.refillPerS, was: { capacity: r.capacity, refill_per_s: r.refillPerS } });
      return c.json({
        resource: {
          name, capacity: next.capacity, refill_per_s: next.refillPerS, level: d.scheduler.bucketLevels().get(name)?.level ?? null, pools: poolView(d, name),
          cost_per_unit_usd: next.price.costPerUnitUsd, input_cost_per_unit_usd: next.price.inputCostPerUnitUsd ?? null, output_cost_per_unit_usd: next.price.outputCostPerUnitUsd ?? null,
          tokenizer: next.tokenizer ?? null, input_overhead_tokens: next.inputOverheadTokens ?? null,
        },
      }, 200);
    },
  );

  const ResetBody = z
    .strictObject({
      level: z.number().finite().optional().openapi({ description: "The level to set, in the resource's units (default: its capacity, a full bucket); pools get their shares" }),
    })
    .openapi('BucketReset');
  app.openapi(
    createRoute({
      method: 'post', path: '/admin/resources/{name}/reset', operationId: 'resetResource', tags: ['admin'],
      summary: "Set a resource's bucket level (default: full), e.g. to clear the debt a worker's bad usage report left; audited",
      request: { params: NameParam, body: { content: { 'application/json': { schema: ResetBody } }, required: false } },
      responses: { 200: json(Loose, 'Resource'), ...errors },
    }),
    async (c) => {
      const name = c.req.valid('param').name;
      const r = d.registry.resources.get(name);
      if (!r) throw new AllotError('NOT_FOUND', `No resource "${name}"`);
      const level = (c.req.valid('json') as z.infer<typeof ResetBody> | undefined)?.level;
      if (level !== undefined && (level > r.capacity || level < -r.capacity)) {
        throw new AllotError('VALIDATION_ERROR', `level: must be between -${r.capacity} and ${r.capacity} (the capacity of "${name}"), got ${level}`, { details: { field: 'level' } });
      }
      await d.scheduler.resetBucket(name, level, actorOf(c.get('principal')));
      return c.json({ resource: { name, capacity: r.capacity, level: d.scheduler.bucketLevels().get(name)?.level ?? null, pools: poolView(d, name) } }, 200);
    },
  );

  const PoolsBody = z.strictObject({ pools: z.array(poolInput) }).openapi('Pools');
  app.openapi(
    createRoute({
      method: 'put', path: '/admin/resources/{name}/pools', operationId: 'setResourcePools', tags: ['admin'],
      summary: 'Set the reserved and dedicated pools of a resource (the rest of its capacity is shared); kept across restarts',
      request: { params: NameParam, ...body(PoolsBody) }, responses: { 200: json(Loose, 'Pools'), ...errors },
    }),
    async (c) => {
      const name = c.req.valid('param').name;
      if (!d.registry.resources.has(name)) throw new AllotError('NOT_FOUND', `No resource "${name}"`);
      const pools = c.req.valid('json').pools;
      const issues = validatePools(pools, new Set(d.registry.tiers.keys()));
      pools.forEach((p, i) => {
        if (p.client !== undefined && !d.registry.client(p.client)) issues.push(`pools[${i}].client: no client "${p.client}"`);
      });
      if (issues.length) throw new AllotError('VALIDATION_ERROR', issues.join('; '), { details: { fields: issues } });
      await d.registry.setPools(name, pools, actorOf(c.get('principal')));
      await d.scheduler.reconfigurePools(name);
      return c.json({ resource: name, pools: poolView(d, name) }, 200);
    },
  );

  // ---- scheduler, audit, dead letters, alerts ----------------------------------
  app.openapi(
    createRoute({ method: 'post', path: '/admin/scheduler/start', operationId: 'startScheduler', tags: ['admin'], summary: 'Resume dispatching', responses: { 200: json(Loose, 'Running'), ...errors } }),
    async (c) => {
      d.scheduler.resume();
      // Kept, so that every instance (and the next elected scheduler, and a restart) knows.
      await d.store.putSetting(PAUSED_SETTING, null, actorOf(c.get('principal')));
      await d.store.appendAudit({ at: d.clock.now(), requestId: null, clientId: null, kind: 'admin', from: null, to: null, actor: 'admin', data: { action: 'scheduler:start' } });
      return c.json({ scheduler: 'running' }, 200);
    },
  );
  app.openapi(
    createRoute({ method: 'post', path: '/admin/scheduler/stop', operationId: 'stopScheduler', tags: ['admin'], summary: 'Stop dispatching new work (submissions are still accepted; running work finishes)', responses: { 200: json(Loose, 'Paused'), ...errors } }),
    async (c) => {
      d.scheduler.pause();
      await d.store.putSetting(PAUSED_SETTING, 'true', actorOf(c.get('principal')));
      await d.store.appendAudit({ at: d.clock.now(), requestId: null, clientId: null, kind: 'admin', from: null, to: null, actor: 'admin', data: { action: 'scheduler:stop' } });
      return c.json({ scheduler: 'paused' }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get', path: '/admin/audit', operationId: 'listAudit', tags: ['admin'], summary: 'The append-only audit log',
      request: { query: z.object({ request_id: z.string().optional(), client_id: z.string().optional(), after: z.coerce.number().int().min(0).optional(), limit: z.coerce.number().int().min(1).max(100_000).optional() }) },
      responses: { 200: json(Loose, 'Entries, oldest first'), ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const entries = await d.store.listAudit({ requestId: q.request_id, clientId: q.client_id, afterSeq: q.after, limit: q.limit ?? 1000 });
      return c.json({
        entries: entries.map((e) => ({ seq: e.seq, at: new Date(e.at).toISOString(), at_ms: e.at, request_id: e.requestId, client_id: e.clientId, kind: e.kind, from: e.from, to: e.to, actor: e.actor, data: e.data })),
        next_after: entries.at(-1)?.seq ?? q.after ?? 0,
      }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get', path: '/admin/requests', operationId: 'listAllRequests', tags: ['admin'], summary: 'Requests of every client; status=FAILED is the dead-letter view',
      request: { query: z.object({ status: z.string().optional(), client_id: z.string().optional(), template: z.string().optional(), limit: z.coerce.number().int().min(1).max(10_000).optional(), before: z.string().optional() }) },
      responses: { 200: json(Loose, 'Requests'), ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const list = await d.store.listRequests({ clientId: q.client_id, template: q.template, states: q.status?.split(',') as never, limit: q.limit ?? 100, before: q.before });
      return c.json({ requests: list.map((r) => executionView(r, d.scheduler)) }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get', path: '/admin/alerts', operationId: 'listAlerts', tags: ['admin'], summary: 'Alerts firing now (the conditions are checked as this is asked), oldest first',
      responses: { 200: json(Loose, 'Alerts'), ...errors },
    }),
    async (c) => c.json({ alerts: (await d.alerts.check()).map(alertView) }, 200),
  );
  app.openapi(
    createRoute({
      method: 'get', path: '/admin/alerts/history', operationId: 'listAlertHistory', tags: ['admin'], summary: 'Alerts that fired, newest first: when each fired, its latest severity and message, when it resolved',
      request: {
        query: z.object({
          state: z.enum(['firing', 'resolved']).optional(),
          limit: z.coerce.number().int().min(1).max(1000).optional(),
          before: z.coerce.number().int().positive().optional().openapi({ description: 'Page: alerts with a smaller id' }),
        }),
      },
      responses: { 200: json(Loose, 'Alerts'), ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json({ alerts: (await d.store.listAlerts({ state: q.state, limit: q.limit ?? 100, before: q.before })).map(alertView) }, 200);
    },
  );
}

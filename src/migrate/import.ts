/**
 * `allot migrate import`: apply an Orchestrator v2 database to Allot through
 * the Store and the Registry, then check what Allot holds against the source.
 *
 * Invariants:
 * - Idempotent. Workers and templates are matched by name, clients by id,
 *   executions by their v2 execution_id (`externalId`, unique in the store).
 *   What is present is left as it is: Allot's own definition of a worker or
 *   template wins (a difference is reported). Running the same source twice
 *   changes nothing the second time.
 * - Queued work is taken over: a PENDING request Allot's scheduler runs, with
 *   its budget hold. Building and running work stays v2's (system 'v2': never
 *   scheduled, never reaped) and is tracked: a later import that finds it
 *   completed or failed in the source ends it in Allot with its cost. Finished
 *   work is history, charged to the budget period it finished in.
 * - A malformed row is reported with its table, key and reason and skipped;
 *   rows that depend on it (a template on a malformed worker, executions of a
 *   malformed template) are reported too. Nothing else stops.
 * - A dry run is this same import applied to a throw-away copy of Allot's
 *   database (see run.ts), so it reports exactly what the import would do.
 */
import { periodOf } from '../core/budget.ts';
import { AllotError } from '../core/errors.ts';
import { nanoToUsd } from '../core/money.ts';
import { score, URGENCY_POINTS } from '../core/priority.ts';
import type { State } from '../core/states.ts';
import { toTemplateDef, toWorkerDef } from '../config/entities.ts';
import type { Client, Estimate, TemplateDef, WorkRequest } from '../model.ts';
import { estimateRequest, modelOf } from '../service/estimate.ts';
import { newSecret, uuidv7 } from '../service/ids.ts';
import type { Registry } from '../service/registry.ts';
import { inputText, type TokenCounter } from '../service/tokenizer.ts';
import type { Store } from '../store/store.ts';
import {
  checksum, differingFields, executionFacts, mapExecution, mapTemplate, mapWorker, STATUS_MAP, templateFacts, V2_TABLES, workerFacts,
  type Availability, type MappedExecution, type Row, type V2Table,
} from './mapping.ts';
import type { V2Source } from './v2-source.ts';

/** Where the import writes: Allot's store and registry (a running server's own, or the CLI's). */
export interface ImportTarget {
  readonly store: Store;
  readonly registry: Registry;
  readonly countTokens: TokenCounter;
  readonly budgetTimeZone: string;
  readonly starvationMs: number;
  readonly now: () => number;
}

export interface ImportOptions {
  /** Only labels the report and withholds new API keys; the caller passes a throw-away target. */
  readonly dryRun: boolean;
  /** Audit actor. @default 'migration' */
  readonly actor?: string;
  /** Tier of the clients the import creates. @default 'standard' */
  readonly clientTier?: string;
  /** Called with every request Allot took over, once it is durable (a running server queues it). */
  readonly onTakenOver?: (r: WorkRequest) => void;
  /** Called with every request left to v2 (building or running there), once durable: a running server follows it. */
  readonly onLeftToV2?: (r: WorkRequest) => void;
  /** Called as rows of each table are read (every few hundred, and at each table's end): `done` of `total`. */
  readonly onProgress?: (table: V2Table, done: number, total: number) => void;
}

export interface RowIssue {
  readonly table: V2Table;
  readonly key: string;
  readonly reason: string;
}

export interface TableReport {
  /** False when the source has no such table. */
  readonly present: boolean;
  readonly read: number;
  readonly created: number;
  /** Already in Allot, left unchanged. */
  readonly unchanged: number;
  /** Tracked work that ended in v2 since the last import. */
  readonly updated: number;
  readonly malformed: number;
  readonly conflicts: number;
  /** Valid rows by v2 status (workers: status; templates: active/inactive; executions: status). */
  readonly by_status: Record<string, number>;
  readonly checksum: { readonly rows: number; readonly source: string; readonly allot: string; readonly match: boolean };
}

export interface StatusReport {
  readonly v2_status: string;
  readonly allot_state: State;
  /** Valid source rows with this status. */
  readonly source: number;
  /** Of those, how many Allot holds in the mapped state now (taken-over work moves on once it runs). */
  readonly allot: number;
}

/** The validation report; JSON-shaped, so the CLI's --json, the admin endpoint and the text report share it. */
export interface ImportReport {
  readonly source: { readonly label: string; readonly kind: V2Source['kind'] };
  readonly dry_run: boolean;
  readonly at: string;
  readonly tables: Readonly<Record<V2Table, TableReport>>;
  readonly statuses: readonly StatusReport[];
  /** Imported executions by the state Allot holds them in now. */
  readonly allot_states: Readonly<Partial<Record<State, number>>>;
  /** Cost of finished (completed and failed) work: the source's cost_usd against what Allot charged for the same executions. */
  readonly history_cost_usd: { readonly source: number; readonly allot: number; readonly match: boolean };
  /** Queued work now Allot's, and building/running work left to v2 (tracked). */
  readonly taken_over: number;
  readonly left_to_v2: number;
  /** Clients this import created; `api_key` is shown here once (not in a dry run). */
  readonly clients_created: readonly { readonly id: string; readonly tier: string; readonly api_key: string | null }[];
  readonly clients_existing: number;
  readonly malformed: readonly RowIssue[];
  /** Rows that could not be applied as the source says (e.g. v2 ran work Allot had taken over). */
  readonly conflicts: readonly RowIssue[];
  /** Rows present in Allot that differ from the source (Allot's kept), by field. */
  readonly differences: readonly { readonly table: V2Table; readonly key: string; readonly fields: readonly string[] }[];
  /** True when every row was valid and applied, and nothing conflicts. */
  readonly ok: boolean;
}

const ZERO_ESTIMATE: Estimate = Object.freeze({ inputTokens: 0, maxOutputTokens: 0, resources: {}, maxCostNano: 0 });
/** Yield to the event loop (and let the group commit happen) this often, so a server keeps serving. */
const YIELD_EVERY = 200;
/** How often (in rows) an import says how far it got. */
const PROGRESS_EVERY = 500;

type Counts = { read: number; created: number; unchanged: number; updated: number; malformed: number; conflicts: number; by_status: Record<string, number> };
const counts = (): Counts => ({ read: 0, created: 0, unchanged: 0, updated: 0, malformed: 0, conflicts: 0, by_status: {} });
const bump = (m: Record<string, number>, k: string): void => void (m[k] = (m[k] ?? 0) + 1);

/** Import `source` into `target`; see the module comment for what it guarantees. */
export async function importV2(source: V2Source, target: ImportTarget, opts: ImportOptions): Promise<ImportReport> {
  const { store, registry } = target;
  const actor = opts.actor ?? 'migration';
  const tier = opts.clientTier ?? 'standard';
  registry.tier(tier); // an unknown tier fails the whole import before anything is written
  const c: Record<V2Table, Counts> = { worker_registry: counts(), pipeline_templates: counts(), pipeline_executions: counts() };
  const facts: Record<V2Table, Map<string, Record<string, unknown>>> = { worker_registry: new Map(), pipeline_templates: new Map(), pipeline_executions: new Map() };
  const malformed: RowIssue[] = [];
  const conflicts: RowIssue[] = [];
  const bad = (table: V2Table, key: string, reason: string): void => {
    malformed.push({ table, key, reason });
    c[table].malformed++;
  };
  const conflict = (table: V2Table, key: string, reason: string): void => {
    conflicts.push({ table, key, reason });
    c[table].conflicts++;
  };
  let ops = 0;
  const breathe = async (): Promise<void> => {
    if (++ops % YIELD_EVERY !== 0) return;
    await store.durable();
    await new Promise((r) => setImmediate(r));
  };
  const rows = (t: V2Table): readonly Row[] => source.tables[t] ?? [];
  /** Progress before row `i` of `t` (every PROGRESS_EVERY rows), and at the table's end (done below). */
  const tick = (t: V2Table, i: number): void => {
    if (i % PROGRESS_EVERY === 0) opts.onProgress?.(t, i, rows(t).length);
  };
  const tableDone = (t: V2Table): void => opts.onProgress?.(t, rows(t).length, rows(t).length);

  // ---- workers --------------------------------------------------------------
  const badWorkers = new Set<string>();
  const seenWorkers = new Set<string>();
  for (const [i, row] of rows('worker_registry').entries()) {
    c.worker_registry.read++;
    tick('worker_registry', i);
    const m = mapWorker(row, i);
    if (!m.ok || seenWorkers.has(m.key)) {
      bad('worker_registry', m.key, m.ok ? 'worker_name: appears more than once' : m.reason);
      badWorkers.add(m.key);
      continue;
    }
    seenWorkers.add(m.key);
    bump(c.worker_registry.by_status, m.value.status);
    const { def } = toWorkerDef(m.value.name, m.value.input, 'api');
    facts.worker_registry.set(m.key, workerFacts(def));
    if (registry.worker(def.name)) c.worker_registry.unchanged++;
    else {
      await registry.putWorker(def, actor);
      c.worker_registry.created++;
    }
    await breathe();
  }
  tableDone('worker_registry');
  const workerAvailability = (name: string): Availability => (registry.worker(name) ? 'ok' : badWorkers.has(name) ? 'malformed' : 'unknown');

  // ---- templates ------------------------------------------------------------
  const badTemplates = new Set<string>();
  const seenTemplates = new Set<string>();
  for (const [i, row] of rows('pipeline_templates').entries()) {
    c.pipeline_templates.read++;
    tick('pipeline_templates', i);
    const m = mapTemplate(row, i, workerAvailability);
    if (!m.ok || seenTemplates.has(m.key)) {
      bad('pipeline_templates', m.key, m.ok ? 'template_name: appears more than once' : m.reason);
      badTemplates.add(m.key);
      continue;
    }
    seenTemplates.add(m.key);
    bump(c.pipeline_templates.by_status, m.value.active ? 'active' : 'inactive');
    const { def, issues } = toTemplateDef(m.value.name, m.value.input, 'api', { resources: registry.resources, workerExists: (w) => Boolean(registry.worker(w)) });
    if (issues.length) {
      bad('pipeline_templates', m.key, issues.join('; '));
      badTemplates.add(m.key);
      continue;
    }
    facts.pipeline_templates.set(m.key, templateFacts(def));
    if (registry.template(def.name)) c.pipeline_templates.unchanged++;
    else {
      await registry.putTemplate(def, actor);
      c.pipeline_templates.created++;
    }
    await breathe();
  }
  tableDone('pipeline_templates');
  const templateAvailability = (name: string): Availability => (registry.template(name) ? 'ok' : badTemplates.has(name) ? 'malformed' : 'unknown');

  // ---- executions -----------------------------------------------------------
  const clientsCreated: { id: string; tier: string; api_key: string | null }[] = [];
  const clientsSeen = new Set<string>();
  const takenOver: WorkRequest[] = [];
  const leftToV2: WorkRequest[] = [];
  const mapped = new Map<string, MappedExecution>();
  const ensureClient = async (id: string): Promise<Client> => {
    const known = registry.client(id) ?? (await store.getClient(id));
    if (known) return known;
    const now = target.now();
    const client: Client = { id, name: id, tier, monthlyBudgetUsd: null, maxConcurrent: null, createdAt: now, updatedAt: now };
    const key = newSecret('ak');
    await store.createClient(client, key.hash, key.prefix, actor);
    registry.cacheClient(client);
    clientsCreated.push({ id, tier, api_key: opts.dryRun ? null : key.key });
    return client;
  };

  for (const [i, row] of rows('pipeline_executions').entries()) {
    c.pipeline_executions.read++;
    tick('pipeline_executions', i);
    const m = mapExecution(row, i, templateAvailability);
    if (!m.ok || mapped.has(m.key)) {
      bad('pipeline_executions', m.key, m.ok ? 'execution_id: appears more than once' : m.reason);
      continue;
    }
    const e = m.value;
    clientsSeen.add(e.clientId);
    const existing = await store.findByExternalId(e.key);
    if (existing) {
      mapped.set(e.key, e);
      bump(c.pipeline_executions.by_status, e.v2Status);
      await reconcile(existing, e);
      await breathe();
      continue;
    }
    const template = registry.template(e.template) as TemplateDef;
    let request: WorkRequest;
    try {
      request = buildRequest(e, template, await ensureClient(e.clientId), target);
    } catch (err) {
      bad('pipeline_executions', e.key, err instanceof AllotError ? err.message : String(err));
      continue;
    }
    mapped.set(e.key, e);
    bump(c.pipeline_executions.by_status, e.v2Status);
    const res = await store.importRequest(request, actor);
    if (res.kind === 'created') {
      c.pipeline_executions.created++;
      if (!request.system) takenOver.push(res.request);
      else if (request.state === 'PREPARING' || request.state === 'RUNNING') leftToV2.push(res.request);
    } else await reconcile(res.request, e);
    await breathe();
  }

  /** An execution imported before: follow v2's progress on work v2 owns; anything else is unchanged or a conflict. */
  async function reconcile(cur: WorkRequest, e: MappedExecution): Promise<void> {
    const t = 'pipeline_executions';
    if (cur.system !== 'v2') {
      // Taken over by Allot at an earlier import; v2 must not have run it since.
      if (e.state === 'PENDING') c[t].unchanged++;
      else conflict(t, e.key, `v2 shows it ${e.v2Status}, but Allot took it over when it was queued: v2 must not dequeue imported work`);
      return;
    }
    if (cur.state === e.state) return void c[t].unchanged++;
    const ended = e.state === 'COMPLETED' || e.state === 'FAILED';
    if (cur.state === 'PREPARING' || (cur.state === 'RUNNING' && ended)) {
      const to = e.state as 'RUNNING' | 'COMPLETED' | 'FAILED';
      const upd = e.state === 'PENDING' || e.state === 'PREPARING' ? null : await store.updateExternal(cur.id, {
        now: e.completedAt ?? target.now(), to, actor, output: e.output, error: e.error, costNano: e.costNano, startedAt: e.startedAt ?? undefined,
      });
      if (upd) c[t].updated++;
      else conflict(t, e.key, `v2 moved it from ${cur.state} to ${e.state} (${e.v2Status}); the store cannot follow that move`);
      return;
    }
    conflict(t, e.key, `v2 shows it ${e.v2Status}; Allot holds it ${cur.state}`);
  }

  await store.durable();
  tableDone('pipeline_executions');
  for (const r of takenOver) opts.onTakenOver?.(r);
  for (const r of leftToV2) opts.onLeftToV2?.(r);

  // ---- verification: what Allot holds now, for the same keys ---------------
  const conflicted = new Set(conflicts.map((x) => `${x.table}\0${x.key}`));
  const differences: ImportReport['differences'][number][] = [];
  const allotFacts: Record<V2Table, Map<string, Record<string, unknown>>> = { worker_registry: new Map(), pipeline_templates: new Map(), pipeline_executions: new Map() };
  for (const [key] of facts.worker_registry) {
    const w = registry.worker(key);
    if (w) allotFacts.worker_registry.set(key, workerFacts(w));
  }
  for (const [key] of facts.pipeline_templates) {
    const t = registry.template(key);
    if (t) allotFacts.pipeline_templates.set(key, templateFacts(t));
  }
  const allotStates: Partial<Record<State, number>> = {};
  const statusRows = new Map<string, { v2_status: string; allot_state: State; source: number; allot: number }>();
  let costSource = 0;
  let costAllot = 0;
  for (const [key, e] of mapped) {
    facts.pipeline_executions.set(key, executionFacts(key, e));
    const s = statusRows.get(e.v2Status) ?? { v2_status: e.v2Status, allot_state: e.state, source: 0, allot: 0 };
    statusRows.set(e.v2Status, s);
    s.source++;
    const r = await store.findByExternalId(key);
    if (!r) continue;
    allotFacts.pipeline_executions.set(key, executionFacts(key, r));
    bump(allotStates, r.state);
    if (r.state === e.state) s.allot++;
    if (e.state === 'COMPLETED' || e.state === 'FAILED') {
      costSource += e.costNano;
      costAllot += r.costNano;
    }
  }
  const tables = {} as Record<V2Table, TableReport>;
  for (const t of V2_TABLES) {
    const src = facts[t];
    const got = allotFacts[t];
    for (const [key, f] of src) {
      if (conflicted.has(`${t}\0${key}`)) continue;
      const fields = differingFields(f, got.get(key) ?? {});
      if (fields.length) differences.push({ table: t, key, fields });
    }
    const a = checksum(got);
    const s = checksum(src);
    tables[t] = { present: source.tables[t] !== null, ...c[t], checksum: { rows: src.size, source: s, allot: a, match: s === a } };
  }
  const order = Object.keys(STATUS_MAP);
  return {
    source: { label: source.label, kind: source.kind },
    dry_run: opts.dryRun,
    at: new Date(target.now()).toISOString(),
    tables,
    statuses: [...statusRows.values()].toSorted((a, b) => order.indexOf(a.v2_status) - order.indexOf(b.v2_status)),
    allot_states: allotStates,
    history_cost_usd: { source: nanoToUsd(costSource), allot: nanoToUsd(costAllot), match: costSource === costAllot },
    taken_over: [...mapped.values()].filter((e) => !e.system).length,
    left_to_v2: [...mapped.values()].filter((e) => e.state === 'PREPARING' || e.state === 'RUNNING').length,
    clients_created: clientsCreated,
    clients_existing: clientsSeen.size - clientsCreated.length,
    malformed, conflicts, differences,
    ok: malformed.length === 0 && conflicts.length === 0,
  };
}

/**
 * The Allot request for a v2 execution, filled as admission would (tier and
 * urgency points, estimate, run policy from the template). Finished work is
 * charged to the budget period it finished in; work not finished yet to the
 * current one. Throws when queued work could not run (its estimate fails).
 */
function buildRequest(e: MappedExecution, t: TemplateDef, client: Client, target: ImportTarget): WorkRequest {
  const { registry } = target;
  const now = target.now();
  const tier = registry.tier(client.tier);
  let estimate = ZERO_ESTIMATE;
  try {
    const model = modelOf(t, registry);
    estimate = estimateRequest(t, model ? target.countTokens(inputText(e.input), model.tokenizer) : 0, t.maxTokens, registry);
  } catch (err) {
    if (e.state === 'PENDING') throw err;
  }
  const ended = e.state === 'COMPLETED' || e.state === 'FAILED';
  return {
    id: uuidv7(e.createdAt), clientId: client.id, template: t.name, state: e.state, urgency: e.urgency, klass: 0,
    basePoints: tier.priorityPoints + URGENCY_POINTS[e.urgency], priority: score(tier.priorityPoints, e.urgency, 0, target.starvationMs, 10),
    model: t.model, maxTokens: t.maxTokens, input: e.input, parameters: { ...t.parameters },
    policy: {
      worker: t.worker, ...(t.stages ? { stages: t.stages } : {}), timeoutMs: t.timeoutMs, cacheTtlS: 0,
      retry: { baseDelayMs: t.retry.baseDelayMs, maxDelayMs: t.retry.maxDelayMs, factor: t.retry.factor },
    },
    // Only queued work takes a hold (importRequest); v2's running work is charged its real cost when it ends.
    estimate, holdNano: e.state === 'PENDING' ? estimate.maxCostNano : 0,
    period: periodOf(ended ? (e.completedAt as number) : now, target.budgetTimeZone),
    reserved: null, attempts: e.state === 'PENDING' || e.state === 'PREPARING' ? 0 : 1, maxAttempts: t.retry.maxAttempts,
    leaseToken: 0, leaseOwner: null, leaseExpiresAt: null, deadlineAt: null, runAt: null, progress: null,
    output: e.output, error: e.error, usage: null, costNano: e.costNano, idempotencyKey: null, bodyHash: null, optimization: null,
    createdAt: e.createdAt, updatedAt: now, startedAt: e.startedAt, completedAt: e.completedAt,
    ...(e.system ? { system: e.system } : {}), externalId: e.key,
  };
}

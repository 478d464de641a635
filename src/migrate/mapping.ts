/**
 * Orchestrator v2 rows → Allot definitions, pure (no I/O, no clock). Each
 * `map*` function validates one row and returns either what Allot should
 * hold for it or why the row is malformed, naming the v2 column. The
 * `*Facts` functions project an entity onto the fields an import writes;
 * the validation report hashes them on both sides (the source rows, and
 * what Allot holds for the same keys) so a reader can see that they match.
 *
 * The supported v2 schema (README.md, "Migrating from Orchestrator v2"):
 *   worker_registry(worker_name, worker_url, status, capabilities, protocol_version,
 *     supports_handshake, supports_streaming, max_concurrent_executions, avg_execution_time_ms)
 *   pipeline_templates(template_name, display_name, stages, is_active)
 *     stages: JSON [{ "stage_order", "worker_name", "params" }]
 *   pipeline_executions(execution_id, template_name, client_id, status, priority, input,
 *     output, cost_usd, created_at, started_at, completed_at)
 */
import { templateInput, workerInput, type TemplateInput, type WorkerInput } from '../config/schema.ts';
import { usdToNano, type Nano } from '../core/money.ts';
import type { Urgency } from '../core/priority.ts';
import type { State } from '../core/states.ts';
import type { RequestError, TemplateDef, WorkerDef } from '../model.ts';
import { bodyHash } from '../service/ids.ts';

export type Row = Readonly<Record<string, unknown>>;

export const V2_TABLES = ['worker_registry', 'pipeline_templates', 'pipeline_executions'] as const;
export type V2Table = (typeof V2_TABLES)[number];

/** Each table's key column and the columns an import cannot do without; other listed columns may be absent. */
export const V2_SCHEMA: Readonly<Record<V2Table, { readonly key: string; readonly required: readonly string[] }>> = Object.freeze({
  worker_registry: { key: 'worker_name', required: ['worker_name', 'worker_url'] },
  pipeline_templates: { key: 'template_name', required: ['template_name', 'stages'] },
  pipeline_executions: { key: 'execution_id', required: ['execution_id', 'template_name', 'client_id', 'status', 'created_at'] },
});

/** v2 execution status → Allot state (SPEC section 9). */
export const STATUS_MAP: Readonly<Record<string, State>> = Object.freeze({
  queued: 'PENDING', building: 'PREPARING', running: 'RUNNING', completed: 'COMPLETED', failed: 'FAILED',
});

export type Mapped<T> = { readonly ok: true; readonly key: string; readonly value: T } | { readonly ok: false; readonly key: string; readonly reason: string };

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Client ids become URL path segments (/api/usage/{clientId}). */
const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$/;

/** The row's key as text, or `#n` (its position) when the key column is empty. */
export function rowKey(table: V2Table, row: Row, index: number): string {
  const k = text(row[V2_SCHEMA[table].key]);
  return k === undefined || k.trim() === '' ? `#${index + 1}` : k;
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  return undefined;
}

function fail<T>(key: string, issues: string[]): Mapped<T> {
  return { ok: false, key, reason: issues.join('; ') };
}

/** SQLite booleans: 1/0, true/false, '1'/'0', 'true'/'false' (any case); NULL → `absent`. */
export function parseBool(v: unknown, absent: boolean): boolean | undefined {
  if (v === null || v === undefined) return absent;
  if (v === 1 || v === true || v === 1n) return true;
  if (v === 0 || v === false || v === 0n) return false;
  const s = text(v)?.trim().toLowerCase();
  if (s === '1' || s === 'true') return true;
  if (s === '0' || s === 'false') return false;
  return undefined;
}

/** JSON text (NULL → `absent`); undefined when it is not JSON. */
function parseJson(v: unknown, absent: unknown): { value: unknown } | undefined {
  if (v === null || v === undefined) return { value: absent };
  const s = text(v);
  if (s === undefined || typeof v === 'number') return undefined;
  if (s.trim() === '') return { value: absent };
  try {
    return { value: JSON.parse(s) as unknown };
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A v2 timestamp → epoch ms. Accepts epoch seconds or milliseconds (numbers
 * below 1e11 are seconds: 1e11 s is the year 5138, 1e11 ms is 1973), ISO 8601
 * strings, and SQLite's `YYYY-MM-DD HH:MM:SS` (CURRENT_TIMESTAMP, which is UTC).
 * NULL → null; undefined when unreadable.
 */
export function parseTime(v: unknown): number | null | undefined {
  if (v === null || v === undefined) return null;
  const s = text(v)?.trim();
  if (s === undefined || s === '') return s === '' ? null : undefined;
  if (/^-?\d+(\.\d+)?$/.test(s)) {
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0) return undefined;
    return Math.round(n < 1e11 ? n * 1000 : n);
  }
  // Without a zone, SQLite's and D1's timestamps are UTC; Date.parse would read a date-time as local time.
  const naive = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(:\d{2}(\.\d+)?)?)$/.exec(s);
  if (!/^\d{4}-\d{2}-\d{2}/.test(s)) return undefined;
  const ms = Date.parse(naive ? `${naive[1]}T${naive[2]}Z` : s);
  return Number.isNaN(ms) ? undefined : ms;
}

const PRIORITY_WORDS: Readonly<Record<string, Urgency>> = Object.freeze({
  critical: 'critical', urgent: 'critical', high: 'high', normal: 'normal', medium: 'normal', default: 'normal', low: 'low',
});

/**
 * v2 priority → urgency. Words: critical/urgent, high, normal/medium/default,
 * low. Numbers on 0-10, higher = more urgent: 9-10 critical, 7-8 high, 4-6
 * normal, 0-3 low. NULL → normal; undefined for anything else.
 */
export function parseUrgency(v: unknown): Urgency | undefined {
  if (v === null || v === undefined) return 'normal';
  const s = text(v)?.trim().toLowerCase();
  if (s === undefined) return undefined;
  if (s === '') return 'normal';
  const word = PRIORITY_WORDS[s];
  if (word) return word;
  const n = Number(s);
  if (!/^\d+(\.\d+)?$/.test(s) || n > 10) return undefined;
  return n >= 9 ? 'critical' : n >= 7 ? 'high' : n >= 4 ? 'normal' : 'low';
}

/** cost_usd → nano-USD; NULL → 0; undefined when not a non-negative number. */
export function parseCost(v: unknown): Nano | undefined {
  if (v === null || v === undefined) return 0;
  const s = text(v)?.trim();
  if (s === undefined) return undefined;
  if (s === '') return 0;
  const n = Number(s);
  return Number.isFinite(n) && n >= 0 ? usdToNano(n) : undefined;
}

/**
 * v2 capabilities → Allot's list of strings: a JSON array of strings is kept;
 * an object is flattened (`{"input_types":["text"]}` → `input_types:text`,
 * `{"streaming":true}` → `streaming`).
 */
export function parseCapabilities(v: unknown): string[] | undefined {
  const j = parseJson(v, []);
  if (!j) return undefined;
  const c = j.value;
  if (Array.isArray(c)) return c.every((x) => typeof x === 'string') ? (c as string[]) : undefined;
  if (!isObject(c)) return undefined;
  const out: string[] = [];
  for (const [k, x] of Object.entries(c)) {
    if (Array.isArray(x)) for (const y of x) out.push(`${k}:${String(y)}`);
    else if (x === true) out.push(k);
    else if (typeof x === 'string' || typeof x === 'number') out.push(`${k}:${x}`);
  }
  return out;
}

function zodIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[], rename: Readonly<Record<string, string>>): string[] {
  return issues.map((i) => {
    const path = i.path.map(String);
    const head = path[0] === undefined ? '(row)' : (rename[path[0]] ?? path[0]);
    return `${[head, ...path.slice(1)].join('.')}: ${i.message}`;
  });
}

// ---- worker_registry --------------------------------------------------------

export interface MappedWorker {
  readonly name: string;
  readonly input: WorkerInput;
  /** v2's own status ('active', …): reported, not imported (Allot tracks health itself). */
  readonly status: string;
}

const WORKER_COLUMNS: Readonly<Record<string, string>> = { url: 'worker_url', max_concurrency: 'max_concurrent_executions', capabilities: 'capabilities' };

/**
 * A worker_registry row → an Allot worker. Transport 'v2' (the handshake
 * protocol) when protocol_version is 2.x and supports_handshake is true,
 * else direct 'http'.
 */
export function mapWorker(row: Row, index: number): Mapped<MappedWorker> {
  const key = rowKey('worker_registry', row, index);
  const issues: string[] = [];
  const name = text(row.worker_name);
  if (name === undefined || !NAME.test(name)) issues.push('worker_name: must be 1-64 letters, digits, ".", "_" or "-"');
  const capabilities = parseCapabilities(row.capabilities);
  if (!capabilities) issues.push('capabilities: not a JSON array of strings or a JSON object');
  const handshake = parseBool(row.supports_handshake, false);
  if (handshake === undefined) issues.push('supports_handshake: not a boolean');
  const protocol = text(row.protocol_version)?.trim() ?? '';
  let maxConcurrency: number | undefined;
  if (row.max_concurrent_executions !== null && row.max_concurrent_executions !== undefined) {
    maxConcurrency = Number(text(row.max_concurrent_executions));
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) issues.push('max_concurrent_executions: must be a positive integer');
  }
  if (issues.length) return fail(key, issues);
  const input = {
    transport: /^2(\.|$)/.test(protocol) && handshake ? 'v2' : 'http', url: text(row.worker_url)?.trim(), capabilities,
    ...(maxConcurrency === undefined ? {} : { max_concurrency: maxConcurrency }),
  };
  const parsed = workerInput.safeParse(input);
  if (!parsed.success) return fail(key, zodIssues(parsed.error.issues, WORKER_COLUMNS));
  if (!parsed.data.url) return fail(key, ['worker_url: required']);
  return { ok: true, key, value: { name: name as string, input: parsed.data, status: text(row.status)?.trim() || 'unknown' } };
}

// ---- pipeline_templates -------------------------------------------------------

export interface MappedTemplate {
  readonly name: string;
  readonly input: TemplateInput;
  readonly active: boolean;
}

/** Whether a worker a stage names can be used: in Allot (or imported by this run), or its v2 row was malformed, or unknown. */
export type Availability = 'ok' | 'malformed' | 'unknown';

/**
 * A pipeline_templates row → an Allot template. One stage becomes a
 * single-worker template (its params the template's parameters); several
 * become a pipeline's stages, ordered by stage_order. An inactive template is
 * imported (the history that ran on it needs it) and says so in its description.
 */
export function mapTemplate(row: Row, index: number, worker: (name: string) => Availability): Mapped<MappedTemplate> {
  const key = rowKey('pipeline_templates', row, index);
  const issues: string[] = [];
  const name = text(row.template_name);
  if (name === undefined || !NAME.test(name)) issues.push('template_name: must be 1-64 letters, digits, ".", "_" or "-"');
  const active = parseBool(row.is_active, true);
  if (active === undefined) issues.push('is_active: not a boolean');
  const stagesJson = parseJson(row.stages, undefined);
  const raw = stagesJson?.value;
  const stages: { order: number; worker: string; params: Record<string, unknown> }[] = [];
  if (!stagesJson) issues.push('stages: not valid JSON');
  else if (!Array.isArray(raw) || raw.length === 0 || raw.length > 20) issues.push('stages: not a JSON array of 1-20 stages');
  else {
    raw.forEach((s: unknown, i) => {
      if (!isObject(s)) return void issues.push(`stages[${i}]: not an object`);
      const order = s.stage_order === undefined || s.stage_order === null ? i : Number(s.stage_order);
      if (!Number.isInteger(order)) issues.push(`stages[${i}].stage_order: not an integer`);
      else if (stages.some((x) => x.order === order)) issues.push(`stages[${i}].stage_order: ${order} appears twice`);
      const w = s.worker_name;
      if (typeof w !== 'string' || !NAME.test(w)) issues.push(`stages[${i}].worker_name: must be a worker name`);
      else if (worker(w) === 'malformed') issues.push(`stages[${i}].worker_name: the worker_registry row "${w}" is malformed`);
      else if (worker(w) === 'unknown') issues.push(`stages[${i}].worker_name: no worker "${w}" in worker_registry`);
      const params = s.params ?? {};
      if (!isObject(params)) issues.push(`stages[${i}].params: not a JSON object`);
      stages.push({ order, worker: String(w), params: isObject(params) ? params : {} });
    });
  }
  if (issues.length) return fail(key, issues);
  stages.sort((a, b) => a.order - b.order);
  const display = text(row.display_name)?.trim();
  const description = `${display ? `${display} ` : ''}(imported from Orchestrator v2${active ? '' : '; inactive there'})`;
  const input = stages.length === 1
    ? { worker: stages[0]?.worker, parameters: stages[0]?.params, description }
    : { stages: stages.map((s) => ({ worker: s.worker, parameters: s.params })), description };
  const parsed = templateInput.safeParse(input);
  if (!parsed.success) return fail(key, zodIssues(parsed.error.issues, {}));
  return { ok: true, key, value: { name: name as string, input: parsed.data, active: active as boolean } };
}

// ---- pipeline_executions --------------------------------------------------------

export interface MappedExecution extends ExecutionLike {
  /** The v2 execution_id (Allot's externalId). */
  readonly key: string;
  readonly v2Status: string;
  /** 'v2': the legacy orchestrator runs or ran it (building, running, history); absent: Allot takes it over (queued). */
  readonly system: 'v2' | undefined;
  /** Cost of finished work; 0 until it ends (work still running is charged when it ends). */
  readonly costNano: Nano;
}

const TERMINAL = new Set<State>(['COMPLETED', 'FAILED']);

/** The message a failed v2 execution left in its output, if any. */
function failureMessage(output: unknown): string {
  const e = isObject(output) ? output.error ?? output.message : output;
  if (typeof e === 'string' && e) return e;
  if (isObject(e) && typeof e.message === 'string') return e.message;
  return 'Failed in Orchestrator v2';
}

/**
 * A pipeline_executions row → what Allot holds for it. `template` says
 * whether its template is in Allot (or was imported by this run).
 * Queued work is taken over by Allot; building and running work is left to
 * v2 (system 'v2') and tracked; completed and failed work is history with its cost.
 */
export function mapExecution(row: Row, index: number, template: (name: string) => Availability): Mapped<MappedExecution> {
  const key = rowKey('pipeline_executions', row, index);
  const issues: string[] = [];
  if (key.startsWith('#')) issues.push('execution_id: missing');
  const status = text(row.status)?.trim().toLowerCase() ?? '';
  const state = Object.hasOwn(STATUS_MAP, status) ? STATUS_MAP[status] : undefined;
  if (!state) issues.push(`status: "${text(row.status) ?? String(row.status)}" is not one of ${Object.keys(STATUS_MAP).join(', ')}`);
  const templateName = text(row.template_name) ?? '';
  const t = template(templateName);
  if (t === 'malformed') issues.push(`template_name: the pipeline_templates row "${templateName}" is malformed`);
  else if (t === 'unknown') issues.push(`template_name: no template "${templateName}" in pipeline_templates or Allot`);
  const clientId = text(row.client_id)?.trim() ?? '';
  if (!CLIENT_ID.test(clientId)) issues.push('client_id: must be 1-100 letters, digits, ".", "_", ":", "@" or "-"');
  const urgency = parseUrgency(row.priority);
  if (!urgency) issues.push(`priority: "${String(row.priority)}" is neither a word (critical, high, normal, low) nor a number from 0 to 10`);
  const input = parseJson(row.input, {});
  if (!input) issues.push('input: not valid JSON');
  else if (state === 'PENDING' && !isObject(input.value)) issues.push('input: queued work needs a JSON object to run');
  const output = parseJson(row.output, null);
  if (!output) issues.push('output: not valid JSON');
  const cost = parseCost(row.cost_usd);
  if (cost === undefined) issues.push('cost_usd: not a non-negative number');
  const times: Record<string, number | null> = {};
  for (const col of ['created_at', 'started_at', 'completed_at']) {
    const v = parseTime(row[col]);
    if (v === undefined) issues.push(`${col}: "${String(row[col])}" is neither an ISO 8601 time nor epoch seconds or milliseconds`);
    else times[col] = v;
  }
  if (times.created_at === null) issues.push('created_at: missing');
  if (issues.length || !state || !urgency || !input || !output || cost === undefined) return fail(key, issues);
  const createdAt = times.created_at as number;
  const startedAt = state === 'PENDING' ? null : (times.started_at ?? (state === 'PREPARING' ? null : createdAt));
  const terminal = TERMINAL.has(state);
  return {
    ok: true, key, value: {
      key, v2Status: status, state, system: state === 'PENDING' ? undefined : 'v2', clientId, template: templateName, urgency, input: input.value,
      output: state === 'COMPLETED' ? output.value : null,
      error: state === 'FAILED' ? { code: 'V2_FAILED', message: failureMessage(output.value), retryable: false } : null,
      costNano: terminal ? cost : 0, createdAt, startedAt,
      completedAt: terminal ? (times.completed_at ?? startedAt ?? createdAt) : null,
    },
  };
}

// ---- facts and checksums --------------------------------------------------------

/** The worker fields an import writes. */
export function workerFacts(w: WorkerDef): Record<string, unknown> {
  return { name: w.name, transport: w.transport, url: w.url ?? null, max_concurrency: w.maxConcurrency, capabilities: [...w.capabilities].toSorted() };
}

/** The template fields an import writes. */
export function templateFacts(t: TemplateDef): Record<string, unknown> {
  return {
    name: t.name, worker: t.stages ? null : t.worker, stages: t.stages?.map((s) => ({ worker: s.worker, parameters: s.parameters })) ?? null,
    parameters: t.parameters, description: t.description ?? null,
  };
}

/** What both a MappedExecution and an Allot WorkRequest say about an execution. */
export interface ExecutionLike {
  readonly system?: 'allot' | 'v2' | undefined;
  readonly state: State;
  readonly clientId: string;
  readonly template: string;
  readonly urgency: Urgency;
  readonly input: unknown;
  readonly output: unknown;
  readonly error: RequestError | null;
  readonly costNano: Nano;
  readonly createdAt: number;
  readonly startedAt: number | null;
  readonly completedAt: number | null;
}

/**
 * The execution fields an import writes. Work Allot took over is its own
 * from then on (it runs, costs and finishes in Allot), so only what it was
 * imported with counts: its state is always 'PENDING' here.
 */
export function executionFacts(key: string, e: ExecutionLike): Record<string, unknown> {
  const common = { key, client: e.clientId, template: e.template, urgency: e.urgency, created_at: e.createdAt, input: e.input };
  if (e.system !== 'v2') return { ...common, owner: 'allot', state: 'PENDING' };
  return {
    ...common, owner: 'v2', state: e.state, cost_nano: e.costNano, started_at: e.startedAt, completed_at: e.completedAt,
    output: e.output ?? null, error: e.error ? { code: e.error.code, message: e.error.message } : null,
  };
}

/** The fields of two fact records that differ. */
export function differingFields(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => bodyHash(a[k] ?? null) !== bodyHash(b[k] ?? null)).toSorted();
}

/** SHA-256 (hex) of the facts sorted by key, each canonical JSON with sorted object keys. */
export function checksum(facts: ReadonlyMap<string, Record<string, unknown>>): string {
  return bodyHash([...facts.entries()].toSorted(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

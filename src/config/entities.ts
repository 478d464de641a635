/**
 * Worker and template inputs (config file or admin API) → the definitions
 * the code uses, with defaults filled and cross-field rules checked. Both
 * entry points share this, so the same mistake gets the same message.
 */
import { DEFAULTS } from './defaults.ts';
import type { TemplateInput, WorkerInput } from './schema.ts';
import type { Resource, TemplateDef, WorkerDef } from '../model.ts';
import { redactUrl } from '../core/redact.ts';

/** A pull worker without max_concurrency: as many at once as its polls ask for (the schema's largest value). */
const PULL_MAX_CONCURRENCY = 100_000;

export function toWorkerDef(name: string, w: WorkerInput, source: WorkerDef['source']): { def: WorkerDef; issues: string[] } {
  const issues: string[] = [];
  if ((w.transport === 'http' || w.transport === 'v2') && !w.url) issues.push(`url: required when transport is "${w.transport}"`);
  if (w.transport === 'subprocess' && !w.command) issues.push('command: required when transport is "subprocess"');
  if (w.transport !== 'subprocess' && w.command) issues.push('command: only for transport "subprocess"');
  if (w.transport === 'subprocess' && w.url) issues.push('url: only for transport "http"');
  if (w.transport === 'pull' && w.url) issues.push('url: not for transport "pull" (the worker calls Allot)');
  if (w.transport === 'pull' && !w.token) issues.push('token: required when transport is "pull" (the worker presents it to /internal/jobs/poll)');
  return {
    def: {
      // A pull worker's polls say how much it takes at once; max_concurrency caps that only when it is set.
      name, transport: w.transport, url: w.url, command: w.command, maxConcurrency: w.max_concurrency ?? (w.transport === 'pull' ? PULL_MAX_CONCURRENCY : DEFAULTS.workerMaxConcurrency),
      token: w.token, capabilities: w.capabilities ?? [], env: w.env, source,
    },
    issues,
  };
}

export function toTemplateDef(
  name: string,
  t: TemplateInput,
  source: TemplateDef['source'],
  ctx: { resources: ReadonlyMap<string, Resource>; workerExists: (name: string) => boolean },
): { def: TemplateDef; issues: string[] } {
  const issues: string[] = [];
  let model: string | undefined;
  if (t.model !== undefined) {
    const r = [...ctx.resources.values()].find((x) => x.kind === 'tokens' && (x.model === t.model || x.name === t.model));
    if (!r) {
      const known = [...ctx.resources.values()].filter((x) => x.kind === 'tokens').map((x) => x.model ?? x.name);
      issues.push(`model: "${t.model}" is not a token resource's model (known: ${known.join(', ')})`);
    } else model = r.model ?? r.name;
  }
  if (t.max_tokens !== undefined && t.model === undefined) issues.push('max_tokens: only meaningful with a model');
  const fallbackModels: string[] = [];
  (t.fallback_models ?? []).forEach((m, i) => {
    const r = [...ctx.resources.values()].find((x) => x.kind === 'tokens' && (x.model === m || x.name === m));
    if (!r) issues.push(`fallback_models[${i}]: "${m}" is not a token resource's model`);
    else fallbackModels.push(r.model ?? r.name);
  });
  if (fallbackModels.length && t.model === undefined) issues.push('fallback_models: only meaningful with a model');
  for (const res of Object.keys(t.resources ?? {})) {
    if (!ctx.resources.has(res)) issues.push(`resources.${res}: no such resource (known: ${[...ctx.resources.keys()].join(', ')})`);
  }
  const r = DEFAULTS.retry;
  if (t.worker !== undefined && t.stages) issues.push('worker: give either worker or stages, not both (a pipeline\'s stages name their workers)');
  if (t.worker === undefined && !t.stages) issues.push('worker: required (or stages, for a pipeline)');
  if (t.worker !== undefined && !ctx.workerExists(t.worker)) issues.push(`worker: no worker named "${t.worker}"`);
  (t.stages ?? []).forEach((st, i) => {
    if (!ctx.workerExists(st.worker)) issues.push(`stages[${i}].worker: no worker named "${st.worker}"`);
  });
  if (t.stages && t.batch) issues.push('batch: not available for pipelines');
  const stages = t.stages?.map((st) => ({
    worker: st.worker, parameters: st.parameters ?? {}, timeoutMs: st.timeout_ms, maxAttempts: st.max_attempts ?? t.max_attempts ?? r.maxAttempts,
  }));
  return {
    def: {
      name, worker: t.worker ?? stages?.[0]?.worker ?? '', ...(stages ? { stages } : {}), model, maxTokens: model ? (t.max_tokens ?? DEFAULTS.templateMaxTokens) : 0, resources: t.resources ?? {},
      timeoutMs: t.timeout_ms ?? DEFAULTS.templateTimeoutMs,
      retry: {
        maxAttempts: t.max_attempts ?? r.maxAttempts, baseDelayMs: t.retry?.base_delay_ms ?? r.baseDelayMs,
        maxDelayMs: t.retry?.max_delay_ms ?? r.maxDelayMs, factor: t.retry?.factor ?? r.factor,
      },
      parameters: t.parameters ?? {}, description: t.description, cacheTtlS: t.cache_ttl_s ?? 0, fallbackModels, critical: t.critical ?? false,
      downgradeBudgetThreshold: t.downgrade?.budget_threshold ?? 0.8, downgradeMaxWaitMs: t.downgrade?.max_wait_ms ?? 10_000,
      offpeak: { allowed: t.offpeak?.allowed ?? false, deadlineMs: t.offpeak?.deadline_ms ?? 24 * 3_600_000 },
      batch: t.batch ? { key: t.batch.key, windowMs: t.batch.window_ms, maxSize: t.batch.max_size } : undefined, source,
    },
    issues,
  };
}

/** Back to the input shape, for GET responses. */
export function workerView(w: WorkerDef): Record<string, unknown> {
  return {
    name: w.name, transport: w.transport, url: redactUrl(w.url), command: w.command, max_concurrency: w.maxConcurrency,
    capabilities: w.capabilities, has_token: Boolean(w.token), source: w.source,
  };
}

export function templateView(t: TemplateDef): Record<string, unknown> {
  return {
    name: t.name, worker: t.stages ? undefined : t.worker,
    stages: t.stages?.map((st) => ({ worker: st.worker, parameters: st.parameters, timeout_ms: st.timeoutMs, max_attempts: st.maxAttempts })),
    model: t.model, max_tokens: t.maxTokens, resources: t.resources, timeout_ms: t.timeoutMs,
    max_attempts: t.retry.maxAttempts, retry: { base_delay_ms: t.retry.baseDelayMs, max_delay_ms: t.retry.maxDelayMs, factor: t.retry.factor },
    parameters: t.parameters, description: t.description, cache_ttl_s: t.cacheTtlS, fallback_models: t.fallbackModels, critical: t.critical,
    downgrade: { budget_threshold: t.downgradeBudgetThreshold, max_wait_ms: t.downgradeMaxWaitMs },
    offpeak: { allowed: t.offpeak.allowed, deadline_ms: t.offpeak.deadlineMs },
    batch: t.batch ? { key: t.batch.key, window_ms: t.batch.windowMs, max_size: t.batch.maxSize } : undefined, source: t.source,
  };
}

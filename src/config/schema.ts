/**
 * What a person writes in the config file (`ConfigInput`), as zod schemas.
 * Objects are strict so that a misspelt key is named, not ignored. The same
 * worker and template schemas validate the admin API's bodies.
 */
import { z } from 'zod';
import { ENCODINGS } from '../model.ts';
import {
  count, DEFAULT_MAX_JSON_DEPTH, durationMs, durationMsOrZero, MAX_BUDGET_USD, MAX_BYTES, MAX_INTERVAL_MS, MAX_JSON_DEPTH, MAX_TASK_MS, MAX_TIMER_MS, MAX_TOKENS, MAX_UNIT_PRICE_USD,
  MAX_WAIT_MS, nestedDeeperThan, units, usd,
} from './bounds.ts';

/** JSON a person writes into parameters: objects nested at most DEFAULT_MAX_JSON_DEPTH deep. */
const jsonRecord = z.record(z.string(), z.unknown()).refine((v) => !nestedDeeperThan(v, DEFAULT_MAX_JSON_DEPTH), `must not nest objects and arrays more than ${DEFAULT_MAX_JSON_DEPTH} deep`);
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1-64 letters, digits, ".", "_" or "-"');

export const tierInput = z.strictObject({
  priority_points: z.number().min(0).max(40),
  max_concurrent: count(),
  monthly_budget_usd: usd(MAX_BUDGET_USD).nullable(),
});

export const poolInput = z.strictObject({
  name: name,
  kind: z.enum(['reserved', 'dedicated']),
  tier: z.string().min(1).optional(),
  client: z.string().min(1).optional(),
  share: z.number().positive().max(1),
});

export const resourceInput = z.strictObject({
  kind: z.enum(['tokens', 'count']).default('count'),
  model: z.string().min(1).optional(),
  unit: z.string().min(1).default('unit'),
  capacity: units().positive(),
  refill_per_s: units(),
  cost_per_unit_usd: usd(MAX_UNIT_PRICE_USD),
  input_cost_per_unit_usd: usd(MAX_UNIT_PRICE_USD).optional(),
  output_cost_per_unit_usd: usd(MAX_UNIT_PRICE_USD).optional(),
  /** Kind "tokens": the BPE encoding input is counted in. @default by model name (o200k_base for gpt-4o, gpt-4.1, gpt-5, o1/o3/o4; cl100k_base for gpt-4, gpt-3.5) */
  tokenizer: z.enum(ENCODINGS).optional(),
  /** Kind "tokens": tokens billed per request beyond the counted text (chat formatting). @default 7 for chat models, 0 for embedding and completion models */
  input_overhead_tokens: z.number().int().min(0).max(100_000).optional(),
  /** Reserved and dedicated slices of capacity and refill; the rest is shared. */
  pools: z.array(poolInput).optional(),
});

export const retryInput = z.strictObject({
  base_delay_ms: durationMsOrZero(MAX_TASK_MS).optional(),
  max_delay_ms: durationMsOrZero(MAX_TASK_MS).optional(),
  factor: z.number().min(1).max(100).optional(),
});

export const workerInput = z.strictObject({
  transport: z.enum(['http', 'subprocess', 'v2', 'pull']),
  url: z.url({ protocol: /^https?$/ }).optional(),
  command: z.array(z.string().min(1)).min(1).optional(),
  max_concurrency: count(100_000).optional(),
  token: z.string().min(8).max(4096).optional(),
  capabilities: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
});

/** One stage of a pipeline template: its own worker; its output is the next stage's input. */
export const stageInput = z.strictObject({
  worker: name,
  /** Overlaid on the request's parameters for this stage only. */
  parameters: jsonRecord.optional(),
  /** @default the template's timeout_ms divided evenly among the stages */
  timeout_ms: durationMs(MAX_TASK_MS).optional(),
  /** Attempts of this stage alone; a failed stage is retried without re-running earlier ones. @default the template's max_attempts */
  max_attempts: z.number().int().min(1).max(100).optional(),
});

export const templateInput = z.strictObject({
  /** The worker that runs it; omitted for a pipeline (the stages name theirs). */
  worker: name.optional(),
  /** A pipeline: ordered stages, each on its own worker (direct, v2 or subprocess). */
  stages: z.array(stageInput).min(1).max(20).optional(),
  model: z.string().min(1).optional(),
  max_tokens: count(MAX_TOKENS).optional(),
  resources: z.record(z.string(), units()).optional(),
  timeout_ms: durationMs(MAX_TASK_MS).optional(),
  max_attempts: z.number().int().min(1).max(100).optional(),
  retry: retryInput.optional(),
  parameters: jsonRecord.optional(),
  description: z.string().max(10_000).optional(),
  /** Reuse a result for an identical request (same input, parameters and model) this many seconds. */
  cache_ttl_s: z.number().nonnegative().max(MAX_WAIT_MS / 1000, `must be at most ${MAX_WAIT_MS / 1000} s (30 days)`).optional(),
  /** Cheaper models to fall back to, in order, when the budget is under pressure or the model is congested. */
  fallback_models: z.array(z.string().min(1)).optional(),
  /** Critical templates are never downgraded. */
  critical: z.boolean().optional(),
  /**
   * Requests whose input has the same value at `key` arriving within window_ms go to the worker as one
   * call (at most max_size); results and usage are split back per request. HTTP workers only.
   */
  batch: z.strictObject({ key: z.string().min(1), window_ms: z.number().int().positive().max(60_000), max_size: z.number().int().min(2).max(1000) }).optional(),
  /** Low-urgency requests wait for off-peak (scheduler.offpeak), but run anyway after deadline_ms. */
  offpeak: z.strictObject({ allowed: z.boolean(), deadline_ms: durationMs(MAX_WAIT_MS).optional() }).optional(),
  downgrade: z
    .strictObject({
      /** Share of the monthly budget used (spent + held) from which requests move to a cheaper model. @default 0.8 */
      budget_threshold: z.number().min(0).max(1).optional(),
      /** Expected wait for the model's bucket beyond which requests move to a cheaper model. @default 10000 */
      max_wait_ms: durationMsOrZero(MAX_TASK_MS).optional(),
    })
    .optional(),
});

export const configInput = z.strictObject({
  server: z
    .strictObject({ host: z.string().min(1).optional(), port: z.number().int().min(0).max(65535).optional(), public_url: z.url().optional() })
    .optional(),
  /** SQLite (`path`, `synchronous`), or PostgreSQL for the scale-out mode (`url`, `schema`, `pool_size`; ALLOT_DATABASE_URL wins over `url`). */
  database: z
    .strictObject({
      path: z.string().min(1).optional(), synchronous: z.enum(['NORMAL', 'FULL']).optional(),
      url: z.string().min(1).optional(), schema: z.string().min(1).optional(), pool_size: z.number().int().min(1).max(1000).optional(),
    })
    .optional(),
  /** The shared token buckets of the scale-out mode (ALLOT_REDIS_URL wins over `url`). */
  redis: z.strictObject({ url: z.string().min(1).optional(), key_prefix: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 letters, digits, "_", ".", ":" or "-"').optional() }).optional(),
  /** Several instances on one database: the scheduler's election and how instances hear of each other's changes. */
  cluster: z
    .strictObject({
      leader_lease_ms: durationMs(MAX_INTERVAL_MS).optional(), heartbeat_ms: durationMs(MAX_INTERVAL_MS).optional(), poll_ms: durationMs(MAX_INTERVAL_MS).optional(),
    })
    .optional(),
  scheduler: z
    .strictObject({
      starvation_ms: durationMs(MAX_TASK_MS).optional(),
      hold_after_ms: durationMsOrZero(MAX_WAIT_MS).optional(),
      fairness_half_life_ms: durationMs(MAX_TASK_MS).optional(),
      lease_grace_ms: durationMsOrZero(MAX_INTERVAL_MS).optional(),
      /** A pull worker's lease on a job, renewed by its heartbeats up to the job's deadline. */
      pull_lease_ms: durationMs(MAX_INTERVAL_MS).optional(),
      reaper_interval_ms: durationMs(MAX_INTERVAL_MS).optional(),
      max_queue_depth: count().optional(),
      offpeak: z
        .strictObject({
          /** [{ start: 'HH:MM', end: 'HH:MM', days?: [0-6] }], checked by validateWindows. */
          windows: z.array(z.unknown()).optional(),
          time_zone: z.string().min(1).optional(),
          low_utilization: z.strictObject({ below: z.number().min(0).max(1), for_ms: durationMsOrZero(MAX_TASK_MS) }).nullable().optional(),
        })
        .optional(),
    })
    .optional(),
  limits: z
    .strictObject({
      max_body_bytes: z.number().int().positive().max(MAX_BYTES).optional(),
      /** Store inputs and outputs of at least this many bytes compressed (zstd); 0 turns it off. @default 4096 */
      compress_min_bytes: z.number().int().nonnegative().max(MAX_BYTES).optional(),
      /** Request inputs and parameters may nest objects and arrays at most this deep. @default 64 */
      max_json_depth: z.number().int().min(1).max(MAX_JSON_DEPTH).optional(),
      /** Request bodies being received at once, all connections, in bytes; beyond it 503. @default 256 MiB */
      max_buffered_body_bytes: z.number().int().positive().max(2 ** 40).optional(),
      /** Open connections at most; more are refused by the server. @default 4096 */
      max_connections: z.number().int().positive().max(1_000_000).optional(),
      /** A request's headers and body must arrive within this (a slow client is cut off with 408). @default 60000 */
      request_timeout_ms: durationMs(MAX_TIMER_MS).optional(),
      /** A request's headers must arrive within this. @default 10000 */
      headers_timeout_ms: durationMs(MAX_TIMER_MS).optional(),
      /** An idle keep-alive connection is closed after this. @default 5000 */
      keep_alive_timeout_ms: durationMs(MAX_TIMER_MS).optional(),
    })
    .optional(),
  budget: z.strictObject({ time_zone: z.string().min(1).optional() }).optional(),
  /** Alerts (firing/resolved, kept in the database) and an optional webhook told of each change. */
  alerts: z
    .strictObject({
      /** How often the alert conditions are checked. @default 5000 */
      interval_ms: durationMs(MAX_INTERVAL_MS).optional(),
      /** POSTed { event, alert } when an alert fires, escalates or resolves. */
      webhook_url: z.url({ protocol: /^https?$/ }).optional(),
      /** Signs each delivery in the Standard Webhooks format (webhook-id, webhook-timestamp, webhook-signature). */
      webhook_secret: z.string().min(8).optional(),
      /** When each kind of alert fires; each left out keeps its default (src/service/alerts.ts DEFAULT_THRESHOLDS). */
      thresholds: z
        .strictObject({
          /** A pool with less than this share of its capacity available. @default 0.1 */
          pool_low: z.strictObject({ below: z.number().gt(0).max(1) }).optional(),
          /** A client that has used (spent + held) more than this share of its budget; critical from 1. @default 0.95 */
          budget_high: z.strictObject({ above: z.number().gt(0).max(1) }).optional(),
          /** More requests than this queued. @default 1000 */
          queue_backup: z.strictObject({ above: z.number().int().nonnegative().max(10_000_000) }).optional(),
          /** A request waiting longer than this. @default 600000 (10 minutes) */
          request_starving: z.strictObject({ after_ms: durationMs(MAX_TIMER_MS) }).optional(),
          /** A worker's overuse alert holds while its last overuse is this recent. @default 900000 (15 minutes) */
          worker_overuse: z.strictObject({ window_ms: durationMs(MAX_TIMER_MS) }).optional(),
        })
        .optional(),
    })
    .optional(),
  /** GET /health probes of HTTP and v2 workers, and the circuit breaker that takes failing workers out of rotation. */
  worker_health: z
    .strictObject({
      interval_ms: durationMs(MAX_INTERVAL_MS).optional(),
      timeout_ms: durationMs(MAX_INTERVAL_MS).optional(),
      failure_threshold: count(1_000).optional(),
      cooldown_ms: durationMs(MAX_TASK_MS).optional(),
    })
    .optional(),
  /** Side by side with Orchestrator v2: where it is, which system runs new work, shadow mode (src/config/migration.ts). */
  migration: z
    .strictObject({
      legacy_url: z.url({ protocol: /^https?$/ }).optional(),
      legacy_token: z.string().min(1).optional(),
      mode: z.enum(['allot', 'v2', 'rollout']).optional(),
      rollout_percent: z.number().min(0).max(100).optional(),
      shadow: z.boolean().optional(),
      /** Share of new requests shadow mode copies (a stable sample by request id). @default 100 */
      shadow_percent: z.number().min(0).max(100).optional(),
      poll_interval_ms: durationMs(MAX_INTERVAL_MS).optional(),
      timeout_ms: durationMs(MAX_WAIT_MS).optional(),
      cost_tolerance: z.number().min(0).max(1).optional(),
      latency_factor: z.number().min(1).max(1_000).optional(),
      latency_floor_ms: durationMsOrZero(MAX_INTERVAL_MS).optional(),
    })
    .optional(),
  tiers: z.record(name, tierInput).optional(),
  resources: z.record(name, resourceInput).optional(),
  workers: z.record(name, workerInput).optional(),
  templates: z.record(name, templateInput).optional(),
});

export type ConfigInput = z.input<typeof configInput>;
export type WorkerInput = z.output<typeof workerInput>;
export type TemplateInput = z.output<typeof templateInput>;
export { name as nameSchema };

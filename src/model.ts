/**
 * The entities every layer shares. Storage rows, HTTP bodies and config
 * entries are converted to and from these in one place each.
 */
import type { Price, Usage } from './core/cost.ts';
import type { PoolDef } from './core/pools.ts';
import type { Nano } from './core/money.ts';
import type { Score, Urgency } from './core/priority.ts';
import type { QueueClass } from './core/run-queue.ts';
import type { RetryPolicy } from './core/retry.ts';
import type { State } from './core/states.ts';

/** The BPE encodings input tokens can be counted in (gpt-tokenizer ships each). */
export const ENCODINGS = ['cl100k_base', 'o200k_base', 'p50k_base', 'r50k_base'] as const;
export type Encoding = (typeof ENCODINGS)[number];

/**
 * Set (non-enumerable) on requests by a store that can hand over the stored
 * JSON of the input without parsing it: dispatch splices it into the job as
 * bytes (see RawJson in workers/transport.ts).
 */
export const RAW_INPUT: unique symbol = Symbol('allot.rawInput');
export interface RawPayload {
  /** How many bytes the JSON has (about, if the store cannot tell exactly): whether splicing is worth it. */
  readonly approxBytes: number;
  /** The JSON text as UTF-8 bytes, decompressed (if stored compressed) on the libuv thread pool. */
  bytes(): Promise<Buffer>;
}

/** The optimizer's strategies a client or request can turn off. */
export type Strategy = 'cache' | 'downgrade' | 'batching' | 'offpeak';

export interface Tier {
  readonly name: string;
  readonly priorityPoints: number;
  readonly maxConcurrent: number;
  /** null = custom (set per client) or unlimited. */
  readonly monthlyBudgetUsd: number | null;
}

export interface Resource {
  readonly name: string;
  readonly kind: 'tokens' | 'count';
  /** For token resources: the model name templates refer to. */
  readonly model: string | undefined;
  readonly unit: string;
  readonly capacity: number;
  readonly refillPerS: number;
  readonly price: Price;
  /** Token resources: the encoding input is counted in (default by model name). */
  readonly tokenizer?: Encoding | undefined;
  /**
   * Token resources: tokens a provider bills per request beyond the counted
   * text (chat formatting: 7 for chat models), added to every estimate and hold.
   */
  readonly inputOverheadTokens?: number | undefined;
  /** Reserved and dedicated slices; the rest is shared. */
  readonly pools?: readonly PoolDef[] | undefined;
}

export interface WorkerDef {
  readonly name: string;
  readonly transport: 'http' | 'subprocess' | 'v2' | 'pull';
  readonly url?: string | undefined;
  readonly command?: readonly string[] | undefined;
  readonly maxConcurrency: number;
  /** Bearer token Allot sends to the worker and accepts from it. */
  readonly token?: string | undefined;
  readonly capabilities: readonly string[];
  readonly env?: Readonly<Record<string, string>> | undefined;
  readonly source: 'config' | 'api';
  /** Registered without a transport: it was detected from GET /health and health probes may switch it. */
  readonly transportDetected?: boolean | undefined;
}

export interface TemplateDef {
  readonly name: string;
  /** The worker it runs on; for a pipeline, the first stage's. */
  readonly worker: string;
  /** A pipeline's stages, in order; absent for a single-worker template. */
  readonly stages?: readonly StageDef[] | undefined;
  /** Name of the token resource (model) this template runs on, if any. */
  readonly model: string | undefined;
  readonly maxTokens: number;
  /** Other resources needed per request: `{ email: 1 }`. */
  readonly resources: Readonly<Record<string, number>>;
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly description?: string | undefined;
  /** Seconds a result is reused for an identical request; 0 = never. */
  readonly cacheTtlS: number;
  /** Cheaper models (token resources' model names), in order. */
  readonly fallbackModels: readonly string[];
  /** Never downgraded. */
  readonly critical: boolean;
  /** Downgrade from this share of the monthly budget used (spent + held). @default 0.8 */
  readonly downgradeBudgetThreshold: number;
  /** Downgrade when the model's bucket is expected to take longer than this. @default 10 seconds */
  readonly downgradeMaxWaitMs: number;
  /** Low-urgency requests are deferred to off-peak, for at most `deadlineMs`. */
  readonly offpeak: { readonly allowed: boolean; readonly deadlineMs: number };
  /** Batching: same `input[key]` within `windowMs` goes as one call of at most `maxSize`. */
  readonly batch?: BatchPolicy | undefined;
  readonly source: 'config' | 'api';
}

export interface Client {
  readonly id: string;
  readonly name: string;
  readonly tier: string;
  /** Custom monthly budget; null = the tier's. */
  readonly monthlyBudgetUsd: number | null;
  /** Custom max concurrency; null = the tier's. */
  readonly maxConcurrent: number | null;
  /** Strategies this client turned off (absent = on). */
  readonly optimizations?: Readonly<Partial<Record<Strategy, boolean>>> | undefined;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** What an admin key may do: `admin` anything, `read-only` only read (GET and HEAD). */
export type AdminRole = 'admin' | 'read-only';

/** A key as listed: never the key itself, nor its hash. Times are ms since the epoch. */
export interface KeyInfo {
  readonly id: string;
  /** The key's first characters, to recognise it by. */
  readonly prefix: string;
  readonly createdAt: number;
  /** null: never expires. */
  readonly expiresAt: number | null;
  /** Written at most once a minute per key, so up to a minute behind; null: never used. */
  readonly lastUsedAt: number | null;
}

export interface AdminKeyInfo extends KeyInfo {
  readonly role: AdminRole;
  readonly name: string | null;
}

/** A key found by its hash, with whose it is. */
export interface KeyOwner {
  readonly id: string;
  readonly expiresAt: number | null;
  readonly owner: { readonly kind: 'client'; readonly client: Client } | { readonly kind: 'admin'; readonly role: AdminRole };
}

export interface Estimate {
  /** Tokens of the input text, counted in the model's encoding. */
  readonly inputTokens: number;
  /** Tokens the provider bills beyond the text (the resource's input_overhead_tokens, per model call). */
  readonly inputOverheadTokens?: number | undefined;
  readonly maxOutputTokens: number;
  /** Units to reserve per resource, model tokens included (input + max_tokens). */
  readonly resources: Readonly<Record<string, number>>;
  /** Worst-case cost: what the budget hold covers. */
  readonly maxCostNano: Nano;
}

export interface RequestError {
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
}

export interface Progress {
  readonly percent: number;
  readonly message: string | undefined;
  readonly at: number;
}

/** Where one stage of a running pipeline stands. */
export interface StageState {
  readonly worker: string;
  readonly state: 'PENDING' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';
  readonly attempts: number;
  readonly usage: Usage | null;
  readonly costNano: Nano;
  /** Its output, when small; larger outputs are kept by reference (`outputRef`). */
  readonly output?: unknown;
  readonly outputRef?: string | undefined;
  readonly outputBytes?: number | undefined;
  readonly error: RequestError | null;
  readonly startedAt: number | null;
  readonly completedAt: number | null;
}

/** A pipeline request's stages; `next` is the index of the stage to run next. */
export interface PipelineState {
  readonly next: number;
  readonly stages: readonly StageState[];
}

/** Which system executes a request during a migration off Orchestrator v2. */
export type ExecutingSystem = 'allot' | 'v2';

/**
 * The parts of a template a request keeps from the moment it was admitted,
 * so that editing the template changes only what is admitted afterwards.
 */
export interface BatchPolicy {
  readonly key: string;
  readonly windowMs: number;
  readonly maxSize: number;
}

/** One stage of a pipeline template: its own worker, parameters, time and attempts. */
export interface StageDef {
  readonly worker: string;
  /** Overlaid on the request's parameters for this stage only. */
  readonly parameters: Readonly<Record<string, unknown>>;
  /** @default the template's timeout divided evenly among stages */
  readonly timeoutMs?: number | undefined;
  /** Attempts of this stage alone before the pipeline fails. @default 3 */
  readonly maxAttempts: number;
}

export interface RunPolicy {
  /** A pipeline's stages, in order; absent for a single-worker template. */
  readonly stages?: readonly StageDef[] | undefined;
  /** Kept from the template at admission: how to batch this request, if at all. */
  readonly batch?: BatchPolicy | undefined;
  readonly worker: string;
  readonly timeoutMs: number;
  /** Keep the result this long for identical requests (0 = no caching). */
  readonly cacheTtlS?: number | undefined;
  readonly retry: Omit<RetryPolicy, 'maxAttempts'>;
}

/** What the optimizer did for a request (SPEC section 5). */
export interface Optimization {
  /** Deferred to off-peak by its template; runs anyway from `deadlineAt`. */
  readonly offpeak?: { readonly deadlineAt: number };
  readonly downgrade?: {
    readonly requested: string;
    readonly used: string;
    readonly reason: 'budget' | 'congestion';
  };
  readonly cache?: {
    readonly key: string;
    readonly hit: boolean;
    /** The request whose result was reused (hit) or awaited (in-flight duplicate). */
    readonly sourceRequestId?: string | undefined;
  };
}

export interface WorkRequest {
  readonly id: string;
  readonly clientId: string;
  readonly template: string;
  readonly state: State;
  readonly urgency: Urgency;
  readonly klass: QueueClass;
  /** Tier + urgency points, fixed at admission. */
  readonly basePoints: number;
  /** Score at admission; the live score is computed on read. */
  readonly priority: Score;
  readonly model: string | undefined;
  readonly maxTokens: number;
  readonly input: unknown;
  /** The template's parameters overlaid with the request's, as admitted. */
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly policy: RunPolicy;
  readonly estimate: Estimate;
  readonly holdNano: Nano;
  readonly period: string;
  /** What is reserved from buckets while PREPARING/RUNNING. */
  readonly reserved: Readonly<Record<string, number>> | null;
  readonly attempts: number;
  readonly maxAttempts: number;
  /** Fencing token: bumped on every claim; later writes must present it. */
  readonly leaseToken: number;
  readonly leaseOwner: string | null;
  readonly leaseExpiresAt: number | null;
  readonly deadlineAt: number | null;
  readonly runAt: number | null;
  readonly progress: Progress | null;
  readonly output: unknown;
  readonly error: RequestError | null;
  readonly usage: Usage | null;
  readonly costNano: Nano;
  readonly idempotencyKey: string | null;
  readonly bodyHash: string | null;
  readonly optimization: Optimization | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly startedAt: number | null;
  readonly completedAt: number | null;
  /** Absent = 'allot'. 'v2': routed to, or imported from, the legacy orchestrator. */
  readonly system?: ExecutingSystem | undefined;
  /** The v2 execution id, for routed and imported requests. */
  readonly externalId?: string | undefined;
  /** A shadow copy of this request id (run only to compare the two systems). */
  readonly shadowOf?: string | undefined;
  readonly pipeline?: PipelineState | undefined;
  /** Times its lease was lost because Allot itself stopped (not counted as attempts); absent = 0. */
  readonly recoveries?: number | undefined;
  /** Usage a worker reported beyond what the job allowed (charged as reported). */
  readonly overuse?: Overuse | undefined;
  /** The stored input JSON, when the store can give it without parsing (non-enumerable). */
  readonly [RAW_INPUT]?: RawPayload | undefined;
}

/**
 * Usage a worker reported beyond what its job allowed: more output tokens
 * than `max_tokens`, or more of a resource than was reserved for the job.
 * It is charged as reported (budget and buckets), and flagged.
 */
export interface Overuse {
  /** The worker(s) that reported it. */
  readonly workers: readonly string[];
  readonly at: number;
  /** Output tokens reported against those allowed (max_tokens, times the stages of a pipeline). */
  readonly outputTokens?: { readonly allowed: number; readonly reported: number } | undefined;
  /** Resources used beyond their reservation: reserved and used units. */
  readonly resources: Readonly<Record<string, { readonly reserved: number; readonly used: number }>>;
}

export interface AuditEntry {
  readonly seq: number;
  readonly at: number;
  readonly requestId: string | null;
  readonly clientId: string | null;
  /** transition: a request changed state; admin: an operator action; resource: a worker used a bucket directly; stage: a pipeline stage ended. */
  readonly kind: 'transition' | 'admin' | 'resource' | 'stage';
  readonly from: string | null;
  readonly to: string | null;
  readonly actor: string;
  readonly data: Record<string, unknown> | null;
}

/**
 * Request and response shapes of Allot's HTTP API, with the API's own field
 * names (snake_case, USD amounts, ISO times). They follow the server's
 * schemas (src/http/schemas.ts) and views (src/http/views.ts); responses may
 * carry more fields than listed.
 */
import type { ErrorCode } from './errors.ts';

/** A request's state (SPEC's work-order state machine). */
export type RequestStatus = 'PENDING' | 'PREPARING' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'WAITING_RETRY' | 'CANCELLED';
/** The states a request ends in. */
export type TerminalStatus = 'COMPLETED' | 'FAILED' | 'CANCELLED';
/** critical 30, high 20, normal 10 (default), low 0 priority points. */
export type Urgency = 'critical' | 'high' | 'normal' | 'low';

/** POST /api/queue/enqueue (SubmitRequest). */
export interface SubmitRequest {
  template: string;
  input: Record<string, unknown>;
  urgency?: Urgency;
  /** Lower the template's cap for this request. */
  max_tokens?: number;
  parameters?: Record<string, unknown>;
  /** Ask for the batch or deferred level instead of the scored one. */
  queue?: 'batch' | 'deferred';
  /** false: no optimization for this request (the result cache is neither read nor shared). */
  optimize?: boolean;
}

/** POST /api/execute (ExecuteRequest). */
export interface ExecuteRequest extends SubmitRequest {
  /** How long Allot waits for the result before answering 202, in ms (0–300000). @default 30000 (the server's) */
  wait_ms?: number;
}

/** One request of POST /api/queue/enqueue/batch (BatchSubmitItem). */
export interface BatchSubmitItem extends SubmitRequest {
  /** As the Idempotency-Key header of a single submission. */
  idempotency_key?: string;
}

/** POST /api/cost/estimate and /api/resources/estimate (EstimateRequest). */
export interface EstimateRequest {
  template: string;
  input: Record<string, unknown>;
  max_tokens?: number;
}

export interface Estimate {
  input_tokens: number;
  input_overhead_tokens: number;
  max_output_tokens: number;
  resources: Record<string, number>;
  max_cost_usd: number;
}

/** The answer to a submission (Accepted): 202 when new, 200 for a repeated Idempotency-Key. */
export interface Accepted {
  success: true;
  request_id: string;
  status: RequestStatus;
  template: string;
  estimate: Estimate;
  status_url: string;
  /** Added by this client: true when this call created the request (202), false when the Idempotency-Key named an earlier one (200). */
  created: boolean;
}

/** One item's answer in a bulk submission: the accepted request, or its own error. */
export type BatchSubmitResult =
  | { request_id: string; status: RequestStatus; created: boolean; estimate: Estimate; status_url: string; error?: undefined }
  | { error: { code: ErrorCode; message: string; details?: Record<string, unknown>; retry_after_s?: number }; request_id?: undefined };

export interface TokenUsage {
  tokens: { input: number; output: number };
  /** Other resources used, by name: `{ email: 3 }`. */
  resources: Record<string, number>;
}

export interface PriorityView {
  score: number;
  parts: { tier: number; urgency: number; wait: number; fairness: number };
}

/** A worker's failure as recorded on the request. */
export interface RequestErrorView {
  code: string;
  message: string;
  retryable: boolean;
}

export interface StageView {
  stage: number;
  worker: string;
  status: string;
  attempts: number;
  usage: TokenUsage | null;
  cost_usd: number;
  output_ref: string | null;
  output_bytes: number | null;
  error: RequestErrorView | null;
  started_at: string | null;
  completed_at: string | null;
}

/** GET /api/execution/{id} (Execution). */
export interface Execution<Output = unknown> {
  request_id: string;
  client_id: string;
  template: string;
  status: RequestStatus;
  /** Which system runs it while Allot and Orchestrator v2 run side by side. */
  system: 'allot' | 'v2';
  external_id: string | null;
  shadow_of: string | null;
  urgency: Urgency;
  level: string;
  priority: PriorityView;
  queue_position: number | null;
  attempts: number;
  max_attempts: number;
  model: string | null;
  model_requested: string | null;
  downgrade_reason: string | null;
  max_tokens: number | null;
  progress: { percent: number; message: string | null; at: string | null } | null;
  output: Output | null;
  error: RequestErrorView | null;
  usage: TokenUsage | null;
  /** A pipeline's stages, in order (null for a single-worker template). */
  stages: StageView[] | null;
  cost_usd: number;
  overrun_usd: number;
  overuse: { workers: string[]; output_tokens: number | null; resources: Record<string, number>; at: string | null } | null;
  recoveries: number;
  estimate: Estimate;
  hold_usd: number;
  idempotency_key: string | null;
  cache: { hit: boolean; source_request_id: string | null } | null;
  created_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  next_attempt_at: string | null;
  deadline_at: string | null;
}

/** GET /api/executions. */
export interface ListOptions {
  /** Only these states. */
  status?: RequestStatus | RequestStatus[];
  template?: string;
  /** 1–1000. @default 100 (the server's) */
  limit?: number;
  /** A request id: list what is older than it (the previous page's `next_before`). */
  before?: string;
}

export interface ExecutionList {
  requests: Execution[];
  /** Pass as `before` for the next page; null when this page was empty. */
  next_before: string | null;
}

/** GET /api/queue/position/{id}. */
export interface QueuePosition {
  request_id: string;
  status: RequestStatus;
  /** 1 = next; null when not PENDING. */
  position: number | null;
  ahead: number | null;
  queue_depth: number;
  level: string;
  priority: PriorityView;
  next_attempt_at: string | null;
}

/** GET /api/usage/{clientId}. */
export interface Usage {
  client_id: string;
  tier: string;
  /** The period asked for (YYYY-MM), or null for all. */
  period: string | null;
  periods: { period: string; spent_usd: number | null; held_usd: number | null }[];
  by_template: { template: string; requests: number; completed: number; failed: number; tokens: { input: number; output: number }; cost_usd: number | null }[];
  total_cost_usd: number | null;
}

/** GET /api/usage/{clientId}/current. */
export interface CurrentUsage {
  client_id: string;
  tier: string;
  period: string;
  /** null: no budget limit. */
  budget_usd: number | null;
  spent_usd: number | null;
  held_usd: number | null;
  remaining_usd: number | null;
  utilization: number | null;
  running: number;
  max_concurrent: number;
}

/** GET /api/cost/{id}. */
export interface RequestCost {
  request_id: string;
  status: RequestStatus;
  template: string;
  model: string | null;
  cost_usd: number;
  usage: TokenUsage | null;
  estimate: Estimate;
  /** Whether the request has ended, so the cost will not change. */
  final: boolean;
}

/** POST /api/cost/estimate. */
export interface CostEstimate {
  template: string;
  model: string | null;
  max_tokens: number | null;
  input_tokens: number;
  input_overhead_tokens: number;
  max_cost_usd: number;
  input_cost_usd: number;
  /** For a client key: whether this period's remaining budget covers max_cost_usd. */
  budget: { period: string; remaining_usd: number | null; fits: boolean } | null;
}

export interface ResourceAvailability {
  requested: number;
  available: number;
  capacity: number;
  fits_now: boolean;
  /** How long until `requested` would be available, in ms; null: never at this capacity. */
  wait_ms: number | null;
}

/** POST /api/resources/estimate. */
export interface ResourceEstimate {
  template: string;
  max_tokens: number | null;
  estimate: Estimate;
  /** Whether every resource fits now. */
  available: boolean;
  resources: Record<string, ResourceAvailability>;
}

/** What GET /api/execution/{id}/events sends: `status` (now and on each change), `progress`, and a final `end`. */
export type ExecutionEvent<Output = unknown> =
  | { event: 'status'; data: Execution<Output> }
  | { event: 'progress'; data: { percent: number; message: string | null } }
  | { event: 'end'; data: Execution<Output> };

/**
 * Request and response schemas shared by routes. They validate input and
 * also produce the OpenAPI document (`/openapi.json`).
 */
import { z } from '@hono/zod-openapi';
import { URGENCIES } from '../core/priority.ts';
import { count, MAX_BUDGET_USD, MAX_TOKENS, units, usd } from '../config/bounds.ts';
import { STATES } from '../core/states.ts';

export const ErrorEnvelope = z
  .object({
    success: z.literal(false),
    error: z.object({ code: z.string().openapi({ example: 'BUDGET_EXCEEDED' }), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }),
  })
  .openapi('Error');

export const RequestIdParam = z.object({ requestId: z.string().min(1).max(100).openapi({ param: { name: 'requestId', in: 'path' } }) });
export const ClientIdParam = z.object({ clientId: z.string().min(1).max(100).openapi({ param: { name: 'clientId', in: 'path' } }) });
export const NameParam = z.object({ name: z.string().min(1).max(64).openapi({ param: { name: 'name', in: 'path' } }) });
export const IdParam = z.object({ id: z.string().min(1).max(100).openapi({ param: { name: 'id', in: 'path' } }) });

export const SubmitBody = z
  .strictObject({
    template: z.string().min(1).max(64).openapi({ example: 'summarize' }),
    input: z.record(z.string(), z.unknown()).openapi({ example: { text: 'Long text to summarize…' } }),
    urgency: z.enum(URGENCIES).optional().openapi({ description: 'critical 30, high 20, normal 10 (default), low 0 priority points' }),
    max_tokens: count(MAX_TOKENS).optional().openapi({ description: 'Lower the template cap for this request' }),
    parameters: z.record(z.string(), z.unknown()).optional(),
    queue: z.enum(['batch', 'deferred']).optional().openapi({ description: 'Ask for the batch or deferred level instead of the scored one' }),
    optimize: z.boolean().optional().openapi({ description: 'false: no optimization for this request (the result cache is neither read nor shared)' }),
  })
  .openapi('SubmitRequest');

/** Most requests one bulk submission may carry. */
export const MAX_BATCH_ITEMS = 1_000;

/** One request of a bulk submission: a SubmitRequest with its own Idempotency-Key. */
export const BatchItem = SubmitBody.extend({
  idempotency_key: z.string().min(1).max(200).optional().openapi({ description: 'As the Idempotency-Key header of a single submission' }),
}).openapi('BatchSubmitItem');

/**
 * The envelope only: each item is checked on its own (a bad item gets its own
 * error and never sinks the others), so items are not validated here.
 */
export const BatchSubmitBody = z
  .strictObject({
    requests: z.array(z.unknown().openapi({ description: 'A BatchSubmitItem' })).min(1).max(MAX_BATCH_ITEMS)
      .openapi({ description: `1 to ${MAX_BATCH_ITEMS} requests, each a BatchSubmitItem` }),
  })
  .openapi('BatchSubmitRequest');

export const ExecuteBody = SubmitBody.extend({
  wait_ms: z.number().int().min(0).max(300_000).optional().openapi({ description: 'How long to wait for the result before answering 202. Default 30000' }),
}).openapi('ExecuteRequest');

export const EstimateBody = z
  .strictObject({
    template: z.string().min(1).max(64),
    input: z.record(z.string(), z.unknown()),
    max_tokens: count(MAX_TOKENS).optional(),
  })
  .openapi('EstimateRequest');

export const CheckBody = z
  .strictObject({
    resources: z.record(z.string(), units()).openapi({ example: { 'openai.gpt-4': 1500, email: 2 } }),
  })
  .openapi('ResourceCheck');

export const Execution = z
  .looseObject({
    request_id: z.string(),
    client_id: z.string(),
    template: z.string(),
    status: z.enum(Object.values(STATES) as [string, ...string[]]),
    system: z.enum(['allot', 'v2']).openapi({ description: 'Which system runs it while Allot and Orchestrator v2 run side by side' }),
    level: z.string(),
    priority: z.object({ score: z.number(), parts: z.object({ tier: z.number(), urgency: z.number(), wait: z.number(), fairness: z.number() }) }),
    attempts: z.number(),
    progress: z.unknown(),
    output: z.unknown(),
    error: z.unknown(),
    usage: z.unknown(),
    stages: z
      .array(z.looseObject({ stage: z.number(), worker: z.string(), status: z.string(), attempts: z.number(), cost_usd: z.number(), output_ref: z.string().nullable() }))
      .nullable()
      .openapi({ description: "A pipeline's stages, in order (null for a single-worker template)" }),
    cost_usd: z.number(),
  })
  .openapi('Execution');

export const Loose = z.looseObject({}).openapi('Object');

export const ClientCreate = z
  .strictObject({
    name: z.string().min(1).max(200),
    tier: z.string().min(1),
    monthly_budget_usd: usd(MAX_BUDGET_USD).nullable().optional().openapi({ description: `Custom monthly budget, at most $${MAX_BUDGET_USD.toLocaleString('en-US')}; omit for the tier default` }),
    max_concurrent: count(100_000).nullable().optional(),
    optimizations: z
      .strictObject({ cache: z.boolean().optional(), downgrade: z.boolean().optional(), batching: z.boolean().optional(), offpeak: z.boolean().optional() })
      .optional()
      .openapi({ description: 'Turn optimizer strategies off for this client: { "downgrade": false }' }),
  })
  .openapi('ClientCreate');

export const ClientUpdate = ClientCreate.partial().openapi('ClientUpdate');

export const json = <T extends z.ZodType>(schema: T, description = '') => ({ content: { 'application/json': { schema } }, description });
export const body = <T extends z.ZodType>(schema: T) => ({ body: { content: { 'application/json': { schema } }, required: true } });

export const errors = {
  400: json(ErrorEnvelope, 'Invalid input (VALIDATION_ERROR)'),
  401: json(ErrorEnvelope, 'Missing or invalid key (UNAUTHORIZED)'),
  403: json(ErrorEnvelope, 'Not yours (FORBIDDEN)'),
  404: json(ErrorEnvelope, 'Not found (NOT_FOUND)'),
} as const;

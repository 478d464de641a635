/**
 * The Orchestrator 2.0 handshake protocol (seed 001) on the SDK's HTTP server,
 * next to the direct protocol and driving the same handler, so a worker can
 * be ported before the old orchestrator is gone:
 *   POST /api/handshake           → { success, packet_id, worker_name, status: 'ready' | 'incompatible', capabilities, resource_requirements }
 *   POST /api/process             → { success, packet_id, output_ref, metrics, usage } or { success: false, packet_id, error, metrics, usage }
 *   GET  /api/progress/{packet_id} → { stage, progress, message, timestamp }
 *   POST /api/acknowledge         → { success: true, packet_id, acknowledged: true }, and frees the packet's progress and output
 *   GET  /api/data/{ref_id}       → a stored output (outputs of 1 KiB or more travel by reference)
 * `GET /health` gains the v2 fields (see `v2HealthFields`).
 *
 * Beyond the seed, a process call may carry `timeout_ms` (milliseconds left
 * when it was sent: the handler is aborted that long after the call
 * arrived), `deadline_ms` (epoch ms on the sender's clock, used only without
 * `timeout_ms`) and `attempt` (a malformed one is refused as VALIDATION_ERROR
 * naming it), and the answer carries `usage` (the direct protocol's usage:
 * input/output tokens and named resources); Allot sends and reads these,
 * other orchestrators ignore them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { bearerMatches } from './auth.ts';
import { WorkerError } from './errors.ts';
import { MAX_TIMER_MS } from './execute.ts';
import { clientGone, readBody, sendJson, sendText } from './http-io.ts';
import { parseJobEnvelope, parseTimeLeft } from './job.ts';
import type { LoadStats } from './load.ts';
import { emptyUsage, failureFromError } from './response.ts';
import type { StandardResponse } from './response.ts';
import { OutputStore, inputRefProblem, resolveInputRef } from './v2-refs.ts';
import { ProgressBoard } from './v2-progress.ts';
import { runEnvelope } from './worker.ts';
import type { Worker } from './worker.ts';

/** What the handshake declares the worker can do (the seed's `capabilities`). */
export interface V2Capabilities {
  input_types: string[];
  output_types: string[];
  /** Also the time a process call has when it brings neither `timeout_ms` nor `deadline_ms`. */
  max_processing_time_ms: number;
  supports_streaming: boolean;
  supports_checkpoints: boolean;
}

/** What the handshake declares one job needs (the seed's `resource_requirements`); 0 or absent means "not declared". */
export interface V2ResourceRequirements {
  min_memory_mb?: number;
  max_memory_mb?: number;
  estimated_cpu_ms?: number;
  /** Expected upstream API calls per job, by provider, e.g. `{ openai: 1 }`. */
  api_calls?: Record<string, number>;
  [key: string]: unknown;
}

/** Serve the v2 endpoints as well (`serveHttp(worker, { v2: … })`). */
export interface V2Options {
  /** Base URL of the orchestrator (Allot, or Orchestrator 2.0) whose GET /api/data/{ref_id} serves input references. */
  orchestratorUrl: string;
  /** This worker's token at that orchestrator: sent as `Authorization: Bearer` when fetching references, and expected on incoming v2 calls (see `requireToken`). */
  token: string;
  /** The worker's name at that orchestrator: sent as `X-Worker-ID` and answered as `worker_name`. Default: the worker's own name. */
  workerName?: string;
  /** Refuse v2 calls (all but GET /health) without `Authorization: Bearer <token>`. Default true; false for an orchestrator that does not send it. */
  requireToken?: boolean;
  /** Overrides of the declared capabilities. Default: json and reference in, json out, 120 s, no streaming, no checkpoints. */
  capabilities?: Partial<V2Capabilities>;
  /** Declared in every handshake. Default: nothing declared. */
  resourceRequirements?: V2ResourceRequirements;
  /** How long an output stored by reference is kept when it is never acknowledged. Default 24 h. */
  outputTtlMs?: number;
}

export interface V2Endpoints {
  /** Answer a v2 route; false when `pathname` is not one (the caller answers it). */
  route(req: IncomingMessage, res: ServerResponse, pathname: string): boolean;
  /** Fields merged into GET /health. */
  healthFields(): { capabilities: Record<string, unknown>; resources: Record<string, number>; timestamp: string };
}

const DEFAULT_CAPABILITIES: V2Capabilities = {
  input_types: ['json', 'reference'],
  output_types: ['json'],
  max_processing_time_ms: 120_000,
  supports_streaming: false,
  supports_checkpoints: false,
};
const DAY_MS = 86_400_000;

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const errorBody = (packetId: unknown, code: string, message: string, retryable = false): Obj => ({
  success: false, ...(typeof packetId === 'string' ? { packet_id: packetId } : {}), error: { code, message, retryable },
});

/** Allot's stage_id is `<template>:<stage>`; another orchestrator's stage_id is taken whole as the template, stage 0. */
function splitStage(stageId: unknown): { template: string; stage: number } {
  if (typeof stageId !== 'string' || stageId.length === 0) return { template: 'v2', stage: 0 };
  const m = /^(.+):(\d{1,9})$/.exec(stageId);
  return m ? { template: m[1] as string, stage: Number(m[2]) } : { template: stageId, stage: 0 };
}

export function v2Endpoints(worker: Worker, opts: V2Options, server: { maxBodyBytes: number; load: LoadStats }): V2Endpoints {
  if (typeof opts.orchestratorUrl !== 'string' || !/^https?:\/\//.test(opts.orchestratorUrl)) throw new TypeError('serveHttp: v2.orchestratorUrl must be an http(s) URL');
  if (typeof opts.token !== 'string' || opts.token.length === 0) throw new TypeError('serveHttp: v2.token is required');
  const source = { orchestratorUrl: opts.orchestratorUrl, token: opts.token, workerName: opts.workerName ?? worker.name };
  const expectedToken = opts.requireToken === false ? null : opts.token;
  const capabilities: V2Capabilities = { ...DEFAULT_CAPABILITIES, ...opts.capabilities };
  const requirements: V2ResourceRequirements = { min_memory_mb: 0, max_memory_mb: 0, estimated_cpu_ms: 0, api_calls: {}, ...opts.resourceRequirements };
  const progress = new ProgressBoard();
  const outputs = new OutputStore(opts.outputTtlMs ?? DAY_MS);
  const { maxBodyBytes, load } = server;

  /** The JSON object body, or null once an error was answered. */
  const readObject = async (req: IncomingMessage, res: ServerResponse): Promise<Obj | null> => {
    const text = await readBody(req, maxBodyBytes);
    if (text === null) {
      sendJson(res, 413, errorBody(undefined, 'PAYLOAD_TOO_LARGE', `body exceeds ${maxBodyBytes} bytes`));
      return null;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      sendJson(res, 400, errorBody(undefined, 'VALIDATION_ERROR', `body is not valid JSON: ${(err as Error).message}`));
      return null;
    }
    if (!isObject(body) || typeof body.packet_id !== 'string' || body.packet_id.length === 0) {
      sendJson(res, 400, errorBody(isObject(body) ? body.packet_id : undefined, 'VALIDATION_ERROR', 'body must be a JSON object with a non-empty "packet_id"'));
      return null;
    }
    return body;
  };

  const onHandshake = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const b = await readObject(req, res);
    if (b === null) return;
    const packetId = b.packet_id as string;
    const problem = inputRefProblem(b.input_ref, maxBodyBytes);
    if (problem === null) progress.set(packetId, 'ready', 0, 'handshake accepted');
    sendJson(res, 200, {
      success: true, packet_id: packetId, worker_name: source.workerName, status: problem === null ? 'ready' : 'incompatible',
      ...(problem === null ? {} : { message: problem }),
      capabilities, resource_requirements: requirements,
    });
  };

  /**
   * Resolve the input, then run the handler exactly as a direct job (same dedupe, progress, deadline and usage).
   * The time left is `timeout_ms` from when the call arrived (`receivedAt`), whatever this machine's clock says;
   * without it, `deadline_ms` against this clock (an older orchestrator); without either, max_processing_time_ms.
   */
  const runPacket = async (b: Obj, packetId: string, gone: AbortSignal, receivedAt: number): Promise<StandardResponse> => {
    // Validated before the input is fetched: the fetch has only the job's time.
    const { budgetMs } = parseTimeLeft(b, receivedAt, capabilities.max_processing_time_ms);
    const left = (budgetMs ?? Infinity) - (performance.now() - receivedAt);
    if (left <= 0) throw new WorkerError('DEADLINE_EXCEEDED', `no time was left when the call arrived (timeout_ms ${String(b.timeout_ms ?? 'absent')})`, { retryable: true });
    const { template, stage } = splitStage(b.stage_id);
    const controller = new AbortController();
    const timer = left > MAX_TIMER_MS ? undefined : setTimeout(() => controller.abort(new WorkerError('DEADLINE_EXCEEDED', 'deadline exceeded while fetching the input reference', { retryable: true })), left);
    const onGone = (): void => controller.abort(new WorkerError('CANCELLED', 'job cancelled: the orchestrator went away', { retryable: true }));
    gone.addEventListener('abort', onGone, { once: true });
    let input: unknown;
    try {
      input = await resolveInputRef(b.input_ref, source, controller.signal, maxBodyBytes);
    } finally {
      clearTimeout(timer);
      gone.removeEventListener('abort', onGone);
    }
    const envelope = parseJobEnvelope(
      {
        request_id: typeof b.execution_id === 'string' && b.execution_id.length > 0 ? b.execution_id : packetId,
        template, stage, attempt: b.attempt ?? 1, input, parameters: b.parameters ?? {}, timeout_ms: b.timeout_ms, deadline_ms: b.deadline_ms,
      },
      receivedAt,
      capabilities.max_processing_time_ms,
    );
    return runEnvelope(worker, envelope, { progressSink: progress.sink(packetId), signal: gone });
  };

  const onProcess = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // The call's time left counts from here, when it arrived, as a direct job's does.
    const receivedAt = performance.now();
    const b = await readObject(req, res);
    if (b === null) return;
    const packetId = b.packet_id as string;
    const started = performance.now();
    const gone = clientGone(res);
    progress.set(packetId, 'processing', 0, 'reading input');
    let result: StandardResponse = await load.track(() => runPacket(b, packetId, gone, receivedAt)).catch((err: unknown) => failureFromError(err, emptyUsage()));
    let outputRef: unknown;
    if (result.success) {
      try {
        outputRef = outputs.put(packetId, result.output);
      } catch (err) {
        result = failureFromError(err, result.usage);
      }
    }
    const { usage } = result;
    const metrics = {
      processing_time_ms: Math.round(performance.now() - started),
      tokens_used: usage.tokens.input + usage.tokens.output,
      api_calls_made: usage.resources.api_calls ?? 0,
    };
    if (result.success) progress.set(packetId, 'completed', 100, 'done');
    else progress.set(packetId, 'failed', progress.percent(packetId), result.error.message);
    if (res.destroyed) return;
    sendJson(res, 200, result.success
      ? { success: true, packet_id: packetId, output_ref: outputRef, metrics, usage, metadata: result.metadata }
      : { success: false, packet_id: packetId, error: result.error, metrics, usage });
  };

  const onAcknowledge = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const b = await readObject(req, res);
    if (b === null) return;
    const packetId = b.packet_id as string;
    progress.delete(packetId);
    outputs.free(packetId);
    sendJson(res, 200, { success: true, packet_id: packetId, acknowledged: true });
  };

  const onData = (res: ServerResponse, refId: string): void => {
    const text = outputs.read(refId);
    if (text === undefined) sendJson(res, 404, errorBody(undefined, 'NOT_FOUND', `no stored output ${refId} (unknown, acknowledged or expired)`));
    else sendText(res, 200, text);
  };

  const posts: Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>> = {
    '/api/handshake': onHandshake, '/api/process': onProcess, '/api/acknowledge': onAcknowledge,
  };

  return {
    route(req, res, pathname) {
      const post = posts[pathname];
      const getPrefix = pathname.startsWith('/api/progress/') ? '/api/progress/' : pathname.startsWith('/api/data/') ? '/api/data/' : null;
      if (post === undefined && getPrefix === null) return false;
      if (expectedToken !== null && !bearerMatches(req.headers.authorization, expectedToken)) {
        sendJson(res, 401, errorBody(undefined, 'UNAUTHORIZED', 'missing or wrong bearer token for the v2 endpoints'));
        return true;
      }
      const method = req.method ?? 'GET';
      if (post !== undefined && method === 'POST') {
        post(req, res).catch((err: unknown) => {
          if (!res.headersSent && !res.destroyed) sendJson(res, 500, errorBody(undefined, 'WORKER_ERROR', (err as Error).message, true));
        });
      } else if (getPrefix !== null && method === 'GET') {
        let id: string;
        try {
          id = decodeURIComponent(pathname.slice(getPrefix.length));
        } catch {
          id = pathname.slice(getPrefix.length);
        }
        if (getPrefix === '/api/data/') onData(res, id);
        else sendJson(res, 200, progress.get(id));
      } else {
        res.setHeader('allow', post !== undefined ? 'POST' : 'GET');
        sendJson(res, 405, errorBody(undefined, 'METHOD_NOT_ALLOWED', `use ${post !== undefined ? 'POST' : 'GET'} ${pathname}`));
      }
      return true;
    },
    healthFields() {
      return {
        timestamp: new Date().toISOString(),
        capabilities: {
          protocol_version: '2.0', supports_handshake: true, supports_references: true,
          supports_checkpoints: capabilities.supports_checkpoints, supports_streaming: capabilities.supports_streaming,
        },
        resources: { current_load: load.inFlight, queue_length: 0, avg_processing_time_ms: load.avgMs },
      };
    },
  };
}

// A stand-in for the legacy Orchestrator v2's execution API, for tests, benchmarks and trying the
// migration locally. It is NOT Orchestrator v2: teams migrating to Allot bring their own; this one
// only behaves like it at the HTTP surface Allot uses (README "Migrating off Orchestrator v2").
//
// Usage: node examples/v2-orchestrator/server.ts [--port 9400] [--host 127.0.0.1] [--latency-ms 50]
//          [--jitter-ms 0] [--concurrency 16] [--input-price-usd 0.000001] [--output-price-usd 0.000003]
//          [--mutate-output] [--mutate-match TEXT] [--token T]
//
//   POST /api/execute              { template_name, client_id, input, parameters, priority, request_id?, wait? }
//                                  → 202 { execution_id, status: 'queued' } (200 and the execution with wait: true)
//                                    A repeated request_id answers the execution it already has (no second run).
//   GET  /api/executions/{id}      → { execution_id, request_id, template_name, client_id, status: queued|running|
//                                      completed|failed|cancelled, output, usage, cost_usd, created_at, started_at,
//                                      completed_at, error }
//   POST /api/executions/{id}/cancel
//   GET  /health
//   GET  /__stats                  what it was asked and what it ran (tests: nothing ran twice)
//   POST /__control                { mutate_output?: boolean, mutate_match?: string | null, latency_ms?: number }
//
// Executions run asynchronously, `--concurrency` at a time in arrival order, each taking --latency-ms
// (± --jitter-ms). The work is the example workers' (engine.ts), and the cost is the tokens at the given
// prices, so by default its answers equal Allot's. --mutate-output makes every answer (or, with
// --mutate-match, those whose input contains TEXT) deliberately different, for shadow-mode tests.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { InvalidInput, mutate, TEMPLATES } from './engine.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.V2_PORT ?? '9400' },
    host: { type: 'string', default: '127.0.0.1' },
    'latency-ms': { type: 'string', default: process.env.V2_LATENCY_MS ?? '50' },
    'jitter-ms': { type: 'string', default: '0' },
    concurrency: { type: 'string', default: '16' },
    'input-price-usd': { type: 'string', default: '0.000001' },
    'output-price-usd': { type: 'string', default: '0.000003' },
    'mutate-output': { type: 'boolean', default: process.env.V2_MUTATE_OUTPUT === '1' },
    'mutate-match': { type: 'string' },
    token: { type: 'string', default: process.env.V2_TOKEN },
  },
});

function numberFlag(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    console.error(`--${name} must be a number between ${min} and ${max}, got "${raw}"`);
    process.exit(2);
  }
  return n;
}

const settings = {
  latencyMs: numberFlag('latency-ms', values['latency-ms'], 0, 3_600_000),
  jitterMs: numberFlag('jitter-ms', values['jitter-ms'], 0, 3_600_000),
  concurrency: numberFlag('concurrency', values.concurrency, 1, 10_000),
  inputPrice: numberFlag('input-price-usd', values['input-price-usd'], 0, 1),
  outputPrice: numberFlag('output-price-usd', values['output-price-usd'], 0, 1),
  mutateOutput: values['mutate-output'],
  mutateMatch: values['mutate-match'] ?? null,
};

type Status = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

interface Execution {
  execution_id: string;
  request_id: string | null;
  template_name: string;
  client_id: string | null;
  priority: string;
  status: Status;
  input: Record<string, unknown>;
  parameters: Record<string, unknown>;
  output: unknown;
  usage: { tokens: { input: number; output: number }; resources: Record<string, number> } | null;
  cost_usd: number;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  error: { code: string; message: string } | null;
}

const executions = new Map<string, Execution>();
const byRequestId = new Map<string, string>();
const waiting: string[] = [];
const timers = new Map<string, NodeJS.Timeout>();
const enders = new Map<string, Array<() => void>>();
let running = 0;
const stats = { submitted: 0, deduplicated: 0, executed: 0, mutated: 0, cancelled: 0, runs_by_request: new Map<string, number>() };

const now = (): string => new Date().toISOString();
const view = (e: Execution): Omit<Execution, 'input' | 'parameters'> & { input?: unknown } => {
  const { input: _input, parameters: _parameters, ...rest } = e;
  return rest;
};

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const v = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
        resolve(v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
      } catch (err) {
        reject(err as Error);
      }
    });
    req.on('error', reject);
  });
}

function end(e: Execution, status: Status): void {
  e.status = status;
  e.completed_at = now();
  for (const fn of enders.get(e.execution_id) ?? []) fn();
  enders.delete(e.execution_id);
}

function pump(): void {
  while (running < settings.concurrency && waiting.length) {
    const e = executions.get(waiting.shift() as string);
    if (!e || e.status !== 'queued') continue;
    running++;
    e.status = 'running';
    e.started_at = now();
    const ms = Math.max(0, settings.latencyMs + (settings.jitterMs ? (Math.random() * 2 - 1) * settings.jitterMs : 0));
    timers.set(e.execution_id, setTimeout(() => finish(e), ms));
  }
}

function finish(e: Execution): void {
  timers.delete(e.execution_id);
  running--;
  stats.executed++;
  if (e.request_id) stats.runs_by_request.set(e.request_id, (stats.runs_by_request.get(e.request_id) ?? 0) + 1);
  try {
    const r = (TEMPLATES[e.template_name] as (typeof TEMPLATES)[string])(e.input, e.parameters);
    const mutated = settings.mutateOutput && (settings.mutateMatch === null || JSON.stringify(e.input).includes(settings.mutateMatch));
    if (mutated) stats.mutated++;
    e.output = mutated ? mutate(r.output) : r.output;
    e.usage = { tokens: { input: r.tokens.input, output: r.tokens.output }, resources: {} };
    e.cost_usd = Number((r.tokens.input * settings.inputPrice + r.tokens.output * settings.outputPrice).toFixed(12));
    end(e, 'completed');
  } catch (err) {
    e.error = { code: err instanceof InvalidInput ? 'INVALID_INPUT' : 'EXECUTION_ERROR', message: (err as Error).message };
    end(e, 'failed');
  }
  pump();
}

async function submit(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const b = await readBody(req);
  stats.submitted++;
  const template = b.template_name;
  if (typeof template !== 'string' || !b.input || typeof b.input !== 'object') {
    return json(res, 400, { success: false, error: { code: 'INVALID_REQUEST', message: 'template_name (string) and input (object) are required' } });
  }
  if (!Object.hasOwn(TEMPLATES, template)) return json(res, 404, { success: false, error: { code: 'TEMPLATE_NOT_FOUND', message: `no template "${template}"` } });
  const requestId = typeof b.request_id === 'string' && b.request_id ? b.request_id : null;
  let e = requestId === null ? undefined : executions.get(byRequestId.get(requestId) ?? '');
  if (e) stats.deduplicated++;
  else {
    e = {
      execution_id: `exec_${randomUUID()}`, request_id: requestId, template_name: template, client_id: typeof b.client_id === 'string' ? b.client_id : null,
      priority: typeof b.priority === 'string' ? b.priority : 'normal', status: 'queued', input: b.input as Record<string, unknown>,
      parameters: b.parameters && typeof b.parameters === 'object' ? (b.parameters as Record<string, unknown>) : {},
      output: null, usage: null, cost_usd: 0, created_at: now(), started_at: null, completed_at: null, error: null,
    };
    executions.set(e.execution_id, e);
    if (requestId !== null) byRequestId.set(requestId, e.execution_id);
    waiting.push(e.execution_id);
    pump();
  }
  const ex = e;
  if (b.wait === true && (ex.status === 'queued' || ex.status === 'running')) {
    await new Promise<void>((resolve) => enders.set(ex.execution_id, [...(enders.get(ex.execution_id) ?? []), resolve]));
  }
  if (b.wait === true) return json(res, 200, { success: true, ...view(ex) });
  return json(res, 202, { success: true, execution_id: ex.execution_id, status: ex.status });
}

function cancel(id: string, res: ServerResponse): void {
  const e = executions.get(id);
  if (!e) return json(res, 404, { success: false, error: { code: 'NOT_FOUND', message: `no execution ${id}` } });
  if (e.status === 'queued' || e.status === 'running') {
    const t = timers.get(id);
    if (t) {
      clearTimeout(t);
      timers.delete(id);
      running--;
    }
    stats.cancelled++;
    end(e, 'cancelled');
    pump();
  }
  return json(res, 200, { success: true, ...view(e) });
}

const server = createServer((req, res) => {
  void (async () => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    if (req.method === 'GET' && path === '/health') {
      return json(res, 200, { status: 'healthy', service: 'orchestrator-v2-stand-in', version: '2.0.0', queue_length: waiting.length, running });
    }
    if (values.token && req.headers.authorization !== `Bearer ${values.token}`) return json(res, 401, { success: false, error: { code: 'UNAUTHORIZED', message: 'bad token' } });
    if (req.method === 'POST' && path === '/api/execute') return submit(req, res);
    const m = /^\/api\/executions\/([^/]+)(\/cancel)?$/.exec(path);
    if (m && req.method === 'GET' && !m[2]) {
      const e = executions.get(decodeURIComponent(m[1] as string));
      return e ? json(res, 200, { success: true, ...view(e) }) : json(res, 404, { success: false, error: { code: 'NOT_FOUND', message: 'no such execution' } });
    }
    if (m && req.method === 'POST' && m[2]) return cancel(decodeURIComponent(m[1] as string), res);
    if (req.method === 'GET' && path === '/__stats') {
      const byStatus: Record<string, number> = {};
      for (const e of executions.values()) byStatus[e.status] = (byStatus[e.status] ?? 0) + 1;
      let maxRuns = 0;
      for (const n of stats.runs_by_request.values()) maxRuns = Math.max(maxRuns, n);
      return json(res, 200, {
        submitted: stats.submitted, deduplicated: stats.deduplicated, executions: executions.size, executed: stats.executed, mutated: stats.mutated, cancelled: stats.cancelled,
        by_status: byStatus, max_runs_per_request_id: maxRuns, request_ids: [...byRequestId.keys()],
      });
    }
    if (req.method === 'POST' && path === '/__control') {
      const b = await readBody(req);
      if (typeof b.mutate_output === 'boolean') settings.mutateOutput = b.mutate_output;
      if (b.mutate_match === null || typeof b.mutate_match === 'string') settings.mutateMatch = b.mutate_match;
      if (typeof b.latency_ms === 'number' && b.latency_ms >= 0) settings.latencyMs = b.latency_ms;
      return json(res, 200, { success: true, settings });
    }
    return json(res, 404, { success: false, error: { code: 'NOT_FOUND', message: `no route ${req.method} ${path}` } });
  })().catch((err: unknown) => json(res, 500, { success: false, error: { code: 'INTERNAL', message: (err as Error).message } }));
});

server.keepAliveTimeout = 30_000;
server.listen(numberFlag('port', values.port, 0, 65535), values.host, () => {
  const a = server.address() as AddressInfo;
  console.log(`Orchestrator v2 stand-in listening on http://${values.host}:${a.port}`);
});

const shutdown = (): void => {
  for (const t of timers.values()) clearTimeout(t);
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);

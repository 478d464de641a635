import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bearerMatches } from './auth.ts';
import { readBody, sendText } from './http-io.ts';
import { parseJobEnvelope } from './job.ts';
import type { JobEnvelope } from './job.ts';
import { httpProgressSink } from './progress.ts';
import { emptyUsage, failure, failureFromError, serializeResponse } from './response.ts';
import type { StandardResponse } from './response.ts';
import { runBatchHandler } from './batch.ts';
import { LoadStats } from './load.ts';
import { v2Endpoints } from './v2.ts';
import type { V2Options } from './v2.ts';
import { batchHandlerOf, runEnvelope } from './worker.ts';
import type { Worker } from './worker.ts';

export interface ServeHttpOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: an ephemeral port. */
  port?: number;
  /** Where jobs are POSTed; default "/". */
  path?: string;
  /** When set, direct-protocol jobs must carry `authorization: Bearer <token>` (GET /health stays open; the v2 endpoints use `v2.token`). */
  token?: string;
  /** Largest accepted job body (and fetched v2 input reference); default 10 MiB. */
  maxBodyBytes?: number;
  /**
   * Also serve the Orchestrator 2.0 handshake protocol on the same server, driving the same handler
   * (POST /api/handshake, /api/process, /api/acknowledge; GET /api/progress/{packet_id}, /api/data/{ref_id};
   * GET /health gains the v2 fields). See v2.ts. Off by default.
   */
  v2?: V2Options;
}

export interface HttpWorkerServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export const PROTOCOL = 'allot-direct/1';
const V2_PATHS = ['/health', '/api/handshake', '/api/process', '/api/acknowledge'];
const DEFAULT_MAX_BODY = 10 * 1024 * 1024;
// Longer than typical client pools' idle timeout so the server is not the side that drops idle sockets first.
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

function send(res: ServerResponse, status: number, body: StandardResponse): void {
  sendText(res, status, serializeResponse(body));
}

/**
 * Serve a worker over the direct HTTP transport: POST <path> runs a job, GET /health describes the worker.
 * With `v2`, the same server also speaks the Orchestrator 2.0 protocol, so a worker can serve Allot and the old orchestrator at once.
 */
export async function serveHttp(worker: Worker, opts: ServeHttpOptions = {}): Promise<HttpWorkerServer> {
  const host = opts.host ?? '127.0.0.1';
  const path = opts.path ?? '/';
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const expectedToken = opts.token;
  if (opts.v2 !== undefined && (V2_PATHS.includes(path) || path.startsWith('/api/progress/') || path.startsWith('/api/data/'))) throw new TypeError(`serveHttp: path "${path}" collides with the v2 endpoints`);
  const load = new LoadStats();
  const v2 = opts.v2 === undefined ? null : v2Endpoints(worker, opts.v2, { maxBodyBytes: maxBody, load });
  const directHealth = {
    status: 'healthy',
    service: worker.name,
    version: worker.version,
    capabilities: { protocol: PROTOCOL, batch: true, batch_handler: batchHandlerOf(worker) !== undefined },
  };
  const staticHealth = JSON.stringify(directHealth);
  // With v2 on, the direct fields stay as they are and the v2 ones (protocol_version, resources, …) are added.
  const health = (): string => {
    if (v2 === null) return staticHealth;
    const extra = v2.healthFields();
    return JSON.stringify({ ...directHealth, timestamp: extra.timestamp, capabilities: { ...directHealth.capabilities, ...extra.capabilities }, resources: extra.resources });
  };

  const onJob = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // The job's time left counts from here, when it arrived.
    const receivedAt = performance.now();
    if (expectedToken !== undefined && !bearerMatches(req.headers.authorization, expectedToken)) {
      send(res, 401, failure('UNAUTHORIZED', 'missing or wrong bearer token', false));
      return;
    }
    const text = await readBody(req, maxBody);
    if (text === null) {
      send(res, 413, failure('VALIDATION_ERROR', `job body exceeds ${maxBody} bytes`, false));
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      send(res, 400, failure('VALIDATION_ERROR', `job body is not valid JSON: ${(err as Error).message}`, false));
      return;
    }
    if (body && typeof body === 'object' && Array.isArray((body as { batch?: unknown }).batch)) {
      await onBatch((body as { batch: unknown[] }).batch, res, receivedAt);
      return;
    }
    let envelope: JobEnvelope;
    try {
      envelope = parseJobEnvelope(body, receivedAt);
    } catch (err) {
      const parsed = err instanceof SyntaxError ? failure('VALIDATION_ERROR', `job body is not valid JSON: ${err.message}`, false) : failureFromError(err, emptyUsage());
      send(res, 400, parsed);
      return;
    }
    const controller = new AbortController();
    // 'close' before the response is finished means the client gave up: stop the work.
    const onClose = (): void => {
      if (!res.writableFinished) controller.abort();
    };
    res.once('close', onClose);
    const result = await load.track(() =>
      runEnvelope(worker, envelope, {
        progressSink: envelope.progress === null ? null : httpProgressSink(envelope.progress),
        signal: controller.signal,
      }),
    );
    if (!res.destroyed) send(res, 200, result);
  };

  /** A batch call: the batch handler once, or each job through the ordinary handler side by side. */
  const onBatch = async (jobs: unknown[], res: ServerResponse, receivedAt: number): Promise<void> => {
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    const batch = batchHandlerOf(worker);
    const results = batch
      ? await load.track(() => runBatchHandler(batch, jobs, controller.signal, receivedAt))
      : await Promise.all(
          jobs.map(async (raw) => {
            let envelope: JobEnvelope;
            try {
              envelope = parseJobEnvelope(raw, receivedAt);
            } catch (err) {
              return failureFromError(err, emptyUsage());
            }
            return load.track(() => runEnvelope(worker, envelope, { progressSink: envelope.progress === null ? null : httpProgressSink(envelope.progress), signal: controller.signal }));
          }),
        );
    if (res.destroyed) return;
    const text = JSON.stringify({ success: true, results });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const server = createServer({ keepAlive: true, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS }, (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    if (pathname === path && req.method === 'POST') {
      onJob(req, res).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) send(res, 500, failureFromError(err, emptyUsage()));
      });
    } else if (pathname === '/health' && (req.method === 'GET' || req.method === 'HEAD')) {
      const text = health();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(req.method === 'HEAD' ? undefined : text);
    } else if (v2 !== null && v2.route(req, res, pathname)) {
      // answered by the v2 endpoints
    } else if (pathname === path) {
      res.setHeader('allow', 'POST');
      send(res, 405, failure('METHOD_NOT_ALLOWED', `use POST ${path}`, false));
    } else {
      send(res, 404, failure('NOT_FOUND', `no route for ${req.method} ${pathname}`, false));
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const port = (server.address() as AddressInfo).port;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${hostPart}:${port}${path === '/' ? '' : path}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Idle keep-alive sockets would otherwise hold close() open until they time out.
        server.closeAllConnections();
      }),
  };
}

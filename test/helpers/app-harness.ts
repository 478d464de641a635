/**
 * In-process Allot for HTTP tests: `buildAllot` from src/boot.ts, the same
 * wiring as `npm start` (config → SQLite store → registry → scheduler →
 * buildApp), without listening; tests call the app with `app.request()`.
 *
 * One socket is opened on purpose: a relay that HTTP workers post progress
 * to (the job's `progress.url`). It forwards each post to `app.request()`
 * unchanged and records it, so progress goes through the real route.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { pino, type Logger } from 'pino';
import { buildAllot, type Allot } from '../../src/boot.ts';
import { resolveConfig, type ResolvedConfig } from '../../src/config/resolve.ts';
import { systemClock, type Clock } from '../../src/core/clock.ts';
import type { AppDeps, Env } from '../../src/http/deps.ts';
import type { Scheduler } from '../../src/scheduler/scheduler.ts';
import type { Store } from '../../src/store/store.ts';
import { backendEnv } from './app-backend.ts';

// oxlint-disable-next-line typescript/no-explicit-any -- response bodies are checked field by field by the tests
export type Json = any;

export interface CallOptions {
  /** Bearer key; omitted → no Authorization header. */
  key?: string;
  /** Serialized as JSON with content-type application/json. */
  json?: unknown;
  /** Raw body (sent as is, content-type application/json unless headers say otherwise). */
  body?: string;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  headers: Headers;
  text: string;
  body: Json;
}

export interface ProgressPost {
  path: string;
  authorization: string | undefined;
  body: string;
  status: number;
  /** What the app answered. */
  response: string;
}

export interface Harness {
  readonly app: OpenAPIHono<Env>;
  readonly deps: AppDeps;
  readonly config: ResolvedConfig;
  readonly adminKey: string;
  readonly dir: string;
  readonly store: Store;
  readonly scheduler: Scheduler;
  /** A URL on loopback that forwards to the app: where workers reach Allot. */
  readonly relayUrl: string;
  /** Progress posts workers made to the relay, in arrival order. */
  readonly progressPosts: ProgressPost[];
  /** Errors the app reported as INTERNAL_ERROR (tests assert there are none). */
  readonly internalErrors: unknown[];
  /** Every error response seen by `call`, already checked for the envelope shape. */
  readonly errorResponses: CallResult[];
  call(method: string, path: string, opts?: CallOptions): Promise<CallResult>;
  /** POST /admin/clients; returns the id and the one-time key. */
  createClient(tier: string, extra?: Record<string, unknown>): Promise<{ id: string; key: string }>;
  /** Polls GET /api/execution/{id} until the request is COMPLETED, FAILED or CANCELLED. */
  waitTerminal(id: string, key: string, timeoutMs?: number): Promise<Json>;
  close(): Promise<void>;
}

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/**
 * Asserts the SPEC error envelope `{ success: false, error: { code, message, details? } }`
 * and, when given, the status and code.
 */
export function assertEnvelope(res: CallResult, status?: number, code?: string): void {
  const where = `${res.status} ${res.text.slice(0, 300)}`;
  if (status !== undefined) assert.equal(res.status, status, where);
  assert.ok(res.status >= 400, `not an error status: ${where}`);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/, where);
  assert.equal(typeof res.body, 'object', where);
  assert.deepEqual(Object.keys(res.body).toSorted(), ['error', 'success'], where);
  assert.equal(res.body.success, false, where);
  const e = res.body.error;
  assert.equal(typeof e, 'object', where);
  assert.equal(typeof e.code, 'string', where);
  assert.match(e.code, /^[A-Z_]+$/, where);
  assert.equal(typeof e.message, 'string', where);
  assert.ok(e.message.length > 0, where);
  for (const k of Object.keys(e)) assert.ok(['code', 'message', 'details'].includes(k), `unexpected error field ${k}: ${where}`);
  if ('details' in e) assert.ok(e.details !== null && typeof e.details === 'object' && !Array.isArray(e.details), where);
  if (code !== undefined) assert.equal(e.code, code, where);
}

/**
 * Writes `config` to a config file in a fresh temp dir and resolves it with
 * ALLOT_CONFIG / ALLOT_DB / ALLOT_ADMIN_KEY, as main.ts would from the environment.
 */
export function writeConfig(
  config: Record<string, unknown>, env: Record<string, string> = {},
): { config: ResolvedConfig; dir: string; adminKey: string; cleanup: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'allot-http-'));
  const path = join(dir, 'allot.json');
  writeFileSync(path, JSON.stringify(config, null, 2));
  const adminKey = `adm_test_${randomUUID()}`;
  // The selected backend (test/helpers/app-backend.ts); a test that names its own SQLite file keeps it.
  const backend = env.ALLOT_DB ? { env: {}, cleanup: async () => {} } : backendEnv(join(dir, 'allot.db'));
  const cleanup = async (): Promise<void> => {
    rmSync(dir, { recursive: true, force: true });
    await backend.cleanup();
  };
  try {
    return { config: resolveConfig({ ALLOT_CONFIG: path, ALLOT_ADMIN_KEY: adminKey, ...backend.env, ...env }), dir, adminKey, cleanup };
  } catch (err) {
    void cleanup();
    throw err;
  }
}

export interface HarnessOptions {
  /** Extra environment variables for resolveConfig. */
  env?: Record<string, string>;
  /** Allot's clock (startAllot's `opts.clock`); workers keep the real one. @default systemClock */
  clock?: Clock;
  /** Allot's logger. @default silent */
  logger?: Logger;
}

export async function startHarness(fileConfig: Record<string, unknown>, options: HarnessOptions = {}): Promise<Harness> {
  const { config, dir, adminKey, cleanup } = writeConfig(fileConfig, options.env);
  const clock = options.clock ?? systemClock;
  const internalErrors: unknown[] = [];
  let allot: Allot;
  try {
    // The same wiring as `npm start` (src/boot.ts), without listening.
    allot = await buildAllot(config, { clock, logger: options.logger ?? pino({ level: 'silent' }), onInternalError: (err) => internalErrors.push(err) });
  } catch (err) {
    await cleanup();
    throw err;
  }
  const { app, deps, store, scheduler } = allot;

  // The progress relay: workers reach Allot over HTTP; the relay hands each post to the in-process app.
  const progressPosts: ProgressPost[] = [];
  const relay: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      // A caller that hangs up (a long poll given up) is seen by the app as its request's signal, as behind the real server.
      const hangup = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) hangup.abort();
      });
      void Promise.resolve(app.request(req.url ?? '/', { method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body, signal: hangup.signal })).then(
        async (r) => {
          const text = await r.text();
          progressPosts.push({ path: req.url ?? '/', authorization: req.headers.authorization, body, status: r.status, response: text });
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
          res.end(text);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
    });
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', () => resolve()));
  const relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
  allot.setPublicUrl(relayUrl);
  await allot.start();

  const errorResponses: CallResult[] = [];
  const call = async (method: string, path: string, opts: CallOptions = {}): Promise<CallResult> => {
    const headers: Record<string, string> = {};
    if (opts.key !== undefined) headers.authorization = `Bearer ${opts.key}`;
    let body: string | undefined;
    if (opts.json !== undefined) body = JSON.stringify(opts.json);
    if (opts.body !== undefined) body = opts.body;
    if (body !== undefined) headers['content-type'] = 'application/json';
    Object.assign(headers, opts.headers);
    const r = await app.request(path, { method, headers, body });
    const text = await r.text();
    let parsed: Json = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    const result: CallResult = { status: r.status, headers: r.headers, text, body: parsed };
    // Every error response the suite provokes must be the SPEC envelope.
    if (r.status >= 400) {
      assertEnvelope(result);
      errorResponses.push(result);
    }
    return result;
  };

  const createClient = async (tier: string, extra: Record<string, unknown> = {}): Promise<{ id: string; key: string }> => {
    const r = await call('POST', '/admin/clients', { key: adminKey, json: { name: `client-${randomUUID().slice(0, 6)}`, tier, ...extra } });
    assert.equal(r.status, 201, r.text);
    return { id: r.body.client.id, key: r.body.api_key };
  };

  const waitTerminal = async (id: string, key: string, timeoutMs = 15_000): Promise<Json> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const r = await call('GET', `/api/execution/${id}`, { key });
      assert.equal(r.status, 200, r.text);
      if (TERMINAL.has(r.body.status)) return r.body;
      if (Date.now() > until) assert.fail(`request ${id} still ${r.body.status} after ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, 10));
    }
  };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await new Promise<void>((resolve) => {
        relay.close(() => resolve());
        relay.closeAllConnections();
      });
      await allot.stop(2_000);
      await cleanup();
    })();
    return closing;
  };

  return { app, deps, config, adminKey, dir, store, scheduler, progressPosts, internalErrors, errorResponses, call, createClient, waitTerminal, close, relayUrl };
}

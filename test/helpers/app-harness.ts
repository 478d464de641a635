/**
 * In-process Allot for HTTP tests: the same wiring as `startAllot` in
 * src/boot.ts (config → SQLite store → registry → scheduler → buildApp), but
 * the app is returned instead of listening, and tests call it with
 * `app.request()`.
 *
 * One socket is opened on purpose: a relay that HTTP workers post progress
 * to (the job's `progress.url`). It forwards each post to `app.request()`
 * unchanged and records it, so progress goes through the real route.
 *
 * Keep this in step with startAllot: it repeats that function's wiring
 * because startAllot always listens and does not return the app.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { VERSION } from '../../src/boot.ts';
import { ConfigError, resolveConfig, type ResolvedConfig } from '../../src/config/resolve.ts';
import { systemClock, type Clock } from '../../src/core/clock.ts';
import { Events } from '../../src/events.ts';
import { buildApp } from '../../src/http/app.ts';
import type { AppDeps, Env } from '../../src/http/deps.ts';
import { Metrics } from '../../src/metrics.ts';
import { ProgressTokens } from '../../src/scheduler/progress-token.ts';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { Admission } from '../../src/service/admission.ts';
import { Auth } from '../../src/service/auth.ts';
import { hashSecret } from '../../src/service/ids.ts';
import { Registry } from '../../src/service/registry.ts';
import { countTokens } from '../../src/service/tokenizer.ts';
import { Waiters } from '../../src/service/waiters.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import { HttpTransport } from '../../src/workers/http-transport.ts';
import { SubprocessTransport } from '../../src/workers/subprocess-transport.ts';

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
export function writeConfig(config: Record<string, unknown>, env: Record<string, string> = {}): { config: ResolvedConfig; dir: string; adminKey: string } {
  const dir = mkdtempSync(join(tmpdir(), 'allot-http-'));
  const path = join(dir, 'allot.json');
  writeFileSync(path, JSON.stringify(config, null, 2));
  const adminKey = `adm_test_${randomUUID()}`;
  try {
    return { config: resolveConfig({ ALLOT_CONFIG: path, ALLOT_DB: join(dir, 'allot.db'), ALLOT_ADMIN_KEY: adminKey, ...env }), dir, adminKey };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface HarnessOptions {
  /** Extra environment variables for resolveConfig. */
  env?: Record<string, string>;
  /** Allot's clock (startAllot's `opts.clock`); workers keep the real one. @default systemClock */
  clock?: Clock;
}

export async function startHarness(fileConfig: Record<string, unknown>, options: HarnessOptions = {}): Promise<Harness> {
  const { config, dir, adminKey } = writeConfig(fileConfig, options.env);
  const clock = options.clock ?? systemClock;
  const store = new SqliteStore(config.dbPath, { synchronous: config.dbSync });
  await store.migrate();
  const adminHash = hashSecret(adminKey);

  const registry = new Registry(store, config.tiers, config.resources);
  await registry.load();
  // As boot.ts applyConfigEntities: config workers and templates are written to the store.
  for (const w of config.workers) await registry.putWorker(w, 'config');
  const issues = config.templates.filter((t) => !registry.worker(t.worker)).map((t) => `templates.${t.name}.worker: no worker named "${t.worker}" in the config or the database`);
  if (issues.length) {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    throw new ConfigError(issues, config.configPath ?? 'config');
  }
  for (const t of config.templates) await registry.putTemplate(t, 'config');

  const events = new Events();
  const progressTokens = new ProgressTokens();
  const transports = { http: new HttpTransport(), subprocess: new SubprocessTransport() };
  let publicUrl = '';
  const scheduler = new Scheduler(
    { store, registry, events, clock, transports, progressTokens },
    {
      instanceId: `allot-test-${randomUUID().slice(0, 8)}`, starvationMs: config.starvationMs, fairnessHalfLifeMs: config.fairnessHalfLifeMs,
      leaseGraceMs: config.leaseGraceMs, reaperIntervalMs: config.reaperIntervalMs, publicUrl: () => publicUrl,
    },
  );
  const admission = new Admission({
    store, registry, scheduler, events, clock, countTokens, budgetTimeZone: config.budgetTimeZone, starvationMs: config.starvationMs, maxQueueDepth: config.maxQueueDepth,
  });
  const metrics = new Metrics(events, scheduler);
  const internalErrors: unknown[] = [];
  const deps: AppDeps = {
    store, registry, scheduler, admission, events, clock, metrics, progressTokens, auth: new Auth(store, registry, adminHash), waiters: new Waiters(events),
    config, startedAt: clock.now(), version: VERSION,
  };
  const app = buildApp(deps, { onInternalError: (err) => internalErrors.push(err) });

  // The progress relay: workers reach Allot over HTTP; the relay hands each post to the in-process app.
  const progressPosts: ProgressPost[] = [];
  const relay: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      void Promise.resolve(app.request(req.url ?? '/', { method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body })).then(
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
  publicUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
  await scheduler.start();

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
      await scheduler.stop(2_000);
      await transports.http.close();
      await transports.subprocess.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    })();
    return closing;
  };

  return { app, deps, config, adminKey, dir, store, scheduler, progressPosts, internalErrors, errorResponses, call, createClient, waitTerminal, close };
}

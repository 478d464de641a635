/** Fixtures and small helpers for the store contract suite. */
import assert from 'node:assert/strict';
import { AllotError, type ErrorCode } from '../../src/core/errors.ts';
import { ZERO_USAGE, type Usage } from '../../src/core/cost.ts';
import type { Client, TemplateDef, WorkRequest, WorkerDef } from '../../src/model.ts';
import type { Settlement, Store } from '../../src/store/store.ts';

export const T0 = 1_700_000_000_000;
export const PERIOD = '2023-11';
export const NEXT_PERIOD = '2023-12';

let counter = 0;

/** A complete WorkRequest as admission builds it: PENDING, never claimed. */
export function makeRequest(over: Partial<WorkRequest> = {}): WorkRequest {
  const n = ++counter;
  const holdNano = over.holdNano ?? 10_000;
  const base: WorkRequest = {
    id: `req_${String(n).padStart(6, '0')}`,
    clientId: 'client-a',
    template: 'summarize',
    state: 'PENDING',
    urgency: 'normal',
    klass: 0,
    basePoints: 25.5,
    priority: { total: 25.5, parts: { tier: 15.5, urgency: 10, wait: 0, fairness: 0 } },
    model: 'gpt-test',
    maxTokens: 256,
    input: { text: `document ${n}`, lines: ['a', 'b'], nested: { ok: true, n: 1.25 } },
    parameters: { temperature: 0.2, style: 'brief' },
    policy: { worker: 'summarizer', timeoutMs: 30_000, retry: { baseDelayMs: 1000, maxDelayMs: 60_000, factor: 2 } },
    estimate: { inputTokens: 40, maxOutputTokens: 256, resources: { 'gpt-test': 296, email: 1 }, maxCostNano: holdNano },
    holdNano,
    period: PERIOD,
    reserved: null,
    attempts: 0,
    maxAttempts: 3,
    leaseToken: 0,
    leaseOwner: null,
    leaseExpiresAt: null,
    deadlineAt: null,
    runAt: null,
    progress: null,
    output: null,
    error: null,
    usage: null,
    costNano: 0,
    idempotencyKey: null,
    bodyHash: null,
    optimization: null,
    createdAt: T0 + n,
    updatedAt: T0 + n,
    startedAt: null,
    completedAt: null,
  };
  return { ...base, ...over };
}

export function makeClient(id: string, over: Partial<Client> = {}): Client {
  return { id, name: `Client ${id}`, tier: 'standard', monthlyBudgetUsd: null, maxConcurrent: null, createdAt: T0, updatedAt: T0, ...over };
}

export function httpWorker(name: string, over: Partial<WorkerDef> = {}): WorkerDef {
  return {
    name, transport: 'http', url: `http://127.0.0.1:9000/${name}`, maxConcurrency: 4, token: 'worker-secret',
    capabilities: ['summarize', 'translate'], env: { REGION: 'eu' }, source: 'api', ...over,
  };
}

export function subprocessWorker(name: string, over: Partial<WorkerDef> = {}): WorkerDef {
  return { name, transport: 'subprocess', command: ['node', 'worker.js', '--fast'], maxConcurrency: 1, capabilities: ['keywords'], source: 'config', ...over };
}

export function makeTemplate(name: string, over: Partial<TemplateDef> = {}): TemplateDef {
  return {
    name, worker: 'w-http', model: 'gpt-test', maxTokens: 512, resources: { email: 1 }, timeoutMs: 30_000,
    retry: { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 60_000, factor: 2 }, parameters: { temperature: 0 },
    description: `template ${name}`, cacheTtlS: 0, fallbackModels: [], critical: false, downgradeBudgetThreshold: 0.8, downgradeMaxWaitMs: 10_000,
    offpeak: { allowed: false, deadlineMs: 86_400_000 },
    source: 'api', ...over,
  };
}

export function usage(input: number, output: number, resources: Record<string, number> = {}): Usage {
  return { tokens: { input, output }, resources };
}

export function settlement(costNano: number, u: Usage = ZERO_USAGE, returned: Record<string, number> = {}): Settlement {
  return { usage: u, costNano, returned };
}

export const ERR = { code: 'WORKER_ERROR', message: 'the worker failed', retryable: true } as const;

export function must<T>(v: T | null | undefined, what = 'a value'): T {
  assert.ok(v !== null && v !== undefined, `expected ${what}, got ${String(v)}`);
  return v;
}

export async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof AllotError, `expected an AllotError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

/** Everything observable through the interface that a refused operation must leave alone. */
export async function snapshot(store: Store, clientIds: readonly string[]): Promise<unknown> {
  const budgets = [];
  for (const c of clientIds) budgets.push(...(await store.listBudgets(c)));
  return {
    requests: await store.listRequests({ limit: 10_000 }),
    budgets: budgets.toSorted((a, b) => `${a.clientId}/${a.period}`.localeCompare(`${b.clientId}/${b.period}`)),
    audit: await store.listAudit({ limit: 100_000 }),
  };
}

/** `from→to` of each transition audit row of a request, in order. */
export async function transitions(store: Store, requestId: string): Promise<string[]> {
  return (await store.listAudit({ requestId })).map((a) => `${a.from ?? 'null'}→${a.to ?? 'null'}`);
}

/** Deterministic PRNG (mulberry32). */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return must(items[this.int(items.length)], 'a non-empty list');
  }
}

/**
 * Replays a request mix against Orchestrator v2 or Allot and measures each
 * request from submission to its end as the caller sees it (`allot migrate
 * compare`). Both are asked to answer synchronously (v2 `wait: true`, Allot
 * POST /api/execute with wait_ms) and are polled only if they answer early,
 * so neither side's latency includes a polling interval.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface MixItem {
  readonly template: string;
  readonly input: Record<string, unknown>;
  readonly parameters?: Record<string, unknown> | undefined;
}

export interface Sample {
  readonly ok: boolean;
  readonly latencyMs: number;
  readonly costUsd: number;
  /** Allot only: which system ran it (Allot may itself route to v2). */
  readonly system?: string | undefined;
  readonly error?: string | undefined;
}

export interface Target {
  readonly name: 'v2' | 'allot';
  readonly url: string;
  readonly key: string | undefined;
}

export interface Stats {
  readonly count: number;
  readonly ok: number;
  readonly failed: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly meanMs: number;
  readonly totalCostUsd: number;
  readonly meanCostUsd: number;
  readonly systems: Readonly<Record<string, number>>;
}

/** Sentences deterministic request texts are made of (also the end-to-end tests'). */
export const SENTENCES: readonly string[] = [
  'Token buckets refill at a steady rate and cap bursts at their capacity.',
  'A fair scheduler gives every client its share of a contended resource.',
  'Budgets are held for the worst case so that concurrent requests never overspend.',
  'Workers report the tokens they really used, and unused reservations return to the bucket.',
  'Leases with fencing tokens make sure a stale dispatcher cannot complete a request.',
  'Cheaper models and cached results cut the cost of routine requests.',
  'Queues with five levels separate urgent work from batch and deferred work.',
  'The audit log records every transition so that operators can replay history.',
];

/** A deterministic mix of `n` requests of `template` (texts of 3 to 7 sentences, each one different). */
/** A deterministic text of `n` sentences for request `i`. */
export function sampleText(i: number, n: number): string {
  return Array.from({ length: n }, (_, k) => SENTENCES[(i * 7 + k * 3) % SENTENCES.length]).join(' ');
}

export function generatedMix(template: string, n: number): MixItem[] {
  return Array.from({ length: n }, (_, i) => {
    const text = `${sampleText(i, 3 + (i % 5))} Request ${i}.`;
    return { template, input: template === 'keywords' ? { text, limit: 5 } : { text, sentences: 2 } };
  });
}

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

export function stats(samples: readonly Sample[]): Stats {
  const lat = samples.map((s) => s.latencyMs).filter(Number.isFinite).toSorted((a, b) => a - b);
  const totalCostUsd = samples.reduce((a, s) => a + s.costUsd, 0);
  const systems: Record<string, number> = {};
  for (const s of samples) if (s.system) systems[s.system] = (systems[s.system] ?? 0) + 1;
  const ok = samples.filter((s) => s.ok).length;
  return {
    count: samples.length, ok, failed: samples.length - ok,
    p50: percentile(lat, 0.5), p95: percentile(lat, 0.95), p99: percentile(lat, 0.99),
    meanMs: lat.length ? lat.reduce((a, b) => a + b, 0) / lat.length : Number.NaN,
    totalCostUsd, meanCostUsd: samples.length ? totalCostUsd / samples.length : Number.NaN, systems,
  };
}

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'completed', 'failed', 'cancelled']);

async function call(t: Target, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(new URL(path, t.url), {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(t.key ? { authorization: `Bearer ${t.key}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed };
}

/** One request, submitted and followed to its end. */
async function one(t: Target, item: MixItem, tag: string, o: { timeoutMs: number; pollMs: number }): Promise<Sample> {
  const started = performance.now();
  const fail = (error: string): Sample => ({ ok: false, latencyMs: performance.now() - started, costUsd: 0, error });
  let r = t.name === 'v2'
    ? await call(t, 'POST', '/api/execute', { template_name: item.template, client_id: 'allot-migrate-compare', input: item.input, parameters: item.parameters ?? {}, priority: 'normal', request_id: tag, wait: true })
    : await call(t, 'POST', '/api/execute', { template: item.template, input: item.input, ...(item.parameters ? { parameters: item.parameters } : {}), wait_ms: o.timeoutMs });
  if (r.status >= 400) return fail(`HTTP ${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`);
  const id = String(t.name === 'v2' ? r.body.execution_id : r.body.request_id);
  const path = t.name === 'v2' ? `/api/executions/${encodeURIComponent(id)}` : `/api/execution/${encodeURIComponent(id)}`;
  while (!TERMINAL.has(String(r.body.status))) {
    if (performance.now() - started > o.timeoutMs) return fail('timed out');
    await sleep(o.pollMs);
    r = await call(t, 'GET', path);
    if (r.status >= 400) return fail(`HTTP ${r.status} polling ${path}`);
  }
  const latencyMs = performance.now() - started;
  const status = String(r.body.status).toUpperCase();
  return { ok: status === 'COMPLETED', latencyMs, costUsd: Number(r.body.cost_usd ?? 0) || 0, system: t.name === 'allot' ? String(r.body.system ?? 'allot') : 'v2', ...(status === 'COMPLETED' ? {} : { error: status }) };
}

/** Replay `items` against `t` with `concurrency` callers. */
export async function replay(t: Target, items: readonly MixItem[], o: { concurrency: number; timeoutMs: number; pollMs: number; runId: string }): Promise<Sample[]> {
  const out: Sample[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, o.concurrency) }, async () => {
      while (next < items.length) {
        const i = next++;
        try {
          out.push(await one(t, items[i] as MixItem, `compare-${o.runId}-${i}`, o));
        } catch (err) {
          out.push({ ok: false, latencyMs: Number.NaN, costUsd: 0, error: (err as Error).message });
        }
      }
    }),
  );
  return out;
}

/**
 * The optimizer's reference workload (used by `npm run bench:optimizer` and
 * its test): a reproducible reference workload run twice on
 * the real wiring (buildAllot, SQLite file, SDK worker on loopback): once
 * with the optimizer off (templates without cache, fallback models or
 * batching, payloads stored uncompressed) and once on. Prints cost, worker
 * calls, payload bytes stored and latency for each, and checks that the
 * savings ledger agrees with the measured differences (within 1%).
 *
 * The mix, from three clients: repeated FAQ questions (caching), classify
 * requests sharing a language (batching), requests on an expensive model
 * from a client running into its budget (model downgrade), and large
 * documents (compression).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { buildAllot } from '../../src/boot.ts';
import { resolveConfig } from '../../src/config/resolve.ts';
import { defineWorker, serveHttp } from '../../packages/worker/src/index.ts';

const ADMIN = 'optimizer-bench-admin-key-0123';

export interface RunResult {
  readonly costUsd: number;
  readonly calls: number;
  readonly bytesStored: number;
  readonly p50: number;
  readonly p99: number;
  readonly completed: number;
  readonly ledger: { usd: number; calls: number; bytes: number };
  /** Saved dollars per strategy, from the ledger. */
  readonly byStrategy: Record<string, number>;
}

/** The workload: deterministic, request i of N. */
export function workload(i: number): { who: 'a' | 'b' | 'c'; body: Record<string, unknown> } {
  const k = i % 10;
  if (k < 3) return { who: 'a', body: { template: 'faq', input: { question: `How do I reset my password? (variant ${i % 7})` } } };
  if (k < 6) return { who: 'b', body: { template: 'classify', input: { lang: ['en', 'fr', 'de'][Math.floor(i / 10) % 3], text: `ticket ${i}: the invoice total looks wrong` } } };
  if (k < 8) return { who: 'c', body: { template: 'reason', input: { text: `case ${i}: explain the refund policy for annual plans` } } };
  return { who: 'a', body: { template: 'digest', input: { document: `Section ${i}. ${'Quarterly revenue grew while churn fell across all regions. '.repeat(200)}` } } };
}

/** One run of `n` requests with the optimizer on or off. */
export async function runWorkload(n: number, optimize: boolean): Promise<RunResult> {
  const N = n;
  let calls = 0;
  const respond = (text: string) => ({ words: text.split(/\s+/).length });
  const usageOf = (input: Record<string, unknown>) => Math.ceil(JSON.stringify(input).length / 4);
  const worker = await serveHttp(
    defineWorker<Record<string, unknown>, unknown>({
      name: 'ref',
      dedupe: false,
      handler: (job, ctx) => {
        calls++;
        ctx.addUsage({ inputTokens: usageOf(job.input), outputTokens: 50 });
        return respond(JSON.stringify(job.input));
      },
      batchHandler: (jobs, ctx) => {
        calls++;
        return jobs.map((j, i) => {
          ctx.addUsage(i, { inputTokens: usageOf(j.input), outputTokens: 50 });
          return respond(JSON.stringify(j.input));
        });
      },
    }),
  );
  const dir = mkdtempSync(join(tmpdir(), 'allot-optbench-'));
  const on = optimize;
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    ...(on ? {} : { limits: { compress_min_bytes: 0 } }),
    resources: {
      'llm.big': { kind: 'tokens', model: 'big', unit: 'token', capacity: 1e9, refill_per_s: 1e9, cost_per_unit_usd: 0.00003 },
      'llm.small': { kind: 'tokens', model: 'small', unit: 'token', capacity: 1e9, refill_per_s: 1e9, cost_per_unit_usd: 0.000002 },
    },
    workers: { ref: { transport: 'http', url: worker.url, max_concurrency: 64 } },
    templates: {
      faq: { worker: 'ref', model: 'small', max_tokens: 50, ...(on ? { cache_ttl_s: 3600 } : {}) },
      classify: { worker: 'ref', model: 'small', max_tokens: 50, ...(on ? { batch: { key: 'lang', window_ms: 50, max_size: 20 } } : {}) },
      reason: { worker: 'ref', model: 'big', max_tokens: 50, ...(on ? { fallback_models: ['small'], downgrade: { budget_threshold: 0.8, max_wait_ms: 3_600_000 } } : {}) },
      digest: { worker: 'ref', model: 'small', max_tokens: 50 },
    },
  }));
  const config = resolveConfig({ ALLOT_CONFIG: join(dir, 'config.json'), ALLOT_DB: join(dir, 'a.db'), ALLOT_ADMIN_KEY: ADMIN });
  const allot = await buildAllot(config, { logger: pino({ level: 'silent' }) });
  allot.setPublicUrl('http://127.0.0.1:9'); // progress posts are not used by this worker
  await allot.start();
  const call = async (method: string, path: string, key: string, json?: unknown) => {
    const r = await allot.app.request(path, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: json === undefined ? undefined : JSON.stringify(json) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  // Client c's budget: what its requests cost on the expensive model, / 0.9. With the optimizer off it just
  // fits; with it on, c passes 80% about nine tenths of the way and the rest move to the cheaper model.
  const reasonCost = Array.from({ length: N }, (_, i) => workload(i))
    .filter((w) => w.who === 'c')
    .reduce((sum, w) => sum + (usageOf(w.body.input as Record<string, unknown>) + 50) * 0.00003, 0);
  const clients: Record<string, string> = {};
  for (const [who, budget] of [['a', null], ['b', null], ['c', Number((reasonCost / 0.9).toFixed(6))]] as const) {
    const r = await call('POST', '/admin/clients', ADMIN, { name: who, tier: 'enterprise', monthly_budget_usd: budget });
    clients[who] = (r.body as { api_key: string }).api_key;
  }
  const latencies: number[] = [];
  let completed = 0;
  // Four at a time, in order: concurrent enough for batches to form, deterministic enough to repeat.
  for (let i = 0; i < N; i += 4) {
    await Promise.all(
      Array.from({ length: Math.min(4, N - i) }, async (_, k) => {
        const w = workload(i + k);
        const t0 = performance.now();
        const r = await call('POST', '/api/execute', clients[w.who] as string, { ...w.body, wait_ms: 30_000 });
        latencies.push(performance.now() - t0);
        if (r.body.status === 'COMPLETED') completed++;
        else throw new Error(`request ${i + k} ended ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      }),
    );
  }
  let costNano = 0;
  const ledger = { usd: 0, calls: 0, bytes: 0 };
  const byStrategy: Record<string, number> = {};
  for (const who of ['a', 'b', 'c']) {
    const u = await call('GET', `/api/usage/${await clientId(clients[who] as string)}/current`, clients[who] as string);
    costNano += Math.round((u.body.spent_usd as number) * 1e9);
    const s = await call('GET', `/api/optimize/stats/${await clientId(clients[who] as string)}`, clients[who] as string);
    for (const [name, v] of Object.entries(s.body.strategies as Record<string, { saved_usd: number; calls_saved: number; bytes_saved: number }>)) {
      byStrategy[name] = (byStrategy[name] ?? 0) + v.saved_usd;
      ledger.usd += v.saved_usd;
      ledger.calls += v.calls_saved;
      ledger.bytes += v.bytes_saved;
    }
  }
  async function clientId(key: string): Promise<string> {
    const r = await call('GET', '/api/executions?limit=1', key);
    return ((r.body.requests as { client_id: string }[])[0] as { client_id: string }).client_id;
  }
  await allot.store.durable();
  const db = new DatabaseSync(join(dir, 'a.db'), { readOnly: true });
  const bytes = Number((db.prepare('SELECT SUM(length(input)) + SUM(COALESCE(length(output), 0)) AS b FROM requests').get() as { b: number }).b);
  db.close();
  await allot.stop();
  await worker.close();
  latencies.sort((x, y) => x - y);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] as number;
  return { costUsd: costNano / 1e9, calls, bytesStored: bytes, p50: pct(0.5), p99: pct(0.99), completed, ledger, byStrategy };
}


/**
 * `node bench/store.ts`: the SQLite store's cost per request, without HTTP.
 * 20,000 requests (N) through enqueue → claim (with start) → complete, in
 * groups of BATCH per group commit (env BATCH, default 50), once one
 * operation at a time (enqueue, claim, complete) and once batched
 * (enqueueMany, claimMany, completeMany), on fresh files. Prints µs per
 * request for each step, commits included in the step they end.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkRequest } from '../src/model.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';

const N = Number(process.env.N ?? 20_000);
const BATCH = Number(process.env.BATCH ?? 50);
const t = Date.now();
const id = (i: number): string => `r${String(i).padStart(8, '0')}`;
const request = (i: number): WorkRequest => ({
  id: id(i), clientId: 'c1', template: 'noop', state: 'PENDING', urgency: 'normal', klass: 0, basePoints: 20,
  priority: { total: 40, parts: { tier: 10, urgency: 10, wait: 0, fairness: 10 } }, model: undefined, maxTokens: 0, input: { n: i }, parameters: {},
  policy: { worker: 'noop', timeoutMs: 1000, retry: { baseDelayMs: 10, maxDelayMs: 100, factor: 2 } },
  estimate: { inputTokens: 0, maxOutputTokens: 0, resources: {}, maxCostNano: 5 }, holdNano: 5, period: '2026-11', reserved: null, attempts: 0, maxAttempts: 3,
  leaseToken: 0, leaseOwner: null, leaseExpiresAt: null, deadlineAt: null, runAt: null, progress: null, output: null, error: null, usage: null, costNano: 0,
  idempotencyKey: null, bodyHash: null, optimization: null, createdAt: t, updatedAt: t, startedAt: null, completedAt: null,
});
const claimOpts = { owner: 'o', now: t, leaseMs: 1000, reserved: {}, start: { deadlineAt: t + 1000, leaseExpiresAt: t + 2000 } };
const settlement = { usage: { tokens: { input: 0, output: 0 }, resources: {} }, costNano: 3, returned: {} };

async function run(batched: boolean): Promise<void> {
  const store = new SqliteStore(join(mkdtempSync(join(process.env.DIR ?? tmpdir(), 'allot-store-bench-')), 'a.db'));
  await store.migrate();
  await store.createClient({ id: 'c1', name: 'c', tier: 'basic', monthlyBudgetUsd: null, maxConcurrent: null, createdAt: 1, updatedAt: 1 }, 'h', 'p', 'a');
  const spent = { enqueue: 0, claim: 0, complete: 0 };
  for (let i = 0; i < N; i += BATCH) {
    const group = Array.from({ length: Math.min(BATCH, N - i) }, (_, k) => i + k);
    let t0 = performance.now();
    if (batched) await store.enqueueMany(group.map((k) => ({ request: request(k), budgetLimitNano: 1e15 })));
    else for (const k of group) await store.enqueue({ request: request(k), budgetLimitNano: 1e15 });
    await store.durable();
    spent.enqueue += performance.now() - t0;
    t0 = performance.now();
    const claimed = batched
      ? await store.claimMany(group.map((k) => ({ id: id(k), opts: claimOpts })))
      : await (async () => {
        const out = [];
        for (const k of group) out.push(await store.claim(id(k), claimOpts));
        return out;
      })();
    await store.durable();
    spent.claim += performance.now() - t0;
    t0 = performance.now();
    const ends = claimed.map((r) => ({ id: (r as WorkRequest).id, token: (r as WorkRequest).leaseToken, opts: { now: t, output: { ok: 1 }, settlement } }));
    if (batched) await store.completeMany(ends);
    else for (const e of ends) await store.complete(e.id, e.token, e.opts);
    await store.durable();
    spent.complete += performance.now() - t0;
  }
  const us = (ms: number): string => ((ms * 1000) / N).toFixed(1);
  console.log(`${batched ? 'batched     ' : 'one at a time'} (groups of ${BATCH}): enqueue ${us(spent.enqueue)} µs, claim+start ${us(spent.claim)} µs, complete ${us(spent.complete)} µs per request`);
  await store.close();
}

await run(false);
await run(true);

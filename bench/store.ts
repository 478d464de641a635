/**
 * `node bench/store.ts`: the SQLite store's cost per request, without HTTP:
 * enqueue, then claim + start + complete, with BATCH operations per group
 * commit (env BATCH, default 1).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';

const store = new SqliteStore(join(mkdtempSync(join(process.env.DIR ?? tmpdir(), 'allot-store-bench-')), 'a.db'));
await store.migrate();
await store.createClient({ id: 'c1', name: 'c', tier: 'basic', monthlyBudgetUsd: null, maxConcurrent: null, createdAt: 1, updatedAt: 1 }, 'h', 'p', 'a');
const N = 20000;
const t = Date.now();
const mk = (i: number) => ({ id: `r${String(i).padStart(8, '0')}`, clientId: 'c1', template: 'noop', state: 'PENDING' as const, urgency: 'normal' as const, klass: 0 as const, basePoints: 20, priority: { total: 40, parts: { tier: 10, urgency: 10, wait: 0, fairness: 10 } }, model: undefined, maxTokens: 0, input: { n: i }, parameters: {}, policy: { worker: 'noop', timeoutMs: 1000, retry: { baseDelayMs: 10, maxDelayMs: 100, factor: 2 } }, estimate: { inputTokens: 0, maxOutputTokens: 0, resources: {}, maxCostNano: 0 }, holdNano: 0, period: '2026-11', reserved: null, attempts: 0, maxAttempts: 3, leaseToken: 0, leaseOwner: null, leaseExpiresAt: null, deadlineAt: null, runAt: null, progress: null, output: null, error: null, usage: null, costNano: 0, idempotencyKey: null, bodyHash: null, optimization: null, createdAt: t, updatedAt: t, startedAt: null, completedAt: null });
const t0 = performance.now();
const BATCH = Number(process.env.BATCH ?? 1);
for (let i = 0; i < N; i += BATCH) {
  for (let k = i; k < i + BATCH; k++) await store.enqueue({ request: mk(k), budgetLimitNano: null });
  await store.durable();
}
const t1 = performance.now();
for (let i = 0; i < N; i += BATCH) {
  for (let k = i; k < i + BATCH; k++) {
    const id = `r${String(k).padStart(8, '0')}`;
    const c = (await store.claim(id, { owner: 'o', now: t, leaseMs: 1000, reserved: {} })) as { leaseToken: number };
    await store.start(id, c.leaseToken, { now: t, deadlineAt: t + 1000, leaseExpiresAt: t + 2000 });
    await store.complete(id, c.leaseToken, { now: t, output: {}, settlement: { usage: { tokens: { input: 0, output: 0 }, resources: {} }, costNano: 0, returned: {} } });
  }
  await store.durable();
}
const t2 = performance.now();
console.log(`batch ${BATCH}: enqueue ${((t1 - t0) * 1000 / N).toFixed(1)} µs/op, claim+start+complete ${((t2 - t1) * 1000 / N).toFixed(1)} µs/request`);
await store.close();

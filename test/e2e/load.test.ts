/**
 * 1,000 requests from three clients of different tiers through the real
 * server and real example workers (HTTP summarizer, subprocess keywords):
 * all complete, costs add up per client, and no bucket ever admitted more
 * than its capacity plus its refill over any interval.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NODE, ROOT } from '../helpers/proc.ts';
import { APP_BACKEND } from '../helpers/app-backend.ts';
import { allAudit, allotFiles, createClient, startAllot, startWorker, text, until, type AllotProc, type RunningWorker } from './harness.ts';

const CAPACITY = 4000;
const REFILL = 8000;
const TOTAL = 1000;
const KEYWORDS_EVERY = 25; // 40 subprocess requests: each one is a real child process

describe('1,000 requests from three tiers, end to end', () => {
  let worker: RunningWorker;
  let allot: AllotProc;
  const clients: { id: string; key: string; tier: string }[] = [];
  const submitted = new Map<string, string>(); // request id → client id

  before(async () => {
    worker = await startWorker('examples/summarizer/server.ts');
    const files = allotFiles({
      resources: {
        'test-llm': { kind: 'tokens', model: 'test-llm', unit: 'token', capacity: CAPACITY, refill_per_s: REFILL, cost_per_unit_usd: 0.000002, input_cost_per_unit_usd: 0.000001, output_cost_per_unit_usd: 0.000003 },
      },
      workers: {
        summarizer: { transport: 'http', url: worker.url, max_concurrency: 16 },
        keywords: { transport: 'subprocess', command: [NODE, `${ROOT}examples/keywords/worker.ts`], max_concurrency: 2 },
      },
      templates: {
        summarize: { worker: 'summarizer', model: 'test-llm', max_tokens: 120, timeout_ms: 15_000 },
        keywords: { worker: 'keywords', model: 'test-llm', max_tokens: 60, timeout_ms: 30_000 },
      },
    });
    allot = await startAllot(files);
    for (const tier of ['enterprise', 'standard', 'basic']) clients.push({ ...(await createClient(allot, `client-${tier}`, tier)), tier });
  });

  after(async () => {
    await allot?.stop();
    await worker?.proc.stop();
  });

  it('accepts and completes every request', async () => {
    const callers = clients.map((c) => allot.as(c.key));
    let next = 0;
    await Promise.all(
      Array.from({ length: 24 }, async () => {
        while (next < TOTAL) {
          const i = next++;
          const who = i % 3;
          const template = i % KEYWORDS_EVERY === 0 ? 'keywords' : 'summarize';
          const urgency = (['low', 'normal', 'high', 'critical'] as const)[i % 4];
          const r = await (callers[who] as (typeof callers)[number]).request<{ request_id: string }>('POST', '/api/queue/enqueue', {
            template, urgency, input: { text: text(i, 2 + (i % 5)), sentences: 2 },
          });
          assert.equal(r.status, 202, JSON.stringify(r.body));
          submitted.set(r.body.request_id, (clients[who] as { id: string }).id);
        }
      }),
    );
    assert.equal(submitted.size, TOTAL);
    await until(async () => {
      const s = await allot.admin.request<{ requests: Record<string, number> }>('GET', '/status');
      return (s.body.requests.COMPLETED ?? 0) + (s.body.requests.FAILED ?? 0) === TOTAL;
    }, 240_000, 'all requests to finish');
    const s = await allot.admin.request<{ requests: Record<string, number> }>('GET', '/status');
    assert.equal(s.body.requests.COMPLETED, TOTAL, `states: ${JSON.stringify(s.body.requests)}`);
  });

  it("charges each client exactly the sum of its requests' costs, and releases every hold", async () => {
    for (const c of clients) {
      const api = allot.as(c.key);
      let sumNano = 0;
      let count = 0;
      let page: string | undefined;
      for (;;) {
        const r = await api.request<{ requests: { cost_usd: number; status: string; usage: { tokens: { input: number; output: number } } }[]; next_before: string | null }>(
          'GET', `/api/executions?limit=1000${page ? `&before=${page}` : ''}`,
        );
        for (const q of r.body.requests) {
          assert.equal(q.status, 'COMPLETED');
          assert.ok(q.usage.tokens.input > 0, 'the worker reported real input tokens');
          sumNano += Math.round(q.cost_usd * 1e9);
          count++;
        }
        if (r.body.requests.length < 1000 || !r.body.next_before) break;
        page = r.body.next_before;
      }
      const expected = [...submitted.values()].filter((id) => id === c.id).length;
      assert.equal(count, expected, `${c.tier}: sees exactly its own ${expected} requests`);
      const u = await api.request<{ spent_usd: number; held_usd: number }>('GET', `/api/usage/${c.id}/current`);
      assert.equal(Math.round(u.body.spent_usd * 1e9), sumNano, `${c.tier}: spent equals the sum of its requests`);
      assert.equal(u.body.held_usd, 0, `${c.tier}: no hold left`);
      assert.ok(sumNano > 0);
    }
  });

  let saturation: { throttledWindows: number; worst: number } | undefined;
  // On PostgreSQL + Redis the bucket is Redis's, refilled by Redis's clock, and the audit's order is the order rows were
  // numbered in concurrent transactions: neither is the bucket's order or time. The bound is checked there on Redis's
  // own clock, from several connections at once (test/contract/limiter.test.ts).
  it('never let the bucket admit more than capacity + refill over any interval', { skip: APP_BACKEND === 'postgres' ? 'the audit log is not the Redis bucket\'s order or clock (the limiter contract checks the bound on Redis)' : false }, async () => {
    const audit = await allAudit(allot);
    // Net consumption events of the token bucket, in commit order: + reserved at claim, − returned at settle.
    const events: { at: number; amount: number }[] = [];
    for (const e of audit) {
      if (e.kind !== 'transition' || !e.data) continue;
      const reserved = (e.data.reserved as Record<string, number> | undefined)?.['test-llm'];
      if (e.to === 'PREPARING' && reserved !== undefined) events.push({ at: e.at_ms, amount: reserved });
      const returned = (e.data.returned as Record<string, number> | undefined)?.['test-llm'];
      if (returned !== undefined) events.push({ at: e.at_ms, amount: -returned });
    }
    assert.ok(events.length >= 2 * TOTAL, `expected claim and settle events, got ${events.length}`);
    const prefix = [0];
    for (const ev of events) prefix.push((prefix.at(-1) as number) + ev.amount);
    let worst = -Infinity;
    let throttledWindows = 0;
    for (let i = 0; i < events.length; i++) {
      for (let j = i; j < events.length; j++) {
        const net = (prefix[j + 1] as number) - (prefix[i] as number);
        // Audit times are whole ms: allow 1 ms of refill for rounding at each end.
        const bound = CAPACITY + (REFILL * ((events[j] as { at: number }).at - (events[i] as { at: number }).at + 2)) / 1000;
        worst = Math.max(worst, net / bound);
        if (net > 0.9 * bound) throttledWindows++;
      }
    }
    assert.ok(worst <= 1 + 1e-9, `some interval admitted ${(worst * 100).toFixed(2)}% of capacity + refill`);
    saturation = { throttledWindows, worst };
  });

  // The load was meant to saturate the bucket; if it never came close, the bound above proves little.
  // On PostgreSQL this Allot does not yet dispatch fast enough to saturate it (worst ratio ~0.8; issue 11).
  it('the load saturated the bucket (so the bound above was tested)', { skip: APP_BACKEND === 'postgres' ? 'the bound above is not checked from the audit on PostgreSQL' : false }, () => {
    assert.ok(saturation && saturation.throttledWindows > 0, `the bucket was never near saturation (worst ratio ${saturation?.worst.toFixed(3)})`);
  });
});

/**
 * Issue 9, probe finding 2: tokenizing a 1 MB input blocked the event loop
 * for seconds (8 at once: /health p50 9.3 s), before any budget check, even
 * for a client with a $0 budget. Now the cheap checks come first (a budget
 * that cannot cover even an empty input is refused without counting), and
 * large inputs are counted on a worker thread, clients taking turns: while
 * one client sends 8 one-megabyte inputs at once, another client's
 * submissions and /health are still answered promptly.
 *
 * Allot runs as a real process; latencies are measured from this one. The
 * bound here (p99 under 500 ms) only tells "the event loop is not blocked"
 * from "it is" (counting one megabyte on it takes seconds): the target, p99
 * under 50 ms, is measured by `npm run bench` (phase big-inputs), on this
 * shared machine, not asserted by a test.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import { allotFiles, createClient, startAllot, startWorker, type AllotProc, type RunningWorker } from './harness.ts';
import { percentile, sleep } from '../helpers/proc.ts';
import { prose } from '../helpers/prose.ts';

/** Megabytes each of the 8 senders sends, one after another: enough for a p99 over a few hundred samples. */
const ROUNDS = 6;

let worker: RunningWorker;
let allot: AllotProc;

before(async () => {
  worker = await startWorker('examples/noop/server.ts');
  allot = await startAllot(
    allotFiles({
      limits: { max_body_bytes: 2 * 1024 * 1024 },
      resources: {
        'llm.big': { kind: 'tokens', model: 'gpt-4o-mini', unit: 'token', capacity: 5_000_000, refill_per_s: 5_000_000, cost_per_unit_usd: 0.00000015 },
      },
      workers: { noop: { transport: 'http', url: worker.url, max_concurrency: 16 } },
      templates: { digest: { worker: 'noop', model: 'gpt-4o-mini', max_tokens: 100 } },
    }),
  );
});

after(async () => {
  await allot?.stop();
  await worker?.proc.stop();
});

/** POST a pre-serialized body; resolves with the status and parsed answer. */
function post(path: string, key: string, body: Buffer): Promise<{ status: number; body: { error?: { code: string; details?: Record<string, unknown> }; estimate?: { input_tokens: number } } }> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, allot.url), {
      method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': body.length, authorization: `Bearer ${key}` },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** allot_tokenizer_inputs_total and _chars_total by where (inline, thread), from /metrics. */
async function tokenizerCounts(): Promise<Record<string, number>> {
  const m = await allot.admin.request<string>('GET', '/metrics');
  const out: Record<string, number> = {};
  for (const x of String(m.body).matchAll(/^allot_tokenizer_(inputs|chars)_total\{where="(\w+)"\} (\d+)/gm)) out[`${x[1]}.${x[2]}`] = Number(x[3]);
  return out;
}

/** Latencies of `fn` called back to back every `everyMs` until `done()`. */
async function probe(fn: () => Promise<unknown>, everyMs: number, done: () => boolean): Promise<number[]> {
  const out: number[] = [];
  while (!done()) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
    await sleep(everyMs);
  }
  return out;
}

test('a $0 budget is refused before its megabyte is counted', async () => {
  const broke = await createClient(allot, 'broke', 'basic', { monthly_budget_usd: 0 });
  const bodies = Array.from({ length: 8 }, (_, i) => Buffer.from(JSON.stringify({ template: 'digest', input: { text: prose(100 + i, 1_000_000) } })));
  const t0 = performance.now();
  const answers = await Promise.all(bodies.map((b) => post('/api/queue/enqueue', broke.key, b)));
  const ms = performance.now() - t0;
  for (const a of answers) {
    assert.equal(a.status, 402);
    assert.equal(a.body.error?.code, 'BUDGET_EXCEEDED');
    assert.equal(a.body.error?.details?.required_is_lower_bound, true, 'refused by the lower bound, before counting');
  }
  assert.ok(ms < 5_000, `8 refusals took ${ms.toFixed(0)} ms`);
});

/** Far above the 50 ms target (the bench's big-inputs phase), far below what counting on the event loop costs. */
const NOT_BLOCKED_MS = 500;

test('8 concurrent 1 MB submissions from one client, sustained: another client and /health are not held up (p99 under 500 ms)', async () => {
  const heavy = await createClient(allot, 'heavy', 'enterprise', { monthly_budget_usd: 1000 });
  const light = await createClient(allot, 'light', 'premium');
  const texts = Array.from({ length: 8 }, (_, i) => prose(i + 1, 1_000_000));
  const bodies = texts.map((t) => Buffer.from(JSON.stringify({ template: 'digest', input: { text: t } })));
  const smallBody = { template: 'digest', input: { text: 'What is a token bucket?' } };
  const lightClient = allot.as(light.key);
  const healthClient = allot.as('');

  // Warm up: the light path, and the counting thread's encoding (loaded on its first long text).
  for (let i = 0; i < 20; i++) await lightClient.request('POST', '/api/queue/enqueue', { template: 'digest', input: { text: `warm ${i}` } });
  assert.equal((await post('/api/queue/enqueue', heavy.key, Buffer.from(JSON.stringify({ template: 'digest', input: { text: prose(99, 20_000) } })))).status, 202);

  const counted0 = await tokenizerCounts();
  // Eight at a time, each sender sending its next megabyte as soon as the last was answered, ROUNDS rounds each.
  let finished = false;
  const heavyRun = Promise.all(
    bodies.map(async (b, i) => {
      const out = [];
      for (let round = 0; round < ROUNDS; round++) out.push({ i, answer: await post('/api/queue/enqueue', heavy.key, b) });
      return out;
    }),
  ).then((xs) => xs.flat()).finally(() => {
    finished = true;
  });
  const [answers, lightMs, healthMs] = await Promise.all([
    heavyRun,
    probe(async () => {
      const r = await lightClient.request('POST', '/api/queue/enqueue', smallBody);
      assert.equal(r.status, 202);
    }, 5, () => finished),
    probe(async () => {
      const r = await healthClient.request('GET', '/health');
      assert.equal(r.status, 200);
    }, 5, () => finished),
  ]);
  assert.equal(answers.length, 8 * ROUNDS);
  for (const { i, answer: a } of answers) {
    assert.equal(a.status, 202, JSON.stringify(a.body).slice(0, 300));
    // Counted in the model's own encoding (gpt-4o-mini: o200k_base), exactly.
    assert.equal(a.body.estimate?.input_tokens, o200k(texts[i] as string));
  }
  // Every megabyte was counted on the tokenizer's thread, none on the event loop; the small submissions inline.
  const counted = await tokenizerCounts();
  const delta = (k: string): number => (counted[k] ?? 0) - (counted0[k] ?? 0);
  assert.equal(delta('inputs.thread'), 8 * ROUNDS, JSON.stringify({ before: counted0, counted }));
  assert.ok(delta('chars.thread') >= 8 * ROUNDS * 1_000_000, JSON.stringify({ before: counted0, counted }));
  assert.ok(delta('chars.inline') < lightMs.length * 200, `only the small inputs were counted inline: ${JSON.stringify({ before: counted0, counted })}`);
  const p = (xs: number[], q: number): number => percentile(xs.toSorted((a, b) => a - b), q);
  const report = `light submissions: n=${lightMs.length} p50 ${p(lightMs, 0.5).toFixed(1)} p99 ${p(lightMs, 0.99).toFixed(1)} ms; /health: n=${healthMs.length} p50 ${p(healthMs, 0.5).toFixed(1)} p99 ${p(healthMs, 0.99).toFixed(1)} ms`;
  console.log(report);
  assert.ok(lightMs.length >= 50 && healthMs.length >= 50, `enough samples: ${report}`);
  assert.ok(p(lightMs, 0.99) < NOT_BLOCKED_MS, report);
  assert.ok(p(healthMs, 0.99) < NOT_BLOCKED_MS, report);
});

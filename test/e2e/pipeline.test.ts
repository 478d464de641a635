/**
 * Pipelines (issue 5): one template, three stages on three kinds of worker
 * (the v2 stand-in as a separate process, a direct SDK worker over HTTP,
 * the keywords example as a subprocess), each stage's output feeding the
 * next by reference; progress and usage add up; a failed stage is retried
 * on its own; a cancelled pipeline stops at once.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { defineWorker, serveHttp, WorkerError, type HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { NODE, ROOT, sleep, startProcess, type Proc } from '../helpers/proc.ts';
import { startHarness, type Harness, type Json } from '../helpers/app-harness.ts';
import { FakeClock } from '../../src/core/clock.ts';

const TOKEN = 'legacy-worker-token-0123';
let h: Harness;
let legacy: Proc;
let legacyUrl: string;
let direct: HttpWorkerServer;
/** Calls the direct worker received, by request id. */
const directCalls = new Map<string, number>();
/** Request ids whose first direct call fails (retryable). */
const failOnce = new Set<string>();
/** Inputs whose direct call waits (up to 10 s) until aborted; the ids whose call saw the abort. */
const SLOW = 'hold this stage';
const abortedCalls = new Set<string>();
/** Inputs whose first direct call waits until aborted (a dispatcher that dies mid-stage). */
const HOLD_ONCE = 'hold the first time';
const heldOnce = new Set<string>();
/** Direct calls in flight now, and the most seen at once. */
const directLoad = { now: 0, max: 0 };

const legacyStats = async (): Promise<{ handshakes: number; processed: number; acknowledged: number; fetchedRefs: number }> =>
  (await (await fetch(`${legacyUrl}/stats`)).json()) as never;

before(async () => {
  h = await startHarness({});
  legacy = await startProcess(
    [join(ROOT, 'examples/v2-legacy/server.ts'), '--port', '0', '--orchestrator', h.relayUrl, '--token', TOKEN, '--name', 'legacy', '--delay-ms', '50'],
    { ready: /listening on (http:\/\/\S+)/ },
  );
  legacyUrl = /listening on (http:\/\/\S+)/.exec(legacy.output())?.[1] as string;
  // The direct stage turns the legacy worker's { words, upper } back into text, as a team's glue worker would.
  direct = await serveHttp(
    defineWorker<{ words?: number; upper?: string; text?: string }, { text: string; words: number }>({
      name: 'lower',
      dedupe: false,
      handler: async (job, ctx) => {
        directCalls.set(job.requestId, (directCalls.get(job.requestId) ?? 0) + 1);
        directLoad.max = Math.max(directLoad.max, ++directLoad.now);
        try {
        if (failOnce.delete(job.requestId)) throw new WorkerError('UPSTREAM_BUSY', 'busy, try again', { retryable: true });
        const holdFirst = (job.input.upper ?? '').includes(HOLD_ONCE.toUpperCase()) && !heldOnce.has(job.requestId);
        if (holdFirst) heldOnce.add(job.requestId);
        if (holdFirst || (job.input.upper ?? '').includes(SLOW.toUpperCase())) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, 10_000);
            ctx.signal.addEventListener('abort', () => {
              clearTimeout(t);
              abortedCalls.add(job.requestId);
              resolve();
            }, { once: true });
          });
        }
        ctx.progress(50, 'lowering');
        await sleep(150); // Long enough for the (coalesced) progress post to arrive while the stage runs.
        const text = (job.input.upper ?? job.input.text ?? '').toLowerCase();
        ctx.addUsage({ inputTokens: 7, outputTokens: 11 });
        return { text, words: job.input.words ?? text.split(/\s+/).filter(Boolean).length };
        } finally {
          directLoad.now--;
        }
      },
    }),
  );
  const admin = { key: h.adminKey };
  for (const json of [
    { name: 'legacy', url: legacyUrl, token: TOKEN }, // transport detected: v2
    { name: 'lower', transport: 'http', url: direct.url, token: 'direct-worker-token-01' },
    { name: 'keywords', transport: 'subprocess', command: [NODE, join(ROOT, 'examples/keywords/worker.ts')], token: 'kw-worker-token-0001' },
  ]) {
    const r = await h.call('POST', '/admin/workers', { ...admin, json });
    assert.equal(r.status, 201, r.text);
  }
  const retry = { base_delay_ms: 20, max_delay_ms: 50 };
  for (const json of [
    { name: 'research', stages: [{ worker: 'legacy' }, { worker: 'lower' }, { worker: 'keywords', parameters: { unused: true } }], timeout_ms: 20_000, retry },
    { name: 'reverse', stages: [{ worker: 'lower' }, { worker: 'legacy' }], timeout_ms: 20_000, retry },
  ]) {
    const r = await h.call('POST', '/admin/templates', { ...admin, json });
    assert.equal(r.status, 201, r.text);
  }
});

after(async () => {
  await h?.close();
  await legacy?.stop();
  await direct?.close();
});

const TEXT = 'Legacy workers must keep working while the pipeline migrates to Allot. Reference payloads travel between stages. '.repeat(20); // ~2.3 KB

async function submit(template: string, input: unknown, key: string): Promise<Json> {
  const r = await h.call('POST', '/api/queue/enqueue', { key, json: { template, input } });
  assert.ok(r.status === 202 || r.status === 200, r.text);
  return r.body;
}

test('v2 → direct → subprocess: each output feeds the next by reference; usage and progress add up', async () => {
  const c = await h.createClient('standard');
  const statsBefore = await legacyStats();
  const seen: [string, number, string | undefined][] = [];
  h.deps.events.on('request:progress', (rid, pct, msg) => seen.push([rid, pct, msg]));
  const accepted = await submit('research', { text: TEXT }, c.key);
  const id = accepted.request_id ?? accepted.id;
  const done = await h.waitTerminal(id, c.key, 30_000);
  assert.equal(done.status, 'COMPLETED', JSON.stringify(done));
  const keywords = done.output.keywords as { phrase?: string; keyword?: string }[];
  assert.ok(Array.isArray(keywords) && keywords.length > 0, `the last stage (keywords, a subprocess) produced the output: ${JSON.stringify(done.output).slice(0, 300)}`);
  assert.ok(JSON.stringify(keywords).includes('legacy workers'), 'from the text the earlier stages passed on (lower-cased by the direct stage)');

  const statsAfter = await legacyStats();
  assert.equal(statsAfter.processed - statsBefore.processed, 1, 'the v2 stage ran once');
  assert.equal(statsAfter.fetchedRefs - statsBefore.fetchedRefs, 1, 'its >1 KiB input was fetched from Allot by reference');

  const req = await h.store.getRequest(id);
  const stages = req?.pipeline?.stages ?? [];
  assert.deepEqual(stages.map((s) => [s.worker, s.state, s.attempts]), [['legacy', 'COMPLETED', 1], ['lower', 'COMPLETED', 1], ['keywords', 'COMPLETED', 1]]);
  assert.match(String(stages[0]?.outputRef), /^ref_/, 'the v2 stage output (>1 KiB) is kept by reference for the next stage');
  assert.match(String(stages[1]?.outputRef), /^ref_/, 'so is the direct stage output');
  const ref = await h.store.getRef(String(stages[0]?.outputRef), Date.now());
  assert.equal(ref?.worker, 'lower', 'readable only by the worker of the next stage');
  assert.equal(req?.pipeline?.next, 3);
  assert.deepEqual(done.stages.map((s: Json) => [s.stage, s.worker, s.status]), [[0, 'legacy', 'COMPLETED'], [1, 'lower', 'COMPLETED'], [2, 'keywords', 'COMPLETED']], 'the client sees the stages');
  assert.equal(done.stages[0].output_ref, stages[0]?.outputRef);

  // Usage adds up across the stages: v2 tokens_used (words) + the direct 7/11 + keywords' own count.
  const sum = stages.reduce((a, s) => ({ input: a.input + (s.usage?.tokens.input ?? 0), output: a.output + (s.usage?.tokens.output ?? 0) }), { input: 0, output: 0 });
  assert.deepEqual(req?.usage?.tokens, sum);
  assert.ok((stages[0]?.usage?.tokens.output ?? 0) > 300, 'the v2 stage reported its tokens_used');
  assert.deepEqual(stages[1]?.usage?.tokens, { input: 7, output: 11 });
  assert.equal(done.progress?.percent ?? req?.progress?.percent, 100);

  const audit = await h.store.listAudit({ requestId: id });
  const stageRows = audit.filter((e) => e.kind === 'stage').map((e) => [(e.data as Json).stage, (e.data as Json).state]);
  assert.deepEqual(stageRows, [[0, 'COMPLETED'], [1, 'COMPLETED'], [2, 'COMPLETED']]);
  // Progress is reported across the stages: the direct stage (2 of 3) posting 50% is 50% of the whole.
  const mine = seen.filter(([rid]) => rid === id);
  assert.ok(mine.some(([, pct, msg]) => pct === 50 && String(msg).startsWith('stage 2/3: lowering')), JSON.stringify(mine));
  assert.ok(mine.every(([, pct]) => pct >= 0 && pct <= 100));
  assert.ok(h.progressPosts.some((p) => p.path.includes(id)), 'it came through the progress endpoint');
});

test('direct → v2: a stage output kept by reference is handed to the v2 worker as its input_ref', async () => {
  const c = await h.createClient('standard');
  const statsBefore = await legacyStats();
  const accepted = await submit('reverse', { text: TEXT }, c.key);
  const id = accepted.request_id ?? accepted.id;
  const done = await h.waitTerminal(id, c.key, 30_000);
  assert.equal(done.status, 'COMPLETED', JSON.stringify(done));
  assert.equal(done.output.upper, TEXT.toLowerCase().toUpperCase());
  const statsAfter = await legacyStats();
  assert.equal(statsAfter.fetchedRefs - statsBefore.fetchedRefs, 1, 'the v2 worker fetched the previous stage output by reference');
  const req = await h.store.getRequest(id);
  assert.match(String(req?.pipeline?.stages[0]?.outputRef), /^ref_/);
  assert.equal((await h.store.getRef(String(req?.pipeline?.stages[0]?.outputRef), Date.now()))?.worker, 'legacy');
});

test('a failed stage is retried on its own: earlier stages do not run again', async () => {
  const c = await h.createClient('standard');
  const statsBefore = await legacyStats();
  const accepted = await submit('research', { text: 'a short text about pipelines and stages' }, c.key);
  const id = accepted.request_id ?? accepted.id;
  failOnce.add(id);
  const done = await h.waitTerminal(id, c.key, 30_000);
  assert.equal(done.status, 'COMPLETED', JSON.stringify(done));
  assert.equal(directCalls.get(id), 2, 'the direct stage ran twice');
  assert.equal((await legacyStats()).processed - statsBefore.processed, 1, 'the v2 stage before it ran once');
  const req = await h.store.getRequest(id);
  assert.equal(req?.attempts, 1, 'one attempt of the request');
  assert.deepEqual(req?.pipeline?.stages.map((s) => s.attempts), [1, 2, 1]);
  const audit = await h.store.listAudit({ requestId: id });
  assert.deepEqual(
    audit.filter((e) => e.kind === 'stage').map((e) => [(e.data as Json).stage, (e.data as Json).state]),
    [[0, 'COMPLETED'], [1, 'RETRYING'], [1, 'COMPLETED'], [2, 'COMPLETED']],
  );
});

test('a cancelled pipeline stops at once: the running stage is aborted, later stages never start', async () => {
  const c = await h.createClient('standard');
  const accepted = await submit('research', { text: SLOW }, c.key);
  const id = accepted.request_id ?? accepted.id;
  // Wait until the v2 stage is done and the direct one (which holds) is running.
  for (let i = 0; i < 500 && !directCalls.has(id); i++) await sleep(10);
  assert.equal(directCalls.get(id), 1, 'the direct stage started');
  const t0 = performance.now();
  const cancel = await h.call('POST', `/api/execution/${id}/cancel`, { key: c.key });
  assert.equal(cancel.status, 200, cancel.text);
  assert.ok(performance.now() - t0 < 1000, 'the cancel answered at once');
  for (let i = 0; i < 200 && !abortedCalls.has(id); i++) await sleep(10);
  assert.ok(abortedCalls.has(id), 'the running stage saw its call aborted');
  await sleep(300);
  const r = await h.store.getRequest(id);
  assert.equal(r?.state, 'CANCELLED');
  assert.deepEqual(r?.pipeline?.stages.map((s) => s.state), ['COMPLETED', 'RUNNING', 'PENDING'], 'the keywords stage never started');
  assert.equal(directCalls.get(id), 1, 'and the direct stage was not retried');
});

test('a later stage waits for a slot of its worker: max_concurrency holds across pipelines', async () => {
  const admin = { key: h.adminKey };
  assert.equal((await h.call('POST', '/admin/workers', { ...admin, json: { name: 'lower1', transport: 'http', url: direct.url, max_concurrency: 1 } })).status, 201);
  assert.equal((await h.call('POST', '/admin/templates', { ...admin, json: { name: 'narrow', stages: [{ worker: 'legacy' }, { worker: 'lower1' }], timeout_ms: 20_000 } })).status, 201);
  const c = await h.createClient('standard');
  directLoad.max = 0;
  const ids = await Promise.all(Array.from({ length: 4 }, async (_, i) => (await submit('narrow', { text: `pipeline number ${i} waits its turn` }, c.key)).request_id as string));
  let slotsMax = 0;
  const sampler = setInterval(() => (slotsMax = Math.max(slotsMax, h.scheduler.runningOnWorker('lower1'))), 2);
  const done = await Promise.all(ids.map((id) => h.waitTerminal(id, c.key, 30_000))).finally(() => clearInterval(sampler));
  assert.deepEqual(done.map((d: Json) => d.status), ['COMPLETED', 'COMPLETED', 'COMPLETED', 'COMPLETED']);
  assert.equal(slotsMax, 1, 'Allot never gave the max_concurrency 1 worker two stages at once');
  assert.equal(directLoad.max, 1, 'and the worker never ran two at once');
  assert.equal(h.scheduler.runningOnWorker('lower1'), 0, 'and its slots are all free again');
  assert.equal(h.scheduler.runningOnWorker('legacy'), 0);
});

test('pipeline templates are validated: unknown stage workers and worker+stages are named', async () => {
  const bad = await h.call('POST', '/admin/templates', { key: h.adminKey, json: { name: 'bad', stages: [{ worker: 'legacy' }, { worker: 'nope' }] } });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /stages\[1\]\.worker: no worker named "nope"/);
  const both = await h.call('POST', '/admin/templates', { key: h.adminKey, json: { name: 'bad2', worker: 'lower', stages: [{ worker: 'legacy' }] } });
  assert.equal(both.status, 400);
  assert.match(both.body.error.message, /either worker or stages/);
  const got = await h.call('GET', '/admin/templates/research', { key: h.adminKey });
  assert.deepEqual(got.body.template.stages.map((s: Json) => s.worker), ['legacy', 'lower', 'keywords']);
  const del = await h.call('DELETE', '/admin/workers/keywords', { key: h.adminKey });
  assert.equal(del.status, 409, 'a worker used by a pipeline stage cannot be deleted');
});

test('a pipeline taken back after its lease expired resumes at its unfinished stage, with the earlier output from its reference', async () => {
  const clock = new FakeClock(Date.now());
  // Its own v2 stand-in: it fetches references from this Allot.
  const h2 = await startHarness({ workers: { lower: { transport: 'http', url: direct.url } } }, { clock });
  const legacy2 = await startProcess(
    [join(ROOT, 'examples/v2-legacy/server.ts'), '--port', '0', '--orchestrator', h2.relayUrl, '--token', TOKEN, '--name', 'legacy'],
    { ready: /listening on (http:\/\/\S+)/ },
  );
  const legacy2Url = /listening on (http:\/\/\S+)/.exec(legacy2.output())?.[1] as string;
  const stats2 = async (): Promise<{ processed: number; fetchedRefs: number }> => (await (await fetch(`${legacy2Url}/stats`)).json()) as never;
  assert.equal((await h2.call('POST', '/admin/workers', { key: h2.adminKey, json: { name: 'legacy', transport: 'v2', url: legacy2Url, token: TOKEN } })).status, 201);
  assert.equal((await h2.call('POST', '/admin/templates', { key: h2.adminKey, json: { name: 'two', stages: [{ worker: 'legacy' }, { worker: 'lower' }], timeout_ms: 60_000 } })).status, 201);
  try {
    const c = await h2.createClient('standard');
    const r = await h2.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'two', input: { text: `${HOLD_ONCE} ${TEXT}` } } });
    assert.equal(r.status, 202, r.text);
    const id = r.body.request_id as string;
    for (let i = 0; i < 500 && !heldOnce.has(id); i++) await sleep(10);
    assert.ok(heldOnce.has(id), 'the second stage started and hangs');
    const mid = await h2.store.getRequest(id);
    assert.deepEqual(mid?.pipeline?.stages.map((s) => s.state), ['COMPLETED', 'RUNNING']);
    const firstToken = mid?.leaseToken;
    // The dispatcher is presumed dead: its lease runs out and the reaper takes the request back.
    clock.advance(60_000 + 10_000);
    assert.equal(await h2.scheduler.reap(), 1);
    await h2.scheduler.promoteDue();
    const done = await h2.waitTerminal(id, c.key, 20_000);
    assert.equal(done.status, 'COMPLETED', JSON.stringify(done));
    assert.equal(done.output.text, `${HOLD_ONCE} ${TEXT}`.toUpperCase().toLowerCase());
    const st = await stats2();
    assert.equal(st.processed, 1, 'the finished v2 stage did not run again');
    assert.equal(st.fetchedRefs, 1, 'its >1 KiB input went by reference');
    const end = await h2.store.getRequest(id);
    assert.ok((end?.leaseToken ?? 0) > (firstToken ?? 0), 'a new lease ran the rest');
    assert.deepEqual(end?.pipeline?.stages.map((s) => [s.state, s.attempts]), [['COMPLETED', 1], ['COMPLETED', 1]]);
    assert.equal(end?.attempts, 2, 'two attempts of the request: the one taken back and the one that resumed');
    assert.ok(abortedCalls.has(id), 'the stale stage call was aborted');
  } finally {
    await h2.close();
    await legacy2.stop();
  }
});

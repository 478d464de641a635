import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WorkerError, defineWorker, parseJob } from '../../packages/worker/src/index.ts';
import { parseJobEnvelope } from '../../packages/worker/src/job.ts';

const base = { request_id: 'req-1', template: 'summarize', input: { text: 'hi' } };

describe('parseJob', () => {
  test('maps the wire body to the handler view, with defaults', () => {
    assert.deepEqual(parseJob(base), {
      requestId: 'req-1',
      template: 'summarize',
      stage: 0,
      attempt: 1,
      input: { text: 'hi' },
      parameters: {},
      deadlineMs: null,
      timeoutMs: null,
    });
    const job = parseJob({ ...base, stage: 2, attempt: 4, parameters: { model: 'm', max_tokens: 9, x: 1 }, deadline_ms: 123 });
    assert.equal(job.stage, 2);
    assert.equal(job.attempt, 4);
    assert.deepEqual(job.parameters, { model: 'm', max_tokens: 9, x: 1 });
    assert.equal(job.deadlineMs, 123);
    assert.equal('max_tokens' in parseJob({ ...base, parameters: { max_tokens: null } }).parameters, false);
  });

  test('timeout_ms is the time left: the deadline is when the job arrived plus it, on this machine’s clock', () => {
    // deadline_ms far in the past (a sender whose clock is behind ours): the duration decides.
    const before = Date.now();
    const job = parseJob({ ...base, deadline_ms: 5, timeout_ms: 30_000 });
    assert.equal(job.timeoutMs, 30_000);
    assert.ok(job.deadlineMs !== null && job.deadlineMs >= before + 30_000 && job.deadlineMs <= Date.now() + 30_000, `deadlineMs ${job.deadlineMs}`);
    assert.equal(parseJob({ ...base, timeout_ms: 0 }).timeoutMs, 0);
  });

  test('the time counts from when the job arrived, not from when it was parsed (its body may take a while to read)', () => {
    const arrived = performance.now() - 1_000;
    const withTimeout = parseJobEnvelope({ ...base, timeout_ms: 5_000 }, arrived);
    assert.equal(withTimeout.budgetMs, 5_000);
    const deadline = withTimeout.job.deadlineMs as number;
    // Arrived a second ago: its deadline on this clock is 4 s from now, not 5.
    assert.ok(Math.abs(deadline - (Date.now() + 4_000)) < 50, `deadlineMs ${deadline - Date.now()} ms from now`);
    // Without timeout_ms (an older sender): deadline_ms against this clock, as it read when the job arrived.
    const sentDeadline = Date.now() + 4_000;
    const withDeadline = parseJobEnvelope({ ...base, deadline_ms: sentDeadline }, arrived);
    assert.equal(withDeadline.job.deadlineMs, sentDeadline, 'as sent');
    assert.ok(Math.abs((withDeadline.budgetMs as number) - 5_000) < 50, `budgetMs ${withDeadline.budgetMs}`);
    assert.equal(withDeadline.job.timeoutMs, null);
    // Neither: no limit, unless the transport has a fallback (a v2 worker's max_processing_time_ms).
    assert.equal(parseJobEnvelope(base, arrived).budgetMs, null);
    const fallback = parseJobEnvelope(base, arrived, 30_000);
    assert.equal(fallback.budgetMs, 30_000);
    assert.equal(fallback.job.timeoutMs, null, 'not sent');
    assert.ok(Math.abs((fallback.job.deadlineMs as number) - (Date.now() + 29_000)) < 50);
  });

  test('throws a non-retryable VALIDATION_ERROR naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [null, /JSON object/],
      [[base], /JSON object/],
      [{ ...base, request_id: '' }, /request_id/],
      [{ ...base, template: 7 }, /template/],
      [{ ...base, stage: -1 }, /stage/],
      [{ ...base, attempt: 1.5 }, /attempt/],
      [{ ...base, input: undefined }, /"input"/],
      [{ ...base, input: [1] }, /"input"/],
      [{ ...base, parameters: 'x' }, /parameters/],
      [{ ...base, parameters: { model: 3 } }, /parameters\.model/],
      [{ ...base, parameters: { max_tokens: '10' } }, /parameters\.max_tokens/],
      [{ ...base, deadline_ms: 'soon' }, /deadline_ms/],
      [{ ...base, timeout_ms: -1 }, /timeout_ms/],
      [{ ...base, timeout_ms: 'soon' }, /timeout_ms/],
      [{ ...base, timeout_ms: Number.POSITIVE_INFINITY }, /timeout_ms/],
      [{ ...base, timeout_ms: Number.NaN }, /timeout_ms/],
      [{ ...base, timeout_ms: '500' }, /timeout_ms/],
      [{ ...base, progress: { url: 'ftp://x', token: 't' } }, /progress\.url/],
      [{ ...base, progress: { url: 'http://x' } }, /progress\.token/],
    ];
    for (const [raw, message] of cases) {
      assert.throws(
        () => parseJob(raw),
        (err: unknown) => err instanceof WorkerError && err.code === 'VALIDATION_ERROR' && !err.retryable && message.test(err.message),
        `for ${JSON.stringify(raw)}`,
      );
    }
  });
});

describe('WorkerError', () => {
  test('defaults to retryable and keeps the cause', () => {
    const cause = new Error('socket hang up');
    const err = new WorkerError('UPSTREAM', 'upstream failed', { cause });
    assert.equal(err.retryable, true);
    assert.equal(err.cause, cause);
    assert.equal(err.name, 'WorkerError');
    assert.ok(err instanceof Error);
    const invalid = WorkerError.invalidInput('bad');
    assert.equal(invalid.code, 'VALIDATION_ERROR');
    assert.equal(invalid.retryable, false);
  });
});

describe('Worker.handle', () => {
  test('a malformed job never reaches the handler', async () => {
    let calls = 0;
    const worker = defineWorker({ name: 'w', handler: () => ++calls });
    const res = await worker.handle({ template: 't', input: {} });
    assert.ok(!res.success);
    assert.equal(res.error.code, 'VALIDATION_ERROR');
    assert.match(res.error.message, /request_id/);
    assert.equal(calls, 0);
  });

  test('a synchronous throw is a retryable WORKER_ERROR; undefined output becomes null', async () => {
    const crash = defineWorker({
      name: 'w',
      handler: () => {
        throw new TypeError('oops');
      },
    });
    const res = await crash.handle(base);
    assert.ok(!res.success);
    assert.deepEqual(res.error, { code: 'WORKER_ERROR', message: 'oops', retryable: true });
    const empty = await defineWorker({ name: 'w', handler: () => undefined }).handle(base);
    assert.ok(empty.success);
    assert.equal(empty.output, null);
  });

  test('addUsage rejects negative or non-finite amounts', async () => {
    const worker = defineWorker({ name: 'w', handler: (_job, ctx) => ctx.addUsage({ inputTokens: -1 }) });
    const res = await worker.handle(base);
    assert.ok(!res.success);
    assert.match(res.error.message, /inputTokens/);
  });

  test('duration is the handler wall time', async () => {
    const worker = defineWorker({ name: 'w', handler: () => new Promise((r) => setTimeout(r, 60)) });
    const res = await worker.handle(base);
    assert.ok(res.usage.duration >= 55 && res.usage.duration < 1_000, String(res.usage.duration));
  });

  test('the dedupe LRU evicts the least recently used entry', async () => {
    let calls = 0;
    const worker = defineWorker({ name: 'w', handler: () => ++calls, dedupe: { max: 2 } });
    const run = (id: string) => worker.handle({ ...base, request_id: id });
    await run('a');
    await run('b');
    await run('a'); // refreshes a, so b is now the oldest
    await run('c'); // evicts b
    assert.equal(calls, 3);
    const a = await run('a');
    assert.ok(a.success && a.metadata.deduplicated === true && a.output === 1);
    const b = await run('b');
    assert.ok(b.success && b.metadata.deduplicated === undefined);
    assert.equal(calls, 4);
  });

  test('dedupe: false runs every delivery', async () => {
    let calls = 0;
    const worker = defineWorker({ name: 'w', handler: () => ++calls, dedupe: false });
    await worker.handle(base);
    const again = await worker.handle(base);
    assert.equal(calls, 2);
    assert.ok(again.success && again.metadata.deduplicated === undefined);
  });
});

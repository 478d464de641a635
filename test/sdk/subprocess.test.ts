import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { defineWorker, runSubprocess } from '../../packages/worker/src/index.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE = `${ROOT}node_modules/.bin/node`;
const KEYWORDS = `${ROOT}examples/keywords/worker.ts`;

const TEXT =
  'Machine learning models need training data. Good training data makes machine learning models more accurate, ' +
  'and engineers who build machine learning models spend most of their time cleaning training data.';

interface RunResult {
  code: number | null;
  lines: Record<string, unknown>[];
  stderr: string;
}

/** Spawn the keywords worker, feed it stdin and collect its NDJSON stdout. */
function runWorker(stdin: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [KEYWORDS], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        assert.ok(out.endsWith('\n'), `stdout must end with a newline: ${JSON.stringify(out)}`);
        const lines = out.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
        resolve({ code, lines, stderr: err });
      } catch (e) {
        reject(e);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', () => clearTimeout(timer));
    child.stdin.end(stdin);
  });
}

function wireJob(input: unknown, parameters: Record<string, unknown> = {}): string {
  return JSON.stringify({
    request_id: randomUUID(),
    template: 'keywords',
    stage: 0,
    attempt: 1,
    input,
    parameters,
    deadline_ms: Date.now() + 30_000,
  });
}

describe('keywords worker as a subprocess', () => {
  test('writes progress lines, then one final response line, then exits 0', async () => {
    const { code, lines, stderr } = await runWorker(`${wireJob({ text: TEXT, limit: 5 }, { max_tokens: 50 })}\n`);
    assert.equal(code, 0, stderr);
    assert.ok(lines.length >= 2, 'expected at least one progress line before the response');
    const final = lines.at(-1) as Record<string, any>;
    const progress = lines.slice(0, -1);
    for (const p of progress) {
      assert.equal(typeof p.progress, 'number');
      assert.ok(!('success' in p));
    }
    assert.equal(progress.at(-1)?.progress, 100);

    assert.equal(final.success, true);
    const phrases = (final.output.keywords as { phrase: string; score: number }[]).map((k) => k.phrase);
    assert.ok(phrases.includes('machine learning models'), phrases.join(' | '));
    assert.ok(phrases.length <= 5);
    assert.ok(final.usage.tokens.input > 20);
    assert.ok(final.usage.tokens.output > 0 && final.usage.tokens.output <= 50);
    assert.equal(typeof final.usage.duration, 'number');
  });

  test('invalid JSON on stdin answers VALIDATION_ERROR and exits 0', async () => {
    const { code, lines } = await runWorker('{not json');
    assert.equal(code, 0);
    assert.equal(lines.length, 1);
    const [res] = lines as Record<string, any>[];
    assert.equal(res?.success, false);
    assert.equal(res?.error.code, 'VALIDATION_ERROR');
    assert.equal(res?.error.retryable, false);
  });

  test('a job without input.text is a non-retryable VALIDATION_ERROR', async () => {
    const { code, lines } = await runWorker(wireJob({ limit: 3 }));
    assert.equal(code, 0);
    const res = lines.at(-1) as Record<string, any>;
    assert.equal(res.success, false);
    assert.deepEqual(res.error, { code: 'VALIDATION_ERROR', message: 'input.text must be a string', retryable: false });
  });

  test('timeout_ms decides, in a real process too: a deadline_ms 15 minutes in its past does not refuse the job', async () => {
    const job = JSON.parse(wireJob({ text: TEXT, limit: 3 })) as Record<string, unknown>;
    const { code, lines } = await runWorker(JSON.stringify({ ...job, deadline_ms: Date.now() - 15 * 60_000, timeout_ms: 20_000 }));
    assert.equal(code, 0);
    assert.equal((lines.at(-1) as Record<string, any>).success, true, JSON.stringify(lines.at(-1)));
  });

  test('no time left is a retryable DEADLINE_EXCEEDED; a bad timeout_ms is a VALIDATION_ERROR naming it', async () => {
    const job = JSON.parse(wireJob({ text: TEXT })) as Record<string, unknown>;
    const none = (await runWorker(JSON.stringify({ ...job, timeout_ms: 0 }))).lines;
    assert.equal(none.length, 1, 'answered without running: no progress lines');
    assert.deepEqual([(none[0] as Record<string, any>).error.code, (none[0] as Record<string, any>).error.retryable], ['DEADLINE_EXCEEDED', true]);
    const bad = (await runWorker(JSON.stringify({ ...job, timeout_ms: -100 }))).lines.at(-1) as Record<string, any>;
    assert.equal(bad.error.code, 'VALIDATION_ERROR');
    assert.equal(bad.error.retryable, false);
    assert.match(bad.error.message, /timeout_ms/);
  });

  test('a malformed envelope names the field', async () => {
    const { code, lines } = await runWorker(JSON.stringify({ request_id: 'x', input: { text: 'a' } }));
    assert.equal(code, 0);
    const res = lines.at(-1) as Record<string, any>;
    assert.equal(res.error.code, 'VALIDATION_ERROR');
    assert.match(res.error.message, /template/);
  });
});

describe('runSubprocess and the time left', () => {
  const sleeper = defineWorker<{ ms: number }, { slept: number }>({
    name: 'sleeper',
    dedupe: false,
    async handler(job, ctx) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, job.input.ms);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(t);
          reject(ctx.signal.reason);
        }, { once: true });
      });
      return { slept: job.input.ms };
    },
  });
  const run = async (job: Record<string, unknown>): Promise<Record<string, any>> => {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    let out = '';
    stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    stdin.end(JSON.stringify({ request_id: randomUUID(), template: 't', input: {}, ...job }));
    await runSubprocess(sleeper, { stdin, stdout });
    return JSON.parse(out.trimEnd().split('\n').at(-1) as string);
  };

  test('timeout_ms counts from arrival: a deadline_ms 15 minutes in the past does not refuse the job', async () => {
    const r = await run({ input: { ms: 10 }, deadline_ms: Date.now() - 15 * 60_000, timeout_ms: 5_000 });
    assert.equal(r.success, true, JSON.stringify(r));
  });

  test('and a deadline_ms 15 minutes ahead does not keep it running past timeout_ms', async () => {
    const started = Date.now();
    const r = await run({ input: { ms: 5_000 }, deadline_ms: Date.now() + 15 * 60_000, timeout_ms: 150 });
    assert.equal(r.success, false);
    assert.equal(r.error.code, 'DEADLINE_EXCEEDED');
    assert.ok(Date.now() - started < 2_000, `aborted after ${Date.now() - started} ms`);
  });

  test('without timeout_ms (an older sender), deadline_ms against this clock bounds it', async () => {
    const started = performance.now();
    const r = await run({ input: { ms: 5_000 }, deadline_ms: Date.now() + 200 });
    const ms = performance.now() - started;
    assert.equal(r.error.code, 'DEADLINE_EXCEEDED');
    assert.ok(ms >= 150 && ms < 2_000, `aborted after ${ms.toFixed(0)} ms`);
  });
});

describe('runSubprocess in a process Allot spawned for the job', () => {
  // A worker slow to start (600 ms, after Node's own start-up) whose handler would take 5 s.
  const SLOW_START = [
    `import { defineWorker, runSubprocess } from ${JSON.stringify(`${ROOT}packages/worker/src/index.ts`)};`,
    `import { setTimeout as sleep } from 'node:timers/promises';`,
    // performance.now() counts from this process's start; stderr is synchronous on a pipe.
    `process.on('exit', () => process.stderr.write('answered at ' + performance.now().toFixed(0) + '\\n'));`,
    `const worker = defineWorker({ name: 'slow-start', handler: (job, ctx) => sleep(5000, {}, { signal: ctx.signal }) });`,
    `await sleep(600);`,
    `await runSubprocess(worker);`,
  ].join('\n');

  test('the job was sent as the process started: start-up comes out of its timeout_ms', async () => {
    const child = spawn(NODE, ['--input-type=module', '-e', SLOW_START], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdin.end(JSON.stringify({ request_id: randomUUID(), template: 't', input: {}, deadline_ms: Date.now() + 1_000, timeout_ms: 1_000 }));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, err);
    const res = JSON.parse(out.trimEnd().split('\n').at(-1) as string) as Record<string, any>;
    assert.equal(res.error?.code, 'DEADLINE_EXCEEDED', out);
    const at = Number(/answered at (\d+)/.exec(err)?.[1]);
    // Counted from reading stdin it would be 600 ms + Node's start-up later.
    assert.ok(at >= 950 && at < 1_400, `answered ${at} ms after the process started (${err.trim()})`);
  });
});

describe('runSubprocess with explicit streams', () => {
  test('reads the job from stdin and writes NDJSON to stdout', async () => {
    const worker = defineWorker<{ n: number }, { doubled: number }>({
      name: 'double',
      handler(job, ctx) {
        ctx.progress(50, 'half');
        ctx.addUsage({ resources: { cpu_ms: 1 } });
        return { doubled: job.input.n * 2 };
      },
    });
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    let out = '';
    stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    stdin.end(JSON.stringify({ request_id: 'r', template: 't', input: { n: 21 } }));
    await runSubprocess(worker, { stdin, stdout });
    const lines = out.trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines[0], { progress: 50, message: 'half' });
    assert.equal(lines.length, 2);
    assert.equal(lines[1].success, true);
    assert.deepEqual(lines[1].output, { doubled: 42 });
    assert.deepEqual(lines[1].usage.resources, { cpu_ms: 1 });
  });
});

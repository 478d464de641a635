/**
 * Workers whose clocks are 15 minutes ahead of or behind Allot's (issue 9):
 * jobs carry the time they have left (`timeout_ms`) beside Allot's absolute
 * `deadline_ms`, and the SDK times out relative to when a job arrived. Before,
 * a worker 10 minutes ahead refused every job with "deadline had already
 * passed", and one behind never aborted on time.
 *
 * The workers are examples/noop/server.ts processes started under Debian's
 * faketime; Allot runs on the real clock. Without faketime this file is
 * skipped, with that reason, unless ALLOT_TEST_FAKETIME=required (CI), where
 * it fails.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NODE, ROOT, type Proc } from '../helpers/proc.ts';
import { allotFiles, createClient, startAllot, type AllotProc } from './harness.ts';

const FAKETIME = process.env.ALLOT_TEST_FAKETIME_BIN ?? '/usr/bin/faketime';
const present = existsSync(FAKETIME);
const required = process.env.ALLOT_TEST_FAKETIME === 'required';
const skip = !present && !required ? `faketime is not installed (${FAKETIME}); apt-get install faketime` : false;

/** examples/noop/server.ts on an ephemeral port, its clock moved by `offset` (faketime's syntax, e.g. '+15m'). */
function skewedWorker(offset: string): Promise<{ url: string; proc: Proc }> {
  return new Promise((resolve, reject) => {
    // faketime forks the command: the worker runs in a process group of its own, stopped as a group.
    const child = spawn(FAKETIME, ['-f', offset, NODE, join(ROOT, 'examples/noop/server.ts'), '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`noop under faketime ${offset} did not start:\n${out}`)), 20_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: `${m[1]}/`,
          proc: {
            child, output: () => out,
            stop: (signal = 'SIGTERM') => new Promise<void>((r) => {
              if (child.exitCode !== null || child.signalCode !== null) return r();
              child.once('exit', () => r());
              process.kill(-(child.pid as number), signal);
            }),
          },
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`noop under faketime exited (${code}):\n${out}`)));
  });
}

/** POST a job to a worker as Allot would; resolves with its answer and how long it took. */
async function send(url: string, job: Record<string, unknown>): Promise<{ body: { success: boolean; error?: { code: string } }; ms: number }> {
  const t0 = performance.now();
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(job) });
  return { body: (await r.json()) as { success: boolean; error?: { code: string } }, ms: performance.now() - t0 };
}

const job = (input: Record<string, unknown>, timeoutMs: number): Record<string, unknown> => ({
  request_id: randomUUID(), template: 'noop', stage: 0, attempt: 1, input, parameters: {},
  // Allot's clock is this process's: the real one.
  deadline_ms: Date.now() + timeoutMs, timeout_ms: timeoutMs,
});

describe('workers with skewed clocks', { skip }, () => {
  let ahead: { url: string; proc: Proc };
  let behind: { url: string; proc: Proc };
  let allot: AllotProc;

  before(async () => {
    assert.ok(present, `faketime is required here and missing at ${FAKETIME}`);
    [ahead, behind] = await Promise.all([skewedWorker('+15m'), skewedWorker('-15m')]);
    allot = await startAllot(allotFiles({
      workers: { ahead: { transport: 'http', url: ahead.url, max_concurrency: 8 }, behind: { transport: 'http', url: behind.url, max_concurrency: 8 } },
      templates: {
        'on-ahead': { worker: 'ahead', timeout_ms: 1_000, max_attempts: 1 },
        'on-behind': { worker: 'behind', timeout_ms: 1_000, max_attempts: 1 },
      },
    }));
  });

  after(async () => {
    await allot?.stop();
    await ahead?.proc.stop();
    await behind?.proc.stop();
  });

  it('the workers really run 15 minutes ahead and behind', async () => {
    for (const [w, sign] of [[ahead, 1], [behind, -1]] as const) {
      const r = await fetch(`${w.url}health`);
      assert.equal(r.status, 200);
      const skew = Date.parse(r.headers.get('date') ?? '') - Date.now();
      assert.ok(Math.abs(skew - sign * 15 * 60_000) < 5_000, `clock skew ${skew} ms`);
    }
  });

  it('a worker 15 minutes ahead completes a job with 30 s left (it used to refuse it as past its deadline)', async () => {
    const r = await send(ahead.url, job({}, 30_000));
    assert.equal(r.body.success, true, JSON.stringify(r.body));
  });

  it('a worker 15 minutes behind aborts a job when its 500 ms are up (it used to run on for 15 minutes)', async () => {
    const r = await send(behind.url, job({ sleep_ms: 5_000 }, 500));
    assert.equal(r.body.success, false);
    assert.equal(r.body.error?.code, 'DEADLINE_EXCEEDED');
    assert.ok(r.ms >= 450 && r.ms < 2_000, `aborted after ${r.ms.toFixed(0)} ms`);
  });

  it('and a worker ahead aborts on time too', async () => {
    const r = await send(ahead.url, job({ sleep_ms: 5_000 }, 500));
    assert.equal(r.body.error?.code, 'DEADLINE_EXCEEDED');
    assert.ok(r.ms >= 450 && r.ms < 2_000, `aborted after ${r.ms.toFixed(0)} ms`);
  });

  it('through Allot: both complete their jobs, and a job past its template timeout ends REQUEST_TIMEOUT on time', async () => {
    const c = await createClient(allot, 'skew', 'standard');
    const client = allot.as(c.key);
    for (const template of ['on-ahead', 'on-behind']) {
      for (let i = 0; i < 5; i++) {
        const r = await client.request<{ status: string; error: unknown }>('POST', '/api/execute', { template, input: {} });
        assert.equal(r.body.status, 'COMPLETED', `${template}: ${JSON.stringify(r.body)}`);
      }
      const t0 = performance.now();
      const slow = await client.request<{ status: string; error: { code: string } }>('POST', '/api/execute', { template, input: { sleep_ms: 10_000 } });
      const ms = performance.now() - t0;
      assert.equal(slow.body.status, 'FAILED', JSON.stringify(slow.body));
      assert.equal(slow.body.error.code, 'REQUEST_TIMEOUT');
      assert.ok(ms >= 900 && ms < 4_000, `${template}: timed out after ${ms.toFixed(0)} ms`);
    }
  });
});

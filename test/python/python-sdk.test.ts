/**
 * The Python SDK (python/, issue 13 item 2) against a real Allot: `node
 * src/main.ts` as a child process on loopback, on the selected backend
 * (test/helpers/app-backend.ts), then `python3 -m unittest discover -s
 * python/tests` with ALLOT_URL and ALLOT_ADMIN_KEY. The Python tests start
 * their Python worker in-process, register it and its templates through the
 * admin API and drive Allot with the Python client (python/tests/test_allot.py);
 * the rest speak the worker's protocol directly and check the 3.9 grammar.
 *
 * Without python3 (3.9 or later) this file is skipped with that reason,
 * unless ALLOT_TEST_PYTHON=required (CI sets it), where it fails instead.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN_KEY, allotFiles, startAllot, type AllotFiles, type AllotProc } from '../e2e/harness.ts';
import { ROOT } from '../helpers/proc.ts';

const PYTHON = process.env.ALLOT_TEST_PYTHON_BIN ?? 'python3';
const required = process.env.ALLOT_TEST_PYTHON === 'required';
/** The Python tests that exist today: fewer ran means discovery lost some. */
const MIN_TESTS = 41;

/** "3.11" when `PYTHON` runs and is 3.9 or later; else why not. */
function pythonVersion(): { ok: true; version: string } | { ok: false; reason: string } {
  const r = spawnSync(PYTHON, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return { ok: false, reason: `${PYTHON} cannot be run (${r.error?.message ?? r.stderr.trim()})` };
  const version = r.stdout.trim();
  const [major, minor] = version.split('.').map(Number) as [number, number];
  if (major < 3 || (major === 3 && minor < 9)) return { ok: false, reason: `${PYTHON} is ${version}; the SDK needs 3.9 or later` };
  return { ok: true, version };
}

const python = pythonVersion();
const skip = !python.ok && !required ? `${python.reason}; set ALLOT_TEST_PYTHON_BIN, or install python3` : false;

function runPython(args: string[], env: Record<string, string>, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      output += `\n[killed after ${timeoutMs} ms]`;
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('Python SDK against a real Allot', { skip }, () => {
  let files: AllotFiles;
  let allot: AllotProc;

  before(async () => {
    assert.ok(python.ok, `python3 is required here: ${python.ok ? '' : python.reason}`);
    // The default tiers and resources (gpt-3.5 priced per token) are all the Python tests need.
    files = allotFiles({});
    allot = await startAllot(files);
  });

  after(async () => {
    await allot?.stop();
    await files?.backend.cleanup();
    if (files) rmSync(files.dir, { recursive: true, force: true });
  });

  it(`python3 -m unittest discover -s python/tests passes (${python.ok ? `Python ${python.version}` : 'no python'})`, async () => {
    const { code, output } = await runPython(['-m', 'unittest', 'discover', '-s', join(ROOT, 'python/tests'), '-v'], {
      ALLOT_URL: allot.url,
      ALLOT_ADMIN_KEY: ADMIN_KEY,
      PYTHONPATH: join(ROOT, 'python/src'),
      PYTHONDONTWRITEBYTECODE: '1',
    }, 180_000);
    const shown = `python's output:\n${output}`;
    assert.equal(code, 0, shown);
    const ran = Number(/^Ran (\d+) tests? in /m.exec(output)?.[1] ?? 0);
    assert.ok(ran >= MIN_TESTS, `ran ${ran} tests, expected at least ${MIN_TESTS}\n${shown}`);
    assert.match(output, /^OK$/m, `every test passed, none skipped\n${shown}`);
    assert.doesNotMatch(output, /\bskipped\b/, `no test may be skipped here\n${shown}`);

    // The Python client's work is in this Allot: run by the Python worker, or refused by it.
    const listed = await allot.admin.request<{ requests: { template: string; status: string; error: { code: string } | null }[] }>('GET', '/admin/requests?limit=1000');
    assert.equal(listed.status, 200);
    const echo = listed.body.requests.filter((r) => r.template.startsWith('py-echo-'));
    assert.ok(echo.filter((r) => r.status === 'COMPLETED').length >= 5, JSON.stringify(echo.map((r) => r.status)));
    assert.ok(echo.some((r) => r.status === 'CANCELLED'), 'the cancelled request');
    const refused = listed.body.requests.filter((r) => r.template.startsWith('py-refused-'));
    assert.deepEqual(refused.map((r) => [r.status, r.error?.code]), [['FAILED', 'UNAUTHORIZED']]);
  });
});

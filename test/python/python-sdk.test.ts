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
 * The suite runs again under python3.9 when the machine has one (pyenv's
 * shims here), so the oldest supported version is run, not only parsed.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN_KEY, allotFiles, startAllot, type AllotFiles, type AllotProc } from '../e2e/harness.ts';
import { ROOT } from '../helpers/proc.ts';

const PYTHON = process.env.ALLOT_TEST_PYTHON_BIN ?? 'python3';
/**
 * The oldest Python the SDK supports, run as well when this machine has it: ALLOT_TEST_PYTHON39_BIN,
 * else pyenv's 3.9 (installed here, though not on PATH), else python3.9 on PATH. Skipped otherwise.
 */
function python39Bin(): string {
  if (process.env.ALLOT_TEST_PYTHON39_BIN) return process.env.ALLOT_TEST_PYTHON39_BIN;
  const versions = join(process.env.PYENV_ROOT ?? join(homedir(), '.pyenv'), 'versions');
  const found = existsSync(versions) ? readdirSync(versions).filter((v) => /^3\.9\.\d+$/.test(v)).toSorted().at(-1) : undefined;
  return found ? join(versions, found, 'bin', 'python3.9') : 'python3.9';
}
const PYTHON_39 = python39Bin();
const required = process.env.ALLOT_TEST_PYTHON === 'required';
/** The Python tests that exist today: fewer ran means discovery lost some. */
const MIN_TESTS = 42;

/** "3.11" when `bin` runs and is at least `min`; else why not. */
function pythonVersion(bin: string, min: [number, number]): { ok: true; version: string } | { ok: false; reason: string } {
  const r = spawnSync(bin, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return { ok: false, reason: `${bin} cannot be run (${r.error?.message ?? r.stderr.trim().split('\n')[0]})` };
  const version = r.stdout.trim();
  const [major, minor] = version.split('.').map(Number) as [number, number];
  if (major < min[0] || (major === min[0] && minor < min[1])) return { ok: false, reason: `${bin} is ${version}; the SDK needs ${min.join('.')} or later` };
  return { ok: true, version };
}

const python = pythonVersion(PYTHON, [3, 9]);
const python39 = pythonVersion(PYTHON_39, [3, 9]);
const skip = !python.ok && !required ? `${python.reason}; set ALLOT_TEST_PYTHON_BIN, or install python3` : false;

function runPython(bin: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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

type Listed = { requests: { template: string; status: string; error: { code: string } | null }[] };

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

  /** The Python suite under `bin`, against this Allot; then what it left in Allot, found by its names. */
  async function suite(bin: string): Promise<void> {
    const suffix = randomBytes(4).toString('hex');
    const { code, output } = await runPython(bin, ['-m', 'unittest', 'discover', '-s', join(ROOT, 'python/tests'), '-v'], {
      ALLOT_URL: allot.url,
      ALLOT_ADMIN_KEY: ADMIN_KEY,
      ALLOT_TEST_SUFFIX: suffix,
      PYTHONPATH: join(ROOT, 'python/src'),
      PYTHONDONTWRITEBYTECODE: '1',
    }, 180_000);
    const shown = `${bin}'s output:\n${output}`;
    assert.equal(code, 0, shown);
    const ran = Number(/^Ran (\d+) tests? in /m.exec(output)?.[1] ?? 0);
    assert.ok(ran >= MIN_TESTS, `ran ${ran} tests, expected at least ${MIN_TESTS}\n${shown}`);
    assert.match(output, /^OK$/m, `every test passed, none skipped\n${shown}`);
    assert.doesNotMatch(output, /\bskipped\b/, `no test may be skipped here\n${shown}`);

    // The Python client's work is in this Allot: run by the Python worker, or refused by it.
    const listed = await allot.admin.request<Listed>('GET', '/admin/requests?limit=5000');
    assert.equal(listed.status, 200);
    const echo = listed.body.requests.filter((r) => r.template === `py-echo-${suffix}`);
    assert.ok(echo.filter((r) => r.status === 'COMPLETED').length >= 5, JSON.stringify(echo.map((r) => r.status)));
    assert.ok(echo.some((r) => r.status === 'CANCELLED'), 'the cancelled request');
    const refused = listed.body.requests.filter((r) => r.template === `py-refused-${suffix}`);
    assert.deepEqual(refused.map((r) => [r.status, r.error?.code]), [['FAILED', 'UNAUTHORIZED']]);
  }

  it(`python3 -m unittest discover -s python/tests passes (${python.ok ? `Python ${python.version}` : 'no python'})`, () => suite(PYTHON));

  // Only the grammar of 3.9 is checked under python3 (test_syntax.py); this runs the suite on 3.9 itself.
  it(`the same under Python 3.9, the oldest supported (${python39.ok ? `${PYTHON_39}, Python ${python39.version}` : 'none here'})`, { skip: python39.ok ? false : `${python39.reason}: only the 3.9 grammar was checked` }, () => suite(PYTHON_39));
});

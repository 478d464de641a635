/**
 * Green on any date (issue 9): every suite that runs on a fake clock runs
 * again here with the system date moved years ahead (Debian's faketime,
 * LD_PRELOAD libfaketime, inherited by the servers and workers those suites
 * start). A suite that pins a date the real clock has passed, or compares a
 * fake clock with a real one across processes, fails here first.
 *
 * Without faketime this file is skipped, with that reason, unless
 * ALLOT_TEST_FAKETIME=required (CI installs it and sets that), where it fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname;
const FAKETIME = process.env.ALLOT_TEST_FAKETIME_BIN ?? '/usr/bin/faketime';
const present = (() => {
  try {
    return statSync(FAKETIME).isFile();
  } catch {
    return false;
  }
})();
const required = process.env.ALLOT_TEST_FAKETIME === 'required';
const skip = !present && !required ? `faketime is not installed (${FAKETIME}); apt-get install faketime` : false;

/** Test files that use a fake clock (FakeClock, or the next-date helpers), this one excepted. */
function fakeClockSuites(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.test.ts') && p !== new URL(import.meta.url).pathname && /FakeClock|helpers\/dates\.ts/.test(readFileSync(p, 'utf8'))) out.push(relative(ROOT, p));
    }
  };
  walk(join(ROOT, 'test'));
  return out.toSorted();
}

for (const offset of ['+3y', '+9y']) {
  test(`the fake-clock suites pass with the system date ${offset} ahead`, { skip, timeout: 600_000 }, () => {
    assert.ok(present, `faketime is required here and missing at ${FAKETIME}`);
    const suites = fakeClockSuites();
    assert.ok(suites.length >= 10, `found the fake-clock suites: ${suites.join(', ')}`);
    // The clock really is moved, for node and what it starts.
    const year = spawnSync(FAKETIME, ['-f', offset, process.execPath, '-e', 'console.log(new Date().getUTCFullYear())'], { encoding: 'utf8' });
    assert.equal(Number(year.stdout.trim()), new Date().getUTCFullYear() + Number(offset.slice(1, -1)), year.stderr);
    const r = spawnSync(FAKETIME, ['-f', offset, process.execPath, '--test', '--test-concurrency=1', '--test-reporter=dot', ...suites], {
      cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODE_TEST_CONTEXT: undefined }, maxBuffer: 64 * 1024 * 1024,
    });
    const tail = `${r.stdout}\n${r.stderr}`.slice(-6000);
    assert.equal(r.status, 0, `node --test under faketime ${offset} failed:\n${tail}`);
    assert.match(r.stdout, /\./, 'tests ran');
  });
}

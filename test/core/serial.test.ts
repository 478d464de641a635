import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Serial } from '../../src/core/serial.ts';

test('tasks run one at a time, in order; a failure stays with its caller', async () => {
  const s = new Serial();
  const log: string[] = [];
  const task = (name: string, ms: number, fail = false) => async () => {
    log.push(`${name}+`);
    await sleep(ms);
    log.push(`${name}-`);
    if (fail) throw new Error(name);
    return name;
  };
  const results = await Promise.allSettled([s.run(task('a', 30)), s.run(task('b', 5, true)), s.run(task('c', 1))]);
  assert.deepEqual(log, ['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.equal((results[2] as PromiseFulfilledResult<string>).value, 'c');
});

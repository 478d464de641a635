/**
 * The optimizer's reference workload, shortened: the savings ledger agrees
 * with the measured difference between optimizer off and on, within 1%, in
 * dollars, worker calls and bytes; every strategy saved something.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runWorkload } from '../../bench/optimizer/workload.ts';

test('ledger totals agree with the measured savings of the reference workload', async () => {
  const off = await runWorkload(120, false);
  const on = await runWorkload(120, true);
  assert.equal(off.completed, 120);
  assert.equal(on.completed, 120);
  const within = (ledger: number, measured: number, what: string): void => {
    assert.ok(measured > 0, `${what}: the optimizer saved something (${measured})`);
    assert.ok(Math.abs(ledger - measured) <= 0.01 * measured, `${what}: ledger ${ledger} vs measured ${measured}`);
  };
  within(on.ledger.usd, off.costUsd - on.costUsd, 'dollars');
  within(on.ledger.calls, off.calls - on.calls, 'worker calls');
  within(on.ledger.bytes, off.bytesStored - on.bytesStored, 'bytes');
  for (const s of ['cache', 'downgrade']) assert.ok((on.byStrategy[s] ?? 0) > 0, `${s} saved dollars`);
  assert.ok('batching' in on.byStrategy && 'compression' in on.byStrategy, JSON.stringify(on.byStrategy));
});

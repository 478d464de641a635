/** What counts as a difference between Allot's and v2's answers in shadow mode. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_TOLERANCES, differences, v2Status } from '../../src/migrate/differences.ts';
import type { ShadowSide } from '../../src/store/store.ts';

const side = (o: Partial<ShadowSide> = {}): ShadowSide => ({ status: 'COMPLETED', output: { summary: 'a', sentences: ['a'] }, costNano: 100_000, latencyMs: 40, ...o });

describe('shadow differences', () => {
  it('finds none when both systems answered alike', () => {
    assert.deepEqual(differences(side(), side()), []);
  });

  it('ignores object key order but not array order or values', () => {
    assert.deepEqual(differences(side({ output: { a: 1, b: [1, 2] } }), side({ output: { b: [1, 2], a: 1 } })), []);
    assert.deepEqual(differences(side({ output: { a: 1, b: [1, 2] } }), side({ output: { a: 1, b: [2, 1] } })), ['output']);
    assert.deepEqual(differences(side(), side({ output: { summary: 'a', sentences: ['a'], engine: 'orchestrator-v2' } })), ['output']);
    assert.deepEqual(differences(side({ output: null }), side({ output: undefined })), []);
  });

  it('reports status, with v2 statuses mapped to Allot states', () => {
    assert.equal(v2Status('completed'), 'COMPLETED');
    assert.equal(v2Status('failed'), 'FAILED');
    assert.equal(v2Status('canceled'), 'CANCELLED');
    assert.deepEqual(differences(side(), side({ status: 'FAILED', output: null })), ['status', 'output']);
  });

  it(`reports cost beyond ${DEFAULT_TOLERANCES.costTolerance * 100}% of the larger cost`, () => {
    assert.deepEqual(differences(side({ costNano: 100_000 }), side({ costNano: 100_999 })), []);
    assert.deepEqual(differences(side({ costNano: 100_000 }), side({ costNano: 101_100 })), ['cost']);
    assert.deepEqual(differences(side({ costNano: 0 }), side({ costNano: 0 })), []);
    assert.deepEqual(differences(side({ costNano: 0 }), side({ costNano: 1 })), ['cost']);
  });

  it(`reports latency only beyond ${DEFAULT_TOLERANCES.latencyFactor}× and ${DEFAULT_TOLERANCES.latencyFloorMs} ms apart`, () => {
    assert.deepEqual(differences(side({ latencyMs: 3 }), side({ latencyMs: 80 })), [], 'a big factor but a small gap is noise');
    assert.deepEqual(differences(side({ latencyMs: 1000 }), side({ latencyMs: 1900 })), [], 'a big gap under the factor is not reported');
    assert.deepEqual(differences(side({ latencyMs: 100 }), side({ latencyMs: 400 })), ['latency']);
    assert.deepEqual(differences(side({ latencyMs: 400 }), side({ latencyMs: 100 })), ['latency'], 'either side may be the slow one');
    assert.deepEqual(differences(side({ latencyMs: null }), side({ latencyMs: 10_000 })), [], 'unknown latency is not compared');
  });

  it('takes the tolerances it is given', () => {
    const strict = { costTolerance: 0, latencyFactor: 1, latencyFloorMs: 0 };
    assert.deepEqual(differences(side({ costNano: 100 }), side({ costNano: 101, latencyMs: 41 }), strict), ['cost', 'latency']);
  });
});
